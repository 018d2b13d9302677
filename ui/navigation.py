"""The app's pages, in the navigation's order, and the navigation without the pages a locked
exercise link hides (app.py builds it; lessons ask which pages exist).

A page is named by its file in ``pages/`` without ``.py`` ("weights"); a new page is one
line in :data:`PAGES`.
"""

from __future__ import annotations

import streamlit as st

PAGES: dict[str, tuple[str, str]] = {  # file name -> (title, icon)
    "home": ("Home", ":material/home:"),
    "train": ("Train", ":material/model_training:"),
    "step": ("Step by step", ":material/footprint:"),
    "weights": ("Weights", ":material/grid_on:"),
    "gradients": ("Gradients", ":material/trending_down:"),
    "activations": ("Activations", ":material/bolt:"),
    "hidden_space": ("Hidden space", ":material/scatter_plot:"),
    "probe": ("Probe", ":material/science:"),
    "draw": ("Draw", ":material/draw:"),
    "evaluate": ("Evaluate", ":material/fact_check:"),
    "data": ("Data", ":material/dataset:"),
    "models": ("Models", ":material/save:"),
    "leaderboard": ("Leaderboard", ":material/leaderboard:"),
}
DEFAULT = "home"


def path(name: str) -> str:
    """The page's script, as st.switch_page and st.page_link take it."""
    return f"pages/{name}.py"


def title(name: str) -> str:
    """The page's title ("Hidden space" for a page this app does not have)."""
    return PAGES[name][0] if name in PAGES else name.replace("_", " ").capitalize()


def shown_pages(hidden=()) -> list[str]:
    """The pages in the navigation: all but ``hidden`` (Home and Train always stay)."""
    return [name for name in PAGES if name not in set(hidden) or name in (DEFAULT, "train")]


def navigation(hidden=()):
    """``st.navigation`` over :func:`shown_pages`: a hidden page is not in it at all, so
    its address opens the Home page instead. Expanded: with more than 10 pages Streamlit
    would fold the last ones behind "View more", and a learner would not see them."""
    return st.navigation([st.Page(path(name), title=PAGES[name][0], icon=PAGES[name][1], default=name == DEFAULT)
                          for name in shown_pages(hidden)], expanded=True)
