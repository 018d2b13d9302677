"""The Probe page's "How robust" tab: test images changed the way a drawing differs from
MNIST (turned, moved, resized, blurred, thinner or thicker strokes, noise), with a slider
per change, and the accuracy curves of the current model and of runs it is compared with
(trained with augmentation or without, say).

Widgets: ``inside_robust_kind``, ``inside_robust_<kind>`` (one strength slider per
change), ``inside_robust_compare``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lab import robustness
from lab.runs import run_key
from nn.training import predict_proba
from ui import state
from ui.current_model import class_names, noun, test_set_or_warning
from ui.figures import images as image_figures
from ui.figures import probe as probe_figures
from ui.figures.style import CORRECT, HIGHLIGHT, TILE_BACKGROUND
from ui.probe_support import request, validation_set, wanted, with_progress
from ui.widgets import STATIC_CHART, bind, cached_for_model, chart, remember

EXAMPLES = 20  # perturbed images shown


def _images():
    """(images, labels, description): the first CURVE_IMAGES test images, or the validation ones."""
    test = test_set_or_warning()
    if test is None:
        images, labels = validation_set()
        return images, labels, f"the {len(labels):,} validation images (no test set for this data)"
    images, labels, _ = test
    n = min(len(labels), robustness.CURVE_IMAGES)
    return images[:n], np.asarray(labels[:n]), f"the first {n:,} test images"


def _strength(kind: str) -> float:
    perturbation = robustness.PERTURBATIONS[kind]
    low, high, step = perturbation.slider
    default = 20.0 if kind == "rotate" else (2.0 if kind.startswith("shift") else perturbation.values[-1]
                                             if kind != "scale" else 0.8)
    key = bind(f"robust_{kind}", float(default), lambda v: isinstance(v, float) and low <= v <= high)
    st.slider(f"Strength: {perturbation.axis}", float(low), float(high), step=float(step), key=key,
              format="%.2f" if step < 1 else "%d")
    remember(f"robust_{kind}")
    return float(st.session_state[key])


def _label(run) -> str:
    augment = "augmented" if getattr(run.config, "augment", False) else "not augmented"
    return f"run {run.number}: {run.architecture}, {augment}"


def robustness_tab(run, proj: bool) -> None:
    names = class_names(run)
    st.markdown(
        f"A drawn {noun(run)} is rarely centred, upright and as thick as MNIST's: how much do such changes cost? "
        f"Pick a change and its strength, see what the network makes of the changed test images, and how "
        "its accuracy falls as the change grows.")
    images, labels, description = _images()
    kinds = list(robustness.PERTURBATIONS)
    left, right = st.columns([1, 2])
    kind_key = bind("robust_kind", "rotate", lambda v: v in kinds)
    with left:
        st.selectbox("Change", kinds, key=kind_key, format_func=lambda k: robustness.PERTURBATIONS[k].label)
        remember("robust_kind")
        kind = st.session_state[kind_key]
        value = _strength(kind)
    perturbation = robustness.PERTURBATIONS[kind]
    changed = cached_for_model(run, f"robust_images:{kind}:{value}",
                               lambda: robustness.perturb(images, kind, value))
    predicted = cached_for_model(run, f"robust_predicted:{kind}:{value}", lambda: predict_proba(
        run.network, changed).argmax(axis=1))
    clean = cached_for_model(run, "robust_clean", lambda: predict_proba(run.network, images).argmax(axis=1))
    accuracy, clean_accuracy = float(np.mean(predicted == labels)), float(np.mean(clean == labels))
    with left:
        change = 100 * (accuracy - clean_accuracy)
        st.metric("Accuracy", f"{accuracy:.1%}",
                  delta=f"{change:+.1f} points" if round(change, 1) else None,
                  help=f"On {description}, {perturbation.describe(value)}; unchanged: {clean_accuracy:.1%}.")
    gallery = image_figures.gallery_figure(
        changed[:EXAMPLES], [f"read {names[p]}" for p in predicted[:EXAMPLES]], columns=10,
        caption_colors=[CORRECT if p == y else HIGHLIGHT for p, y in zip(predicted, labels[:EXAMPLES])],
        caption_size=15 if proj else 11, title=f"test images {perturbation.describe(value)}")
    gallery.update_layout(plot_bgcolor=TILE_BACKGROUND)
    with right:
        chart(gallery, "inside_robust_examples", config=STATIC_CHART)
    right.caption(f"Above each: what the network reads (orange: wrong). Accuracy on {description}.")
    curves(run, (kind, value), images, labels, description, proj)


def curves(run, marker, images, labels, description: str, proj: bool) -> None:
    st.subheader("Accuracy against each change")
    name = "robust_curves"
    if not wanted(run, name):
        st.button("Measure every curve", key="inside_robust_measure", icon=":material/query_stats:",
                  on_click=request, args=(run, name))
        st.caption(f"Every change at 4–9 strengths on {description}: a few seconds for a dense network, "
                   "longer for a CNN.")
        return
    own = with_progress(run, name, "Changing and reading the test images…", lambda progress: robustness.
                        robustness_curves(run.network, images, labels, progress=progress))
    others = [r for r in state.runs() if r.network is not None and r.number != run.number
              and r.network.layer_sizes[-1] == run.network.layer_sizes[-1]]
    compared = []
    if others:
        options = [r.number for r in others]
        compare_key = bind("robust_compare", [], lambda v: isinstance(v, list) and set(v) <= set(options))
        by_number = {r.number: r for r in others}
        st.multiselect("Compare with runs from the history", options, key=compare_key,
                       format_func=lambda number: _label(by_number[number]),
                       help="Train the same network with and without Augment (Train page) and compare here.")
        remember("robust_compare")
        compared = [by_number[number] for number in st.session_state[compare_key]]
    curves_by_model = {_label(run) + " (current)": own}
    for other in compared:
        curves_by_model[_label(other)] = with_progress(
            run, f"robust_curves_of:{run_key(other)}", f"Measuring run {other.number}…",
            lambda progress, other=other: robustness.robustness_curves(other.network, images, labels,
                                                                       progress=progress))
    chart(probe_figures.robustness_figure(curves_by_model, robustness.PERTURBATIONS, marker=marker,
                                          projector=proj, columns=2 if proj else 4), "inside_robust_curves")
    worst = min(own.values(), key=lambda c: c.worst[1])
    st.caption(f"Accuracy on {description} as each change grows (the dotted line: the slider above). The "
               f"current model does worst {robustness.PERTURBATIONS[worst.key].describe(worst.worst[0])} "
               f"({worst.worst[1]:.0%}). What to look for: which changes a network shrugs off and which break "
               "it; a network trained with Augment (random shifts and rotations) keeps its accuracy far longer "
               "on those two.")
