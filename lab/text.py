"""Small text helpers every page shares (no Streamlit): percentages, and user text in Markdown."""

from __future__ import annotations

import math
import re

MISSING = "–"  # shown where there is no number yet
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")


def percent(value: float | None, missing: str = MISSING) -> str:
    """``0.9312`` -> ``"93.1%"``; ``missing`` for None, NaN or infinity."""
    if value is None or not math.isfinite(value):
        return missing
    return f"{100 * value:.1f}%"


def markdown_literal(text) -> str:
    """``text`` shown literally by Markdown (Streamlit's included): file names, class names
    and display names are user input, so a ``_`` or ``$`` in one must not turn into italics
    or LaTeX. Line breaks are kept."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")
