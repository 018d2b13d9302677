"""Probe: experiments on the current model. Dream a class (the image that maximises its
score), fool it (the smallest change that flips its answer), how robust it is (test
images rotated, shifted, resized, blurred, thinned, noised) and break it (units switched
off, weights pruned or noised).

Widgets: ``inside_probe_tab``; ``inside_dream_*``, ``inside_fool_*`` (the picker,
``ui/digit_picker.py``), ``inside_robust_*`` (``ui/probe_robustness.py``),
``inside_break_*`` and ``inside_off_*`` (``ui/probe_break.py``).
"""

import hashlib

import numpy as np
import streamlit as st

from nn import probe
from ui import entry_script
from ui.current_model import class_names, current_model, noun, refuse_mismatch
from ui.digit_picker import digit_picker
from ui.figures import images as image_figures
from ui.figures import probe as probe_figures
from ui.figures.style import CORRECT, HIGHLIGHT, TILE_BACKGROUND
from ui.probe_break import break_tab
from ui.probe_robustness import robustness_tab
from ui.probe_support import request, validation_set, wanted, with_progress
from ui.widgets import bind, cached_for_model, chart, choose, index_in, lazy_tabs, projector, remember

entry_script.require()

TABS = ("Dream", "Fool it", "How robust", "Break it")
L2_CHOICES = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)
FOOL_IMAGES = 500  # the fooling-rate curve's validation images
CURVE_EPSILONS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25)
ANY_CLASS = "any"


# -- dream ------------------------------------------------------------------------------
def dream_tab(run, proj: bool) -> None:
    names = class_names(run)
    st.markdown(
        f"What does the network think each {noun(run)} looks like? Start from a blank field and change the "
        f"pixels, step by step, in the direction that raises one {noun(run)}'s score (gradient **ascent** on "
        "the image, the same backpropagation as training, down to the pixels). Left alone, the ascent "
        "finds speckles the network happens to like; an L2 penalty keeps ink only where it pays, and a "
        "slight blur joins it into strokes.")
    left, middle, right = st.columns(3)
    starts = {"blank": "a blank field", "grey": "a grey field", "image": f"a validation {noun(run)}"}
    start_key = bind("dream_start", "blank", lambda v: v in starts)
    left.radio("Start from", tuple(starts), key=start_key, horizontal=True, format_func=starts.get)
    remember("dream_start")
    images, labels = validation_set()
    start, start_text = None, "a blank field"
    if st.session_state[start_key] == "grey":
        start, start_text = np.full(images.shape[1], 0.5, np.float32), "a grey field"
    if st.session_state[start_key] == "image":
        index_key = bind("dream_index", 0, index_in(len(labels)))
        left.number_input(f"Validation image (0–{len(labels) - 1})", 0, len(labels) - 1, step=1, key=index_key)
        remember("dream_index")
        index = int(st.session_state[index_key])
        start, start_text = images[index], f"validation image {index} (a {names[int(labels[index])]})"
    steps_key = bind("dream_steps", 120, lambda v: isinstance(v, int) and 10 <= v <= 300)
    middle.slider("Ascent steps", 10, 300, step=10, key=steps_key)
    remember("dream_steps")
    l2_key = bind("dream_l2", 0.1, lambda v: v in L2_CHOICES)
    right.select_slider("L2 penalty (less ink)", L2_CHOICES, key=l2_key, format_func=lambda v: f"{v:g}")
    remember("dream_l2")
    blur_key = bind("dream_blur", True, lambda v: isinstance(v, bool))
    right.toggle("Smooth", key=blur_key, help="Into strokes: blur the gradient every step and the image every "
                 "4 steps. Off: the raw ascent, with only the L2 penalty.")
    remember("dream_blur")
    steps, l2, blur = (int(st.session_state[steps_key]), float(st.session_state[l2_key]),
                       bool(st.session_state[blur_key]))
    name = f"dream:{start_text}:{steps}:{l2}:{blur}"
    dreamt = with_progress(run, name, f"Dreaming {len(names)} {noun(run, True)}…", lambda progress: probe.dream(
        run.network, start=start, steps=steps, l2=l2, blur_every=4 if blur else 0, smooth_gradient=blur,
        progress=progress))
    confidence = dreamt.confidence
    gallery = image_figures.gallery_figure(
        dreamt.images, [f"{names[c]}: {p:.0%}" for c, p in zip(dreamt.classes, confidence)],
        columns=min(len(names), 5 if proj else 10), caption_size=16 if proj else 12, tile_px=110 if proj else 90,
        caption_colors=[CORRECT if p >= 0.5 else HIGHLIGHT for p in confidence],
        title=f"what raises each {noun(run)}'s score most, from {start_text}")
    gallery.update_layout(plot_bgcolor=TILE_BACKGROUND)  # grey gaps: each white field stands apart
    chart(gallery, "inside_dream_chart")
    st.caption(
        f"Each tile: the image gradient ascent made for one {noun(run)}, with the probability the network gives "
        f"it. What to look for: the strokes the network relies on (a 0's ring, a 1's bar) and how little they "
        f"need to look like handwriting to be read with near certainty. {steps} steps for all "
        f"{len(names)} in {dreamt.seconds:.2f} s.")


# -- fool -------------------------------------------------------------------------------
def fool_controls(run, label: int) -> tuple[str, int | None, float]:
    names = class_names(run)
    left, middle, right = st.columns(3)
    options = [ANY_CLASS, *(c for c in range(len(names)) if c != label)]
    target_key = bind("fool_target", ANY_CLASS, lambda v: v in options)
    left.selectbox("Make it read as", options, key=target_key,
                   format_func=lambda c: f"any wrong {noun(run)}" if c == ANY_CLASS else names[c])
    remember("fool_target")
    method_key = bind("fool_method", "fgsm", lambda v: v in probe.ATTACKS)
    middle.radio("Attack", probe.ATTACKS, key=method_key, horizontal=True,
                 format_func={"fgsm": "one step (FGSM)", "iterative": "10 small steps"}.get,
                 help="FGSM moves every pixel by ε at once, along the sign of the loss gradient. The iterative "
                      "attack takes 10 smaller steps, each recomputing the gradient, and stays within ε.")
    remember("fool_method")
    eps_key = bind("fool_epsilon", 0.05, lambda v: isinstance(v, float) and 0 <= v <= 0.3)
    right.slider("ε: the most any pixel may change", 0.0, 0.3, step=0.005, key=eps_key, format="%.3f")
    remember("fool_epsilon")
    target = st.session_state[target_key]
    return st.session_state[method_key], None if target == ANY_CLASS else int(target), float(
        st.session_state[eps_key])


def fool_tab(run, proj: bool) -> None:
    names = class_names(run)
    st.markdown(
        "Change each pixel by at most **ε** in the direction that most lowers the loss of a target class "
        "(or raises the loss of the true one): backpropagation tells which direction that is, per pixel. "
        "A change too faint to notice can flip the answer.")
    picked = digit_picker(run, "fool")
    if picked is None:
        return
    network = run.network
    image = probe.as_float_batch(network, picked.image)
    before = probe.softmax_rows(probe.run_layers(network, image).logits)[0]
    label = int(before.argmax()) if picked.label is None else picked.label
    method, target, epsilon = fool_controls(run, label)
    result = probe.attack(network, image, [label], epsilon, target, method)
    if result.predicted_before[0] != label:
        st.info(f"The network misreads this {noun(run)} already (as {names[result.predicted_before[0]]}): "
                f"pick another to fool.", icon=":material/info:")
    after = result.probabilities[0]
    verdict = f"{names[int(after.argmax())]} ({after.max():.0%})"
    chart(probe_figures.attack_panels_figure(image[0], result.adversarial[0], epsilon,
                                             before=f"{names[int(before.argmax())]} ({before.max():.0%})",
                                             after=verdict, projector=proj), "inside_fool_panels")
    chart(probe_figures.probability_shift_figure(before, after, names, label=picked.label, target=target,
                                                 projector=proj), "inside_fool_probabilities")
    digest = hashlib.sha1(image.tobytes()).hexdigest()[:12]
    smallest = cached_for_model(run, f"smallest:{digest}:{label}:{target}:{method}", lambda: probe.smallest_epsilon(
        network, image[0], label, target, method))
    goal = f"read as {names[target]}" if target is not None else "misread"
    if smallest is None:
        st.caption(f"No ε up to 0.25 makes the network {goal} with this attack.")
    else:
        left, right = st.columns([3, 1])
        left.markdown(f"**Smallest ε that works:** {smallest.epsilon:.3f} ({goal}: "
                      f"{names[int(smallest.predicted[0])]} at {smallest.probabilities[0].max():.0%}); that is "
                      f"{smallest.epsilon * 255:.0f} of 255 grey levels per pixel at most.")
        right.button("Use it", key="inside_fool_use_smallest", on_click=choose,
                     args=("fool_epsilon", float(smallest.epsilon)))
    st.caption("Left: the image; middle: what the attack added (red more ink, blue less, white unchanged); "
               "right: what the network was shown. What to look for: the change looks like faint noise, "
               "yet the probabilities below jump to another class.")
    fooling_curves(run, epsilon, proj)


def fooling_curves(run, epsilon: float, proj: bool) -> None:
    st.subheader(f"How often it works: the fooling rate on {FOOL_IMAGES} validation images")
    name = "fooling_curves"
    if not wanted(run, name):
        st.button(f"Measure the fooling rate on {FOOL_IMAGES} validation images", key="inside_fool_measure",
                  icon=":material/query_stats:", on_click=request, args=(run, name))
        st.caption("Both attacks, untargeted, at ε from 0 to 0.25 (a few seconds for a dense network, "
                   "longer for a CNN).")
        return
    images, labels = validation_set(FOOL_IMAGES)

    def measure(progress):
        fgsm = probe.fooling_curve(run.network, images, labels, CURVE_EPSILONS, "fgsm",
                                   progress=lambda f: progress(f / 3))
        iterative = probe.fooling_curve(run.network, images, labels, CURVE_EPSILONS, "iterative",
                                        progress=lambda f: progress(1 / 3 + 2 * f / 3))
        return fgsm, iterative

    curves = with_progress(run, name, "Attacking the validation images…", measure)
    chart(probe_figures.fooling_curves_figure(curves, epsilon=epsilon, projector=proj), "inside_fool_curve")
    at = {c.method: float(np.interp(0.1, c.epsilons, c.rates)) for c in curves}
    st.caption(f"The share of the {curves[0].n_correct} images the network reads right that each attack makes it "
               f"misread (any wrong class), against ε. At ε = 0.1: {at['fgsm']:.0%} with one step, "
               f"{at['iterative']:.0%} with ten. What to look for: how small an ε fools most images, and that "
               "the iterative attack, re-aiming at every step, needs less.")


# -- the page ---------------------------------------------------------------------------
st.title("Probe")
st.markdown(
    "Experiments on the current model: what it thinks each class looks like, how to fool it, how "
    "robust it is to everyday changes of a drawing, and what breaks when parts of it go.")
model = current_model("inside_probe_train_default", "there is nothing to probe until a network has been trained.")
if model is not None and not refuse_mismatch(model):
    proj = projector()
    lazy_tabs(TABS, "inside_probe_tab", [lambda: dream_tab(model, proj), lambda: fool_tab(model, proj),
                                          lambda: robustness_tab(model, proj), lambda: break_tab(model, proj)])
