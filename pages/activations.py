"""Activations: follow one image (a validation image or the Draw page's drawing) through
the network: every layer's activations (a CNN's feature maps first), the output
probabilities, and which units (or filters) built the answer.

Widgets: ``inside_activations_*`` (the picker, ``ui/digit_picker.py``), ``inside_contrib_class``.
"""

import numpy as np
import streamlit as st

from lab import inspection
from lab.display_text import activation_label
from nn import analysis
from ui import entry_script, state
from ui.current_model import NOTHING_INSIDE, class_names, current_model, noun, refuse_mismatch
from ui.digit_picker import PickedDigit, digit_picker
from ui.figures import activations as activation_figures
from ui.figures import conv as conv_figures
from ui.figures import images as image_figures
from ui.figures import weights as weight_figures
from ui.widgets import bind, cached_for_model, chart, projector, remember

entry_script.require()


PREDICTED = "predicted"


def hidden_contributions(run, picked: PickedDigit, trace, proj: bool) -> None:
    network = run.network
    n_conv = analysis.n_conv_layers(network)
    if n_conv and len(network.weights) == n_conv + 1:
        filter_contributions(run, picked, trace, proj)
        return
    if len(network.weights) < 2:
        return  # no hidden layer: the logits come straight from the pixels
    st.subheader("Which hidden units built the answer")
    names = class_names(run)
    target = explained_class(run, trace)
    contributions = analysis.unit_contributions(network, picked.image, target)
    target_name = names[target]
    layer = contributions.layer
    chart(activation_figures.contributions_figure(contributions.units, contributions.contributions,
                                     contributions.bias, contributions.logit,
                                     class_name=target_name, projector=proj),
           "inside_contributions_chart")
    units, values, rows = inspection.top_contributions(contributions, target_name)
    if n_conv:  # dense units after conv layers read feature maps: no 28×28 picture of them
        st.markdown(f"**The {len(units)} units of dense layer {layer - n_conv} that move the score of "
                    f"{target_name} most:**")
        st.dataframe(rows, hide_index=True, key="inside_contributors_table")
        st.caption(f"Each unit adds activation × outgoing weight to the score of {target_name}; "
                   f"all {len(contributions.units)} of them plus the bias ({contributions.bias:+.3g}) "
                   f"make the logit z = {contributions.logit:.3g}.")
        return
    maps = cached_for_model(run, f"input_maps:{layer}", lambda: analysis.composed_input_weights(network, layer))
    exact = layer == 1
    fig = weight_figures.weight_grid_figure(
        maps[:, units], unit_ids=units, columns=min(inspection.TOP_UNITS // 2, len(units)), height=380,
        tile_labels=[f"{v:+.2f}" for v in values], projector=proj, value_name="w",
        title=(f"top {len(units)} units: incoming weights" if exact
               else f"top {len(units)} units: W1 @ … @ W{layer} (approx.)"))
    st.markdown(f"**The {len(units)} units of hidden layer {layer} that move the score of "
                f"{target_name} most**, with what they look for in the image:")
    left, right = st.columns(2)
    with left:
        chart(fig, "inside_contributors_chart")
    right.dataframe(rows, hide_index=True, key="inside_contributors_table")
    st.caption(f"Each hidden unit adds activation × outgoing weight to the score of {target_name}; "
               f"all {len(contributions.units)} of them plus the bias "
               f"({contributions.bias:+.3g}) make the logit z = {contributions.logit:.3g}. "
               "The tiles' corner numbers are the contributions." +
               ("" if exact else " Deeper units' pictures compose the weights below them, "
                "ignoring the nonlinearity: an approximation."))


def feature_maps(run, trace, proj: bool) -> None:
    """Each conv layer's feature maps for the traced image: after the activation, and
    after the 2x2 max pool (what the next layer reads)."""
    network = run.network
    st.subheader("Convolution layers")
    activation = activation_label(network)
    for layer, (spec, maps, z, pooled) in enumerate(zip(network.conv_specs, trace.feature_maps,
                                                        trace.map_pre_activations, trace.pooled_maps)):
        name = analysis.conv_layer_name(layer + 1, spec)
        height, width, n_filters = maps.shape
        source = "the image" if layer == 0 else f"the maps of conv{layer}"
        st.markdown(f"**{name}**: {n_filters} filters slide over {source}; each makes one feature map of "
                    f"{height}×{width}, bright where it found its pattern.")
        left, right = st.columns(2) if spec.pool else (st.container(), None)
        zmax = float(np.abs(maps).max(initial=0.0)) or 1.0  # one range for both figures
        with left:
            chart(conv_figures.feature_maps_figure(maps, z, zmax=zmax, projector=proj, width=540 if spec.pool else 900,
                                            title=f"{n_filters} maps of {height}×{width} after {activation}"),
                   f"inside_maps_{layer + 1}_chart")
        if right is not None:
            ph, pw, _ = pooled.shape
            with right:
                chart(conv_figures.feature_maps_figure(pooled, zmax=zmax, projector=proj, width=540,
                                                title=f"after the 2×2 max pool: {ph}×{pw}"),
                       f"inside_pooled_{layer + 1}_chart")
    st.caption("One tile per filter (its number in the corner), all on one colour scale. Hover a pixel "
               f"for its z (the weighted patch + bias) and {activation}(z). The max pool keeps the largest "
               "of every 2×2 block: half the size, the strongest responses kept.")


def explained_class(run, trace) -> int:
    """The class whose score the contribution charts explain: the predicted one, or one picked."""
    names = class_names(run)
    options = [PREDICTED, *range(len(names))]
    key = bind("contrib_class", PREDICTED, lambda v: v in options)
    choice = st.columns([1, 2])[0].selectbox(
        f"Explain the score of {noun(run)}", options, key=key,
        format_func=lambda d: f"the predicted one ({names[trace.predicted]})" if d == PREDICTED else names[d])
    remember("contrib_class")
    return trace.predicted if choice == PREDICTED else int(choice)


def filter_contributions(run, picked: PickedDigit, trace, proj: bool) -> None:
    """For a conv network whose pooled maps feed the output layer: each filter's share of
    one class's logit, and where in its map that share comes from."""
    network = run.network
    st.subheader("Which filters built the answer")
    names = class_names(run)
    target = explained_class(run, trace)
    result = analysis.filter_contributions(network, picked.image, target)
    target_name = names[target]
    filters = np.arange(len(result.totals))
    chart(activation_figures.contributions_figure(filters, result.totals, result.bias, result.logit,
                                                  class_name=target_name, unit_name="filter", projector=proj),
          "inside_contributions_chart")
    height, width, _ = result.maps.shape
    chart(conv_figures.position_weights_figure(result.maps, value_name="a × w", projector=proj,
                                        title=f"where the evidence for “{target_name}” came from: "
                                              f"pooled map × weight, {height}×{width} per filter"),
           "inside_contribution_maps_chart")
    st.caption(f"Every pooled pixel adds its activation × its weight to the score of {target_name}. "
               f"Summed per filter (the bars) plus the bias ({result.bias:+.3g}) they make the logit "
               f"z = {result.logit:.3g}. In the maps, red places argue for {target_name}, blue ones against.")




def layers(run, trace, proj: bool) -> None:
    """A CNN's feature maps, then each dense hidden layer's activations."""
    network = run.network
    n_conv = analysis.n_conv_layers(network)
    if n_conv:
        feature_maps(run, trace, proj)
    if trace.activations:
        st.subheader("Dense layers" if n_conv else "Hidden layers")
    activation = network.activation
    for i, (a, z) in enumerate(zip(trace.activations, trace.pre_activations), 1):
        fig = activation_figures.layer_activations_figure(
            a, z, biases=network.biases[n_conv + i - 1], activation=activation,
            layer_name=f"{'dense' if n_conv else 'hidden'} layer {i} ({len(a)} units)", projector=proj,
            height=320 if len(a) > activation_figures.WIDE_LAYER else 280)
        chart(fig, f"inside_layer_{i}_chart")
    if trace.activations:
        st.caption("Hover a unit to follow its maths: inputs · weights, + bias = z, then "
                   f"{activation}(z) = its activation. Wide layers are drawn as a grid, one cell "
                   "per unit.")


st.title("Activations")
st.markdown(
    f"Follow one {state.noun()} through the network: the pixels go in, every hidden unit computes "
    "z = inputs · weights + bias and outputs its activation, and the output layer turns "
    f"the last layer's activations into {len(state.class_names())} probabilities.")
run = current_model("inside_activations_train_default", NOTHING_INSIDE)
picked = None if run is None or refuse_mismatch(run) else digit_picker(run, "activations")
if picked is not None:
    proj = projector()
    trace = analysis.trace_image(run.network, picked.image)
    left, right = st.columns([1, 2])
    with left:
        chart(image_figures.digit_figure(picked.image, title="input: 28×28 = 784 pixels", height=320),
              "inside_input_chart")
        st.caption(picked.description + ".")
    with right:
        chart(activation_figures.probabilities_figure(trace.probabilities, class_names(run), label=picked.label,
                                                      projector=proj, height=320), "inside_probabilities_chart")
        st.caption(f"The output layer: softmax turns the {len(trace.probabilities)} scores (logits) "
                   "into probabilities.")
    layers(run, trace, proj)
    hidden_contributions(run, picked, trace, proj)
