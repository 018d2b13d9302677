"""The lab's logic, without Streamlit: what a session trains, keeps and shares.

Between the engine and the pages: ``nn`` (the network) <- ``datasets`` (the data) <- ``lab``
<- ``ui`` (Streamlit helpers) <- ``pages``. Nothing here imports Streamlit, so every piece is
tested with plain pytest.
"""
