"""Gradients: how big each layer's gradients were over training (vanishing? exploding?
dead ReLUs?), the latest step's gradients, the input gradient of one image (saliency), and a
gradient check of backpropagation against finite differences.

Widgets: ``inside_gradients_tab``, ``inside_saliency_*`` (the picker, ``ui/digit_picker.py``),
``inside_gradcheck_button``; ``"inside_gradcheck"`` holds the latest check of the current model.
"""

import streamlit as st

from lab import inspection
from lab.display_text import activation_label
from lab.runs import run_key
from nn import analysis
from ui import entry_script, state
from ui.current_model import NOTHING_INSIDE, class_names, current_model, noun, refuse_mismatch
from ui.digit_picker import digit_picker
from ui.figures import conv as conv_figures
from ui.figures import gradients as gradient_figures
from ui.figures import weights as weight_figures
from ui.unit_ordering import grid_columns, order_label, order_spec, unit_order
from ui.widgets import bind, cached_for_model, chart, lazy_tabs, projector, remember

entry_script.require()

GRADCHECK = "inside_gradcheck"
TABS = ("Over training", "Latest step", "Saliency", "Gradient check")


STATUS_ICONS = {"healthy": ":green[:material/check_circle:]",
                "vanishing": ":blue[:material/trending_down:]",
                "exploding": ":orange[:material/warning:]"}


def over_training_tab(run, proj: bool) -> None:
    network = run.network
    stats = cached_for_model(run, "stats", lambda: analysis.stats_arrays(run.history))
    if len(stats.steps) == 0:
        st.info("This run recorded no per-layer statistics.")
        return
    names = analysis.layer_names(network)
    # One panel per column: side by side on a wide window, stacked on a narrow one.
    for panel, column in enumerate(st.columns(3)):
        name = f"norms:{panel}:{proj}"
        fig = cached_for_model(run, name, lambda panel=panel: gradient_figures.norms_over_steps_figure(
            stats.steps, stats.grad_norm, stats.weight_norm, stats.update_ratio, names,
            panels=(panel,), projector=proj))
        with column:
            chart(fig, f"inside_norms_chart_{panel}")
    st.markdown(f"**Latest gradient norms** (step {int(stats.steps[-1])}):")
    for health in analysis.gradient_health(stats.grad_norm[-1], names):
        st.markdown(f"{STATUS_ICONS[health.status]} **{health.layer}**: ‖dJ/dW‖ = "
                    f"{health.norm:.3g}, {health.explanation}")
    st.caption("Shaded bands: below 1e-6 the gradient has vanished (the layer stopped "
               "learning), above 100 it explodes (steps overshoot). Update / weight: how "
               "much one step changes the layer, relative to its size.")
    if stats.dead_fraction.shape[1]:
        hidden = inspection.hidden_layer_names(network)[: stats.dead_fraction.shape[1]]
        dead = cached_for_model(run, f"dead:{proj}", lambda: gradient_figures.dead_relu_figure(
            stats.steps, stats.dead_fraction, hidden, projector=proj))
        chart(dead, "inside_dead_chart")
        latest = inspection.dead_units_text(network, hidden, stats.dead_fraction[-1])
        if network.activation == "relu":
            filters = (" A conv layer's units are its filters: a dead filter's map is 0 everywhere."
                       if analysis.n_conv_layers(network) else "")
            st.caption(f"A dead ReLU outputs 0 for every image of a batch, so no gradient "
                       f"flows through it.{filters} Latest: {latest}.")
        else:
            st.caption(f"{activation_label(network)} units never output exactly 0 for a whole "
                       f"batch, so none is dead (latest: {latest}); dead units are a ReLU problem.")


def latest_step_tab(run, proj: bool) -> None:
    network = run.network
    grads = run.history.last_grad_weights
    if not grads:
        st.info("This run kept no gradients.")
        return
    step = run.history.stats_step[-1] if run.history.stats_step else "?"
    names = analysis.layer_names(network)
    hist = cached_for_model(run, f"grad_hist:{proj}", lambda: gradient_figures.gradient_histograms_figure(
        grads, names, projector=proj,
        title=f"gradient values dJ/dW at step {step}, the latest recorded"))
    chart(hist, "inside_grad_hist_chart")
    st.caption("Each layer on its own range (their sizes differ by orders of magnitude); "
               "counts on a log scale. A spike at 0 alone means the layer receives no signal.")
    if grads[0].ndim == 4:  # a convolutional network: its first conv layer's filters
        filter_gradients(run, grads[0], step, proj)
        return
    spec = order_spec()
    g1 = grads[0]

    def build():
        return weight_figures.weight_grid_figure(
            g1, unit_order(run, spec), grid_columns(), value_name="dJ/dw", projector=proj,
            max_bytes=weight_figures.payload_budget(g1.shape[1]),
            title=f"first-layer gradients dJ/dw at step {step}")

    st.markdown("**First-layer gradient maps**: for each unit, the gradient of the loss with "
                "respect to its 784 incoming weights, drawn like the Weights page (same "
                f"order: {order_label(spec, class_names(run))}).")
    chart(cached_for_model(run, f"grad_grid:{spec}:{grid_columns()}:{proj}", build), "inside_grad_grid_chart")
    st.caption("Red: increasing that weight would raise the loss, so gradient descent lowers "
               "it; blue: the opposite. The maps show where each unit is being reshaped.")


def filter_gradients(run, grads, step, proj: bool) -> None:
    """The Gradients page's first-layer maps for a convolutional network: dJ/dw of each
    first-layer filter, k x k."""
    spec = run.network.conv_specs[0]
    st.markdown(f"**First-layer gradient maps**: for each filter of "
                f"{analysis.conv_layer_name(1, spec)}, the gradient of the loss with respect to its "
                f"{spec.kernel}×{spec.kernel} weights, drawn like its weights on the Weights page. "
                "A filter's gradient adds up what every position of every image of the batch asks of it.")
    name = f"grad_filters:{grid_columns()}:{proj}"
    fig = cached_for_model(run, name, lambda: conv_figures.filter_grid_figure(
        grads, value_name="dJ/dw", columns=grid_columns(), projector=proj,
        title=f"conv1 filter gradients dJ/dw at step {step}"))
    chart(fig, "inside_grad_filters_chart")
    st.caption("Red: increasing that weight would raise the loss, so gradient descent lowers "
               "it; blue: the opposite.")


def saliency_tab(run, proj: bool) -> None:
    network = run.network
    st.markdown("Which pixels matter for a prediction? The **input gradient** dJ/dx says how "
                "the loss would change if a pixel got brighter.")
    if refuse_mismatch(run):
        return
    names = class_names(run)
    picked = digit_picker(run, "saliency")
    if picked is None:
        return
    trace = analysis.trace_image(network, picked.image)
    options = list(range(len(names)))
    key = bind("saliency_class", trace.predicted, lambda v: v in options)
    st.columns([1, 2])[0].selectbox(f"Explain the score of {noun(run)}", options, key=key,
                 format_func=lambda d: f"{names[d]} (predicted)" if d == trace.predicted else names[d])
    remember("saliency_class")
    target = int(st.session_state[key])
    gradient = analysis.saliency(network, picked.image, target)
    fig = gradient_figures.saliency_figure(picked.image, gradient, label=names[target], projector=proj)
    chart(fig, "inside_saliency_chart")
    st.caption(f"{picked.description}. The network reads it as {names[trace.predicted]} "
               f"({trace.probabilities[trace.predicted]:.0%}). Blue pixels: inking them more "
               f"would make “{names[target]}” more likely; red ones argue against “{names[target]}”.")


def check_gradients(run) -> None:
    data = state.dataset()
    st.session_state[GRADCHECK] = inspection.run_gradient_check(
        run.network, data.validation_images, data.validation_labels, run=run_key(run))


def gradcheck_tab(run) -> None:
    st.markdown(
        "Is backpropagation right? Nudge one weight by ±ε, measure how the loss changes, "
        "and compare with the gradient backprop computed: **(J(w+ε) − J(w−ε)) / 2ε**. "
        "The check runs on a float64 copy of the current network (float32 has too few "
        f"digits for the difference to mean anything), on {inspection.GRADCHECK_BATCH} validation images, "
        "for a random sample of entries of every weight matrix W, bias b and the input X.")
    st.caption(
        "Kinks: a ReLU has no derivative at z = 0 and a max pool none where two inputs tie. When "
        "w−ε and w+ε fall on different sides of one, the difference averages two slopes and "
        "matches no gradient, whatever backprop does; such entries are left out and counted"
        + (" (a convolutional layer computes tens of thousands of z per batch, and a blank "
           "background ties many pools, so it meets kinks often; its W1 holds the filters' weights)."
           if analysis.n_conv_layers(run.network) else "."))
    if refuse_mismatch(run):
        return
    st.button("Check the gradients", type="primary", icon=":material/rule:",
              key="inside_gradcheck_button", on_click=check_gradients, args=(run,))
    result = st.session_state.get(GRADCHECK)
    if result is None or result.run != run_key(run):
        return
    chart(gradient_figures.gradcheck_figure(result.relative_errors), "inside_gradcheck_chart")
    st.dataframe(inspection.gradcheck_rows(result), hide_index=True, key="inside_gradcheck_table")
    worst = max(result.relative_errors.values())
    message = (f"Largest relative error {worst:.1e} in {result.seconds:.2f} s: backprop agrees "
               "with the finite differences." if worst <= 1e-6 else
               f"Largest relative error {worst:.1e}: above 1e-6, worth a closer look.")
    (st.success if worst <= 1e-6 else st.warning)(message)




st.title("Gradients")
st.markdown(
    "Backpropagation tells every weight which way to move to lower the loss: the "
    "gradient dJ/dW. Its size per layer says whether the layer is still learning.")
run = current_model("inside_gradients_train_default", NOTHING_INSIDE)
if run is not None:
    proj = projector()
    lazy_tabs(TABS, "inside_gradients_tab", [lambda: over_training_tab(run, proj),
                                             lambda: latest_step_tab(run, proj),
                                             lambda: saliency_tab(run, proj),
                                             lambda: gradcheck_tab(run)])
