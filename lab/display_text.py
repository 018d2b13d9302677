"""How the pages write things: percentages, durations, a running job's progress line, a
network from a leaderboard entry's settings, and user text made safe for Markdown.
No Streamlit: plain functions of values, tested directly.
"""

from __future__ import annotations

import math
import re

from lab.jobs import COMPLETED, DIVERGED, FAILED, QUEUED, STOPPED, JobSnapshot
from lab.settings import ACTIVATION_LABELS

NO_VALUE = "–"
FINISHED_LABELS = {COMPLETED: "Done", STOPPED: "Stopped", DIVERGED: "Diverged", FAILED: "Failed"}

# Every character Streamlit's Markdown gives a meaning to (emphasis, code, links, HTML,
# headings, tables, strikethrough, LaTeX) and the backslash that escapes them.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")
# What GitHub-flavoured Markdown turns into a live link even when every special character is
# escaped (a bare http://, https://, www. or e-mail address): a zero-width space breaks it.
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"


def escape_markdown(text) -> str:
    """``text`` shown literally by Streamlit's Markdown: user input (a file name, a loader's
    message quoting one, a link's parameter) keeps its ``_`` and ``$`` instead of turning into
    italics or LaTeX, an image or a link in it stays text (no remote image is fetched, no link
    is live: a zero-width space breaks what would be an automatic link); line breaks stay."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")
    return _AUTOLINK.sub(ZERO_WIDTH_SPACE, escaped)


def percent(value: float | None, missing: str = NO_VALUE) -> str:
    """0.9731 -> "97.3%"; ``missing`` ("–") when there is no value (None, NaN, infinity)."""
    if value is None or not math.isfinite(value):
        return missing
    return f"{100 * value:.1f}%"


def plain_number(value: float) -> str:
    """100, 1,000,000, 2.5: a number as a person writes it (never 1e+06)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def duration(seconds: float | None) -> str:
    """"4.2 s", "42 s", "1 min 05 s"; "estimating time left" when unknown."""
    if seconds is None:
        return "estimating time left"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_text(snapshot: JobSnapshot) -> str:
    """One line for a job's progress bar: epoch, loss, accuracy, time left (or taken)."""
    if snapshot.status == QUEUED:
        return (f"Waiting for a free training slot: number {snapshot.queue_position or 1} "
                "in the queue (the server trains a few runs at a time).")
    parts = [f"Epoch {snapshot.epoch:.1f}/{snapshot.epochs}" if not snapshot.finished
             else f"Epoch {int(snapshot.epoch)}/{snapshot.epochs}"]
    if snapshot.loss is not None:
        parts.append(f"loss {snapshot.loss:.4f}")
    if snapshot.accuracy is not None:
        parts.append(f"train accuracy {percent(snapshot.accuracy)}")
    if snapshot.validation_accuracy is not None:
        parts.append(f"validation {percent(snapshot.validation_accuracy)}")
    if snapshot.finished:
        parts.insert(0, FINISHED_LABELS.get(snapshot.status, snapshot.status))
        parts.append(f"took {duration(snapshot.elapsed)}")
    else:
        eta = duration(snapshot.eta)
        parts.append(eta if snapshot.eta is None else f"{eta} left")
    return " · ".join(parts)


def network_text(settings: dict) -> str:
    """E.g. "784-128-10 relu" or "28×28 → conv 8@5×5 → pool → 10 relu" from a leaderboard
    entry's stored settings (which may predate the convolution knobs, or be odd: never raises)."""
    s = settings
    try:
        layers = int(s.get("layers", 1))
        hidden = [str(s.get("width", "?"))] * layers
        n_conv = int(s.get("conv_layers", 0) or 0)
        if n_conv:
            kernel = int(s.get("conv_kernel", 5))
            filters = [int(s.get("conv_filters", 8)), int(s.get("conv_filters_2", 16))]
            blocks = []
            for layer in range(n_conv):
                blocks.append(f"conv {filters[min(layer, 1)]}@{kernel}×{kernel}"
                              + (" same" if s.get("conv_padding") == "same" else ""))
                blocks += ["pool"] if s.get("conv_pool", True) else []
            return " → ".join(["28×28", *blocks, *hidden, "10"]) + f" {s.get('activation', '')}"
    except (TypeError, ValueError):
        hidden = ["?"]
    return "784-" + "-".join(hidden or ["?"]) + f"-10 {s.get('activation', '')}"


def activation_label(network) -> str:
    """The network's activation as the pages name it ("ReLU", "tanh"...)."""
    return ACTIVATION_LABELS.get(network.activation, network.activation)
