"""How the Weights and Gradients pages lay out a layer's units: the order of the tiles
(unit index, weight norm, drive towards a class) and how many tiles per row. The choices
are remembered (``ui/widgets.py``), so both pages show the units in the same order.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lab import inspection
from nn import analysis
from ui import state
from ui.widgets import bind, cached_for_model, choices, remember

COLUMN_CHOICES = ("auto", 4, 8, 16, 32)


def grid_columns() -> int | None:
    """Tiles per row of the weight grids: None = automatic (about 1.6 times wider than tall)."""
    value = choices().get("columns", "auto")
    return None if value == "auto" else int(value)


def columns_control(where, disabled: bool = False,
                    help_text: str = "Fewer tiles per row make bigger tiles.") -> None:
    """The "Tiles per row" choice, in ``where`` (a column)."""
    where.selectbox("Tiles per row", COLUMN_CHOICES, key=bind("columns", "auto", lambda v: v in COLUMN_CHOICES),
                    disabled=disabled, help=help_text)
    remember("columns")


def order_spec() -> str:
    """The remembered ordering as ``nn.analysis.unit_order``'s ``by`` ("index", "norm",
    "digit:K", K being a class number)."""
    return inspection.order_spec(choices().get("order", "index"), choices().get("order_digit", 0))


def ordering_controls(network, names=None) -> str:
    """The order of the units and the tiles per row; returns the order's spec."""
    left, right, third = st.columns([2, 1, 1])
    columns_control(third, help_text="Fewer tiles per row make bigger tiles: handy on a phone or a projector.")
    names = tuple(names) if names is not None else state.class_names()
    noun = state.noun(names=names)
    labels = inspection.order_labels(names)
    left.selectbox("Order the units by", list(labels), format_func=labels.get,
                   key=bind("order", "index", lambda v: v in inspection.ORDER_LABELS),
                   help="Weight norm: the units with the largest incoming weights first. "
                        f"Drive: the units whose outgoing weights push that {noun}'s "
                        "score up most come first, the ones pushing it down last.")
    remember("order")
    if st.session_state["inside_order"] == "digit":
        k = len(names)
        right.selectbox(noun.capitalize(), range(k), format_func=lambda c: names[c],
                        key=bind("order_digit", 0, lambda v: v in range(k)))
        remember("order_digit")
        if len(network.weights) > 2:
            st.caption("With several hidden layers the drive is the product of the weights "
                       "above the first layer: a linear approximation.")
    return order_spec()


def unit_order(run, spec: str) -> np.ndarray:
    """The first layer's units in the order ``spec`` (cached per model)."""
    spec = inspection.usable_order(spec, run.network.layer_sizes[-1])
    return cached_for_model(run, f"order:{spec}", lambda: analysis.unit_order(run.network, spec))


def order_label(spec: str, names=None) -> str:
    """E.g. "weight norm (largest first)", "drive towards digit 7"."""
    return inspection.order_label(spec, names or state.class_names())
