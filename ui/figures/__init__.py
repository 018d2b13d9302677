"""The app's figures: pure functions that return Plotly figures (no Streamlit), testable
without a browser. Each figure's ``layout.meta`` carries what a test needs to check it
against the model's arrays."""
