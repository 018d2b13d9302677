"""Digit Lab's Streamlit user interface helpers.

Figures are plain functions of arrays (``training_charts``) and training runs in
worker threads (``jobs``) -- neither needs a browser or Streamlit to be tested.
``state`` keeps each user's lab in ``st.session_state``; the other modules draw
parts of pages. ``nn/`` never imports anything from here.
"""
