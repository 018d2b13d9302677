"""The app's figures: pure functions that return Plotly figures (no Streamlit), testable
without a browser, one module per topic (weights, gradients, activations, conv, training,
evaluation, data, models; images for handwritten images, png for big grids as PNGs, style
for colours and fonts, tiles for laying out many small pictures). Each figure's
``layout.meta`` carries what a test needs to check it against the model's arrays."""
