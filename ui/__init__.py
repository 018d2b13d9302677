"""Digit Lab's Streamlit helpers that several pages share (the pages themselves are in
``pages/``, one file each; ``app.py`` runs them).

``state`` keeps each user's lab in ``st.session_state``; ``resources`` holds what the
whole server shares (read-only); ``widgets``, ``current_model``, ``digit_picker``,
``unit_ordering``, ``train_controls``, ``action_buttons`` and the ``workshop_*`` modules
draw parts of pages. Figures are plain functions in ``ui/figures/`` (no Streamlit), and
what the pages compute is in ``lab/`` (no Streamlit either). ``nn/`` never imports
anything from here.
"""
