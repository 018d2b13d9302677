"""Figures of the Probe page: an attack's image, perturbation and probabilities side by
side, fooling-rate and robustness curves, the unit switchboard of "Break it" and the
accuracy left after pruning or noise. Plain functions, no Streamlit.

Each figure's ``layout.meta`` holds what a test compares with the model's arrays
(``meta["probe"]``); the switchboard's also maps a click back to its unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.style import (
    CORRECT,
    GAP_COLOR,
    HIGHLIGHT,
    INK_ON_PAPER,
    MUTED,
    OKABE_ITO,
    SEQUENTIAL,
    axis_noun,
    class_names_or_numbers,
    diverging,
    fonts,
    hide_axes,
    image_axes,
)
from ui.figures.tiles import IMAGE_SIDE

CLICK_TRACE_NAME = "units"


def _square(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32).reshape(IMAGE_SIDE, IMAGE_SIDE)


def _curve_layout(fig: go.Figure, x_title: str, y_title: str, height: int, projector: bool, title: str | None):
    font = fonts(projector)
    # The title at the top of the figure, the legend between it and the plot: never on each other.
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", y=1, yanchor="top", yref="container", pad=dict(t=8),
                   font=dict(size=font["size"] + 2)) if title else None,
        height=max(height, 400) if projector else height, font=font, plot_bgcolor="#ffffff",
        margin=dict(l=10, r=10, t=(95 if projector else 80) if title else 30, b=10), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0),
    )
    grid = "#8c8c8c" if projector else "#e5e5e5"
    fig.update_xaxes(title=x_title, gridcolor=grid, showline=True, linecolor="#444444")
    fig.update_yaxes(title=y_title, gridcolor=grid, showline=True, linecolor="#444444")


# -- fool -------------------------------------------------------------------------------
def attack_panels_figure(original, adversarial, epsilon: float, *, before: str, after: str,
                         projector: bool = False, height: int = 300) -> go.Figure:
    """The image, the perturbation the attack added (diverging colours, ±epsilon) and the
    result, side by side. ``before`` / ``after``: what the network reads in each."""
    original, adversarial = _square(original), _square(adversarial)
    change = adversarial - original
    zmax = max(float(epsilon), float(np.abs(change).max()), 1e-6)
    fig = make_subplots(1, 3, horizontal_spacing=0.12, subplot_titles=(
        f"image: read {before}", f"+ change (±{epsilon:.3g})", f"= read {after}"))
    ink = dict(zmin=0, zmax=1, colorscale=INK_ON_PAPER, showscale=False,
               hovertemplate="pixel (row %{y}, col %{x})<br>ink %{z:.2f}<extra></extra>")
    fig.add_trace(go.Heatmap(z=original, **ink), 1, 1)
    fig.add_trace(go.Heatmap(
        z=change, zmin=-zmax, zmax=zmax, colorscale=diverging(projector),
        colorbar=dict(title=dict(text="change"), x=0.635, len=0.9, thickness=12 if not projector else 18),
        hovertemplate="pixel (row %{y}, col %{x})<br>change %{z:+.3f}<extra></extra>"), 1, 2)
    fig.add_trace(go.Heatmap(z=adversarial, **ink), 1, 3)
    for col, anchor in zip((1, 2, 3), ("x", "x2", "x3")):
        image_axes(fig, IMAGE_SIDE, IMAGE_SIDE, row=1, col=col, anchor=anchor)
        hide_axes(fig, row=1, col=col)
    font = fonts(projector)
    fig.update_annotations(font=dict(size=font["size"], color="#1d2333"))
    fig.update_layout(height=max(height, 380) if projector else height, font=font, plot_bgcolor="#ffffff",
                      margin=dict(l=4, r=4, t=40, b=4), dragmode=False,
                      meta={"probe": {"epsilon": float(epsilon), "max_change": float(np.abs(change).max())}})
    return fig


def probability_shift_figure(before, after, class_names: Sequence[str] | None = None, *, label: int | None = None,
                             target: int | None = None, projector: bool = False, height: int = 300) -> go.Figure:
    """Each class's probability before and after the attack, as pairs of bars."""
    before, after = np.asarray(before, np.float64).reshape(-1), np.asarray(after, np.float64).reshape(-1)
    names = class_names_or_numbers(len(before), class_names)
    fig = go.Figure([
        go.Bar(x=names, y=before, name="before the attack", marker_color=MUTED,
               hovertemplate="%{x}: %{y:.1%} before<extra></extra>"),
        go.Bar(x=names, y=after, name="after the attack", marker_color=HIGHLIGHT,
               hovertemplate="%{x}: %{y:.1%} after<extra></extra>"),
    ])
    marks = []
    if label is not None:
        marks.append(f"true: {names[int(label)]}")
    if target is not None:
        marks.append(f"target: {names[int(target)]}")
    _curve_layout(fig, axis_noun(names), "probability", height, projector,
                  "the network's probabilities" + (f" ({', '.join(marks)})" if marks else ""))
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_xaxes(type="category")
    return fig


def fooling_curves_figure(curves: Sequence, *, epsilon: float | None = None, projector: bool = False,
                          height: int = 320) -> go.Figure:
    """Fooling rate against epsilon, one line per attack (``nn.probe.FoolingCurve``)."""
    names = {"fgsm": "FGSM (one step)", "iterative": "iterative (10 small steps)"}
    fig = go.Figure()
    for number, curve in enumerate(curves):
        fig.add_trace(go.Scatter(
            x=curve.epsilons, y=curve.rates, mode="lines+markers", name=names.get(curve.method, curve.method),
            line=dict(color=OKABE_ITO[number % len(OKABE_ITO)], width=4 if projector else 2,
                      dash="solid" if number == 0 else "dash"),
            hovertemplate="ε %{x:.3f}: %{y:.0%} fooled<extra></extra>"))
    if epsilon is not None:
        fig.add_vline(x=float(epsilon), line=dict(color="#444444", dash="dot"),
                      annotation_text=f"ε = {epsilon:.3g}", annotation_position="bottom right")
    n = curves[0].n_correct if curves else 0
    _curve_layout(fig, "ε: the most any pixel may change (1 = from paper to full ink)",
                  f"fooling rate (of the {n} images read right)", height, projector,
                  "how often a change this small fools the network")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_layout(meta={"probe": {"curves": {c.method: [float(r) for r in c.rates] for c in curves}}})
    return fig


# -- robustness -------------------------------------------------------------------------
def robustness_figure(curves_by_model: Mapping[str, Mapping], perturbations: Mapping, *,
                      marker: tuple[str, float] | None = None, projector: bool = False,
                      columns: int = 4) -> go.Figure:
    """Accuracy against the strength of each perturbation, one small chart per perturbation
    (``lab.robustness.PERTURBATIONS``), one line per model (``{name: {key: RobustnessCurve}}``);
    ``marker``: (perturbation, strength) the sliders show now."""
    keys = [key for key in perturbations if any(key in curves for curves in curves_by_model.values())]
    rows = max(1, -(-len(keys) // columns))
    legend_px = (30 if projector else 24) * len(curves_by_model)  # one line per model, above the charts
    height = (340 if projector else 290) * rows + legend_px
    # Room between rows for an axis title and the next chart's title, in pixels whatever the rows.
    fig = make_subplots(rows, columns, subplot_titles=[perturbations[k].label for k in keys],
                        horizontal_spacing=0.06, vertical_spacing=min(0.3, 110 / height))
    font = fonts(projector)
    meta = {}
    for number, (name, curves) in enumerate(curves_by_model.items()):
        colour = OKABE_ITO[number % len(OKABE_ITO)]
        for slot, key in enumerate(keys):
            if key not in curves:
                continue
            curve = curves[key]
            fig.add_trace(go.Scatter(
                x=curve.values, y=curve.accuracies, mode="lines+markers", name=name, legendgroup=name,
                showlegend=slot == 0, line=dict(color=colour, width=4 if projector else 2,
                                                 dash="solid" if number == 0 else "dash"),
                hovertemplate=f"{name}<br>%{{x:g}}: %{{y:.1%}}<extra></extra>"),
                row=slot // columns + 1, col=slot % columns + 1)
            meta.setdefault(name, {})[key] = [float(a) for a in curve.accuracies]
    for slot, key in enumerate(keys):
        row, col = slot // columns + 1, slot % columns + 1
        fig.update_xaxes(title=dict(text=perturbations[key].axis, font=dict(size=font["size"] - 3)), row=row, col=col)
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=row, col=col,
                         title=dict(text="accuracy" if col == 1 else "", font=dict(size=font["size"] - 2)))
        if marker is not None and marker[0] == key:
            fig.add_vline(x=float(marker[1]), line=dict(color="#444444", dash="dot"), row=row, col=col)
    fig.update_annotations(font=dict(size=font["size"], color="#1d2333"))
    fig.update_layout(height=height, font=font, plot_bgcolor="#ffffff",
                      margin=dict(l=10, r=10, t=40 + legend_px, b=10), hovermode="closest",
                      legend=dict(orientation="v", yanchor="top", y=1, yref="container", xanchor="left", x=0),
                      meta={"probe": {"accuracies": meta}})
    fig.update_xaxes(gridcolor="#e5e5e5", showline=True, linecolor="#444444")
    fig.update_yaxes(gridcolor="#e5e5e5", showline=True, linecolor="#444444")
    return fig


# -- break it ---------------------------------------------------------------------------
def switchboard_figure(drops, off, *, columns: int | None = None, unit_name: str = "unit",
                       projector: bool = False, title: str | None = None) -> go.Figure:
    """One cell per unit of a hidden layer, coloured by the accuracy lost when it alone is
    switched off (``drops``, (n,)); units in ``off`` are grey and crossed. Clicking a cell
    selects its marker (``unit_from_click`` reads it)."""
    drops = np.asarray(drops, np.float64).reshape(-1)
    n = len(drops)
    columns = int(columns or min(n, 16))
    rows = -(-n // columns)
    off = {int(u) for u in off}
    cells = np.full(rows * columns, np.nan)
    cells[:n] = drops * 100
    shown = cells.copy()
    shown[list(off)] = np.nan  # off: the grey background shows through
    ids = np.full(rows * columns, -1)
    ids[:n] = np.arange(n)
    top = max(float(np.nanmax(np.abs(cells))) if n else 0.0, 0.5)
    font = fonts(projector)
    fig = go.Figure(go.Heatmap(
        z=shown.reshape(rows, columns), zmin=0, zmax=top, colorscale=SEQUENTIAL, hoverinfo="skip",
        colorbar=dict(title=dict(text="accuracy lost<br>when off alone<br>(points)"), thickness=12 if not projector
                      else 20)))
    unit_rows, unit_cols = np.divmod(np.arange(n), columns)
    state = ["off" if u in off else "on" for u in range(n)]
    fig.add_trace(go.Scatter(
        x=unit_cols, y=unit_rows, mode="markers+text", name=CLICK_TRACE_NAME,
        text=[f"{u}" if u not in off else "✕" for u in range(n)], textfont=dict(size=font["size"] - 3,
                                                                              color="#ffffff"),
        customdata=np.column_stack([np.arange(n), drops * 100]),
        marker=dict(size=18 if not projector else 26, opacity=0, color="#000000"),
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertext=state,
        hovertemplate=(f"{unit_name} %{{customdata[0]:.0f}} (%{{hovertext}})<br>switched off alone: "
                       "−%{customdata[1]:.1f} points<br>click to switch it on or off<extra></extra>")))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=font["size"] + 1)) if title else None,
        font=font, height=int(min(700, max(160, rows * (44 if projector else 34) + (70 if title else 30)))),
        margin=dict(l=4, r=4, t=50 if title else 10, b=4), plot_bgcolor=GAP_COLOR, dragmode=False,
        hovermode="closest", clickmode="event+select",
        meta={"probe": {"columns": columns, "n_units": n, "off": sorted(off)}})
    image_axes(fig, rows, columns)
    hide_axes(fig)
    fig.update_xaxes(fixedrange=True)
    fig.update_yaxes(fixedrange=True)
    return fig


def unit_from_click(selection, fig: go.Figure) -> int | None:
    """The unit a Streamlit selection event on a :func:`switchboard_figure` points at."""
    try:
        points = selection["selection"]["points"]
    except (KeyError, TypeError):
        return None
    meta = fig.layout.meta["probe"]
    for point in points:
        x, y = point.get("x"), point.get("y")
        if x is None or y is None:
            continue
        unit = int(round(y)) * meta["columns"] + int(round(x))
        if 0 <= unit < meta["n_units"]:
            return unit
    return None


def damage_figure(amounts, accuracies, *, current: float | None = None, chance: float | None = None,
                  x_title: str, title: str, percent_x: bool = False, projector: bool = False,
                  height: int = 280) -> go.Figure:
    """Validation accuracy against how much the network was damaged (pruned share, noise)."""
    fig = go.Figure(go.Scatter(x=amounts, y=accuracies, mode="lines+markers", name="validation accuracy",
                               line=dict(color=CORRECT, width=4 if projector else 2),
                               hovertemplate="%{x:g}: %{y:.1%}<extra></extra>"))
    if chance is not None:
        fig.add_hline(y=chance, line=dict(color=HIGHLIGHT, dash="dash"), annotation_text="chance",
                      annotation_position="bottom left")
    if current is not None:
        fig.add_vline(x=current, line=dict(color="#444444", dash="dot"))
    _curve_layout(fig, x_title, "validation accuracy", height, projector, title)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    if percent_x:
        fig.update_xaxes(ticksuffix="%")
    fig.update_layout(meta={"probe": {"accuracies": [float(a) for a in accuracies]}})
    return fig


def importance_figure(units, drops, *, unit_name: str = "unit", projector: bool = False,
                      height: int = 300) -> go.Figure:
    """The units that matter most: accuracy lost (points) when each alone is switched off."""
    units, drops = np.asarray(units), np.asarray(drops, np.float64) * 100
    fig = go.Figure(go.Bar(x=[f"{unit_name} {u}" for u in units], y=drops, marker_color=CORRECT,
                           hovertemplate="%{x}: −%{y:.1f} points<extra></extra>"))
    _curve_layout(fig, f"{unit_name}, most important first", "accuracy lost (points)", height, projector,
                  "which units matter most")
    fig.update_layout(hovermode="closest", meta={"probe": {"units": [int(u) for u in units]}})
    fig.update_xaxes(type="category")
    return fig
