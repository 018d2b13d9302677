"""The Draw page's canvas as the network reads it: the drawing's RGBA pixels shrunk to the
784 pixels of one image, the MNIST way or the EMNIST way. No Streamlit.
"""

from __future__ import annotations

import numpy as np

from datasets.preprocess import BOX_SIDE, EMNIST_BOX_SIDE, preprocess_canvas, to_uint8_784

SHRINK_STYLES = {"mnist": "MNIST", "emnist": "EMNIST"}
SHRINK_HELP = {
    "mnist": f"cropped, scaled to fit {BOX_SIDE}×{BOX_SIDE}, centred by its centre of mass",
    "emnist": f"cropped, scaled to fill the square but a thin border ({EMNIST_BOX_SIDE}×{EMNIST_BOX_SIDE}), "
              "centred by its box",
}


def read_canvas(rgba, style: str = "mnist") -> np.ndarray | None:
    """The canvas' RGBA pixels as the (784,) uint8 image the network sees, None if empty.

    style: "mnist" or "emnist", how the drawing is shrunk (see datasets.preprocess.preprocess_drawing).
    """
    if rgba is None:
        return None
    image28 = preprocess_canvas(rgba, background="black", style=style)
    return None if image28 is None else to_uint8_784(image28)


def shrink_style_for(dataset_name: str) -> str:
    """How drawings are shrunk for a model of ``dataset_name``: as that dataset was made."""
    return "emnist" if dataset_name.startswith("EMNIST") else "mnist"
