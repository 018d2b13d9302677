"""Weights: what each unit of the first layer looks for (a clickable grid of every unit's
784 weights, one unit large), the weights forming epoch by epoch, the deeper layers'
matrices, each class's template. For a convolutional network: its filters, their replay,
and the dense layers after the flatten.

Widgets: ``inside_unit``, ``inside_order``, ``inside_epoch``, ``inside_play``...
(remembered choices, ``ui/widgets.py``); tabs ``inside_weights_tab`` (dense) and
``inside_conv_weights_tab`` (convolutional).
"""

import numpy as np
import streamlit as st

from lab import inspection, weight_views
from lab.display_text import activation_label
from nn import analysis
from ui import entry_script, replay, state
from ui.current_model import NOTHING_INSIDE, class_names, current_model, noun
from ui.figures import conv as conv_figures
from ui.figures import images as image_figures
from ui.figures import tiles
from ui.figures import weights as weight_figures
from ui.unit_ordering import columns_control, grid_columns, order_label, ordering_controls, unit_order
from ui.widgets import (
    bind,
    cached_for_model,
    chart,
    choose,
    index_in,
    lazy_tabs,
    model_cache_entry,
    projector,
    remember,
)

entry_script.require()

TABS = ("All units", "Epoch replay", "Deeper layers", "Digit templates")  # "Letter templates"...


def grid_name(spec: str, selected: int | None, proj: bool, view: str) -> str:
    return f"grid:{spec}:{grid_columns()}:{selected}:{proj}:{view}"


def views_of(run) -> weight_views.WeightViews:
    """The model's raw and learned-change views (cached per model)."""
    return cached_for_model(run, "weight_views", lambda: weight_views.weight_views(
        run.network, run.history, state.dataset().train_images))


def nan_norms(values) -> np.ndarray:
    """Each column's norm, the pixels left out (NaN) not counted."""
    return np.sqrt(np.nansum(np.square(np.asarray(values, dtype=np.float64)), axis=0))


def weight_grid(run, spec: str, selected: int | None, proj: bool, view: str):
    """The clickable first-layer weight grid (cached per model, order, layout, selection, view)."""
    def build():
        shown = weight_views.first_layer(run.network.weights[0], view, views_of(run))
        order = unit_order(run, spec)
        what = "learned change W − W₀" if view == weight_views.CHANGE else "weights W"
        fig = weight_figures.weight_grid_figure(
            shown, order, grid_columns(), selected=selected, projector=proj,
            max_bytes=weight_figures.grid_budget(shown.shape[1]), value_name=weight_views.VALUE_NAMES[view],
            title=f"{shown.shape[1]} units ({what}), ordered by {order_label(spec, class_names(run))}")
        return weight_figures.add_click_targets(fig, norms=nan_norms(shown[:, order]),
                                                value_name=weight_views.VALUE_NAMES[view])

    return cached_for_model(run, grid_name(spec, selected, proj, view), build)


def on_grid_click(fig_name: str, chart_key: str) -> None:
    fig = model_cache_entry(fig_name)
    event = st.session_state.get(chart_key)
    if fig is None or event is None:
        return
    unit = weight_figures.unit_from_selection(event, fig)
    if unit is not None:
        choose("unit", unit)


def units_tab(run, spec: str, proj: bool, view: str) -> None:
    network = run.network
    n_units = network.weights[0].shape[1]
    unit_key = bind("unit", 0, index_in(n_units))
    unit = int(st.session_state[unit_key])
    fig = weight_grid(run, spec, unit, proj, view)
    fig_name = grid_name(spec, unit, proj, view)
    what = ("what training changed in its 784 incoming weights (the weights now minus the random ones it "
            "started with)" if view == weight_views.CHANGE else "its 784 incoming weights")
    st.caption(f"Each tile: one unit, {what}, as a 28×28 picture. **Click a tile** (or type a unit's number "
               "below) to see that unit large. Grey pixels: no training image ever inks them, so their weights "
               f"never change. Colours: ±{fig.layout.meta['grid']['zmax']:.3g}, the same scale for every tile.")
    # A new key per picked unit starts each grid with no selection, so a click on any tile
    # (even the one clicked before the number was typed) is a change that reaches us.
    chart_key = f"inside_grid_chart_{unit}"
    chart(fig, chart_key, on_select=lambda: on_grid_click(fig_name, chart_key),
           selection_mode="points")
    left, _ = st.columns([1, 3])
    left.number_input("Unit", 0, n_units - 1, step=1, key=unit_key,
                      help="The unit shown large below; clicking a tile sets it too.")
    remember("unit")
    unit = int(st.session_state[unit_key])
    unit_detail(run, unit, fig.layout.meta["grid"]["zmax"], proj, view)


def unit_detail(run, unit: int, zmax: float, proj: bool, view: str) -> None:
    network = run.network
    views = views_of(run)
    w = weight_views.first_layer(network.weights[0], view, views)[:, unit]
    bias = float(network.biases[0][unit])
    outgoing = weight_views.layer(network.weights[1], view, views, 1)[unit] if len(network.weights) > 1 else None
    change = view == weight_views.CHANGE
    value_name = weight_views.VALUE_NAMES[view]
    picture, bars, images = st.columns(3)
    with picture:
        fig = cached_for_model(run, f"unit_map:{unit}:{zmax}:{proj}:{view}", lambda: weight_figures.weight_grid_figure(
            w[:, None], unit_ids=[unit], zmax=zmax, mode="heatmap", projector=proj, height=340,
            value_name=value_name,
            title=f"unit {unit}: incoming weights" + (", change since the start" if change else "")))
        chart(fig, "inside_unit_map")
        shown = "what training added to its weights" if change else "its weights"
        st.caption(f"z = pixels · weights + bias ({bias:+.3g}), then {activation_label(network)}(z); shown: "
                   f"{shown}, ‖{value_name}‖ = {float(nan_norms(w[:, None])[0]):.3g}. Hover for each value.")
    with bars:
        if outgoing is None:  # no hidden layer (a loaded model): these units are the outputs
            st.caption(f"This network has no hidden layer: these units are the {noun(run, True)}' scores.")
        else:
            to_digits = len(network.weights) == 2
            title = f"unit {unit} → the {len(outgoing)} {noun(run, True)}" if to_digits else \
                f"unit {unit} → the {len(outgoing)} units of hidden layer 2"
            fig = cached_for_model(run, f"unit_out:{unit}:{proj}:{view}",
                                   lambda: weight_figures.outgoing_weights_figure(
                                       outgoing, class_names(run) if to_digits else None, unit=unit,
                                       title=title + (" (change)" if change else ""), projector=proj))
            chart(fig, "inside_unit_outgoing")
            st.caption(("How training changed the outgoing weights" if change else "Outgoing weights")
                       + ": how much this unit's output adds to each "
                       + (f"{noun(run)}'s score." if to_digits else "unit of the next layer."))
    with images:
        data = state.dataset()
        top = cached_for_model(run, f"exciting:{unit}", lambda: analysis.top_exciting_images(
            network, data.train_images, unit, inspection.TOP_IMAGES))
        captions = [f"{data.class_names[int(data.train_labels[i])]}  z={z:.1f}"
                    for i, z in zip(top.indices, top.pre_activations)]
        fig = cached_for_model(run, f"exciting_fig:{unit}", lambda: image_figures.image_grid_figure(
            data.train_images[top.indices], captions, columns=3,
            title="training images exciting it most", height=340))
        chart(fig, "inside_exciting_images")
        st.caption(f"The {len(top.indices)} training images with the largest z for unit {unit} "
                   "(corner: label and z).")


def replay_frames(run, view: str = weight_views.RAW):
    """(snapshots, zmax): the stored weight snapshots and one colour limit for all of them
    (in ``view``: their change since the first one)."""
    snapshots = run.history.snapshots
    if len(snapshots) < 1:
        return snapshots, 1.0
    if view == weight_views.RAW:
        return snapshots, cached_for_model(run, "replay_zmax", lambda: tiles.replay_zmax(snapshots))
    return snapshots, cached_for_model(run, "replay_zmax:change", lambda: tiles.replay_zmax(
        snapshots, start=views_of(run).start[0]))


def replay_figure(run, index: int, spec: str, proj: bool, view: str = weight_views.RAW):
    snapshots, zmax = replay_frames(run, view)
    snapshot = snapshots[index]

    def build():
        w1 = snapshot.weights[0]
        if w1.ndim == 4:  # a convolutional network: its first layer's filters
            return conv_figures.filter_grid_figure(
                w1, snapshot.biases[0], columns=grid_columns(), zmax=zmax, projector=proj,
                title=f"conv1 filters at epoch {snapshot.epoch} (step {snapshot.step})")
        shown = weight_views.first_layer(w1, view, views_of(run))
        what = ", change since epoch 0" if view == weight_views.CHANGE else ""
        return weight_figures.weight_grid_figure(
            shown, unit_order(run, spec), grid_columns(), zmax=zmax, projector=proj,
            max_bytes=weight_figures.payload_budget(w1.shape[1]), value_name=weight_views.VALUE_NAMES[view],
            title=f"epoch {snapshot.epoch} (step {snapshot.step}){what}")

    return cached_for_model(run, f"replay:{index}:{spec}:{grid_columns()}:{proj}:{view}", build)


def replay_tab(run, spec: str, proj: bool, view: str = weight_views.RAW) -> None:
    snapshots, zmax = replay_frames(run, view)
    if len(snapshots) < 2:
        st.info("This run kept fewer than two weight snapshots, so there is nothing to replay.")
        return
    if analysis.n_conv_layers(run.network):
        st.markdown("Watch the first conv layer's filters form: at epoch 0 they are random "
                    "noise, then edge and stroke detectors appear. The colour range stays fixed at "
                    f"±{zmax:.3g} for every epoch, so a filter that gets stronger really grew.")
    elif view == weight_views.CHANGE:
        st.markdown("Watch what the units learn: at epoch 0 nothing has changed yet (blank), then strokes "
                    "grow out of nothing. The units keep their place (the order chosen above) and the colour "
                    f"range stays fixed at ±{zmax:.3g} for every epoch, so a tile that gets stronger really grew.")
    else:
        st.markdown("Watch the weights form: at epoch 0 they are random noise, then strokes "
                    "appear. The units keep their place (the order chosen above, taken from the "
                    "trained network) and the colour range stays fixed at "
                    f"±{zmax:.3g} for every epoch, so a tile that gets stronger really grew.")
    replay.player("epoch", len(snapshots), lambda index: chart(replay_figure(run, index, spec, proj, view),
                                                               "inside_replay_chart"),
                  format_func=lambda i: f"epoch {snapshots[i].epoch}", button_key="inside_play",
                  busy=state.job_pending())


def deeper_tab(run, proj: bool, view: str = weight_views.RAW) -> None:
    network = run.network
    if len(network.weights) < 2:
        st.info("This network has no hidden layer: its only weight matrix is the grid itself.")
        return
    st.markdown("Beyond the first layer, units listen to other units, not pixels, so each "
                "weight matrix is drawn whole: **rows = inputs** (the layer below), "
                "**columns = units** of the layer above."
                + (" Shown: what training changed, W − W₀." if view == weight_views.CHANGE else ""))
    matrix_charts(run, proj, first=2, kind="hidden", n_before=0, view=view)


def matrix_charts(run, proj: bool, first: int, kind: str, n_before: int, view: str = weight_views.RAW) -> None:
    """Weight matrices ``W[first] .. W[L]`` drawn whole, one chart each; the layers between
    are named "<kind> layer k", counting from the first one after ``n_before`` other layers."""
    network = run.network
    sizes = network.layer_sizes
    change = view == weight_views.CHANGE
    for layer in range(first, len(network.weights) + 1):
        last = layer == len(network.weights)
        below = f"{kind} layer {layer - 1 - n_before}"
        above = "output" if last else f"{kind} layer {layer - n_before}"
        values = weight_views.layer(network.weights[layer - 1], view, views_of(run), layer - 1) if change \
            else network.weights[layer - 1]
        fig = cached_for_model(run, f"matrix:{layer}:{proj}:{view}", lambda layer=layer, last=last, below=below,
                               above=above, values=values: weight_figures.matrix_heatmap_figure(
            values, projector=proj,
            title=("change of " if change else "") + f"W{layer}: {below} ({sizes[layer - 1]} units) → "
                  + (f"the {sizes[layer]} {noun(run, True)}" if last else f"{above} ({sizes[layer]} units)"),
            input_name=f"unit of {below}", output_name=noun(run) if last else f"unit of {above}",
            output_names=class_names(run) if last else None))
        chart(fig, f"inside_matrix_{layer}")


TEMPLATE_SHORT_NOTE = "hidden layers taken as linear: nonlinearity and biases ignored"


def templates_tab(run, proj: bool) -> None:
    templates = cached_for_model(run, "templates", lambda: analysis.linear_templates(run.network))
    st.markdown("The output layer seen through the hidden layer: multiplying the weight "
                f"matrices gives, for each {noun(run)}, one weight per pixel, a 28×28 *template* of "
                f"the ink that raises that {noun(run)}'s score.")
    fig = cached_for_model(run, f"templates_fig:{proj}", lambda: weight_figures.templates_figure(
        templates.templates, class_names(run), templates.approximate, projector=proj, title_prefix="",
        note=TEMPLATE_SHORT_NOTE if templates.approximate else None))
    chart(fig, "inside_templates_chart")
    if templates.approximate:
        st.caption(f"**Only an approximation.** {templates.note.replace('digit', noun(run))}")


CONV_TAB_WEIGHTS = ("Filters", "Epoch replay", "Dense layers")


FILTER_VIEW_LABELS = {"mean": "mean over the input maps", "channels": "every input map"}


def conv_weights(run) -> None:
    """The Weights page for a convolutional network: the filters of each conv layer, the
    first layer's filters epoch by epoch, and the dense layers after the flatten. (The
    dense page's 784-pixel unit grid and digit templates need pixels as the first
    layer's inputs: they have no counterpart here, the Dense layers tab says why.)"""
    proj = projector()
    tabs = lazy_tabs(CONV_TAB_WEIGHTS, "inside_conv_weights_tab", [lambda: filters_tab(run, proj),
                                                                   lambda: replay_tab(run, "index", proj),
                                                                   lambda: dense_after_conv_tab(run, proj)])
    if not tabs[1].open:
        replay.stop("epoch")  # leaving the replay pauses it


def conv_layer_choice(network, name: str, where) -> int:
    """A radio to pick one conv layer (none when there is only one); its index."""
    specs = network.conv_specs
    if len(specs) < 2:
        return 0
    names = [analysis.conv_layer_name(i, spec) for i, spec in enumerate(specs, 1)]
    key = bind(name, 0, lambda v: v in range(len(specs)))
    where.radio("Conv layer", range(len(specs)), format_func=names.__getitem__, key=key, horizontal=True)
    remember(name)
    return int(st.session_state[key])


def filters_figure(run, layer: int, view: str, proj: bool):
    """The filter grid of conv ``layer`` (cached per model, layer, view, layout)."""
    network = run.network
    kernel, spec = network.weights[layer], network.conv_specs[layer]
    n_in = kernel.shape[2]
    inputs = "the image" if layer == 0 else f"the {n_in} maps of conv{layer}"
    title = f"{analysis.conv_layer_name(layer + 1, spec)}: {spec.filters} filters on {inputs}"
    if n_in > 1:
        title += " (mean)" if view == "mean" else " (a row per filter, a column per input map)"
    name = f"filters:{layer}:{view}:{grid_columns()}:{proj}"
    return cached_for_model(run, name, lambda: conv_figures.filter_grid_figure(
        kernel, network.biases[layer], view=view, columns=grid_columns() if view == "mean" else None,
        projector=proj, title=title))


def filters_tab(run, proj: bool) -> None:
    network = run.network
    left, middle, right = st.columns([2, 2, 1])
    layer = conv_layer_choice(network, "conv_layer", left)
    spec = network.conv_specs[layer]
    n_in = network.weights[layer].shape[2]
    view = "mean"
    if n_in > 1:
        key = bind("filter_view", "mean", lambda v: v in tiles.FILTER_VIEWS)
        middle.radio("Show each filter's", tiles.FILTER_VIEWS, key=key, format_func=FILTER_VIEW_LABELS.get,
                     horizontal=True, help=f"A filter of conv{layer + 1} has a {spec.kernel}×{spec.kernel} "
                     f"slice of weights for each of the {n_in} maps it reads, and adds up what all of "
                     "them find.")
        remember("filter_view")
        view = st.session_state[key]
    columns_control(right, disabled=view == "channels")
    fig = filters_figure(run, layer, view, proj)
    chart(fig, "inside_filters_chart")
    zmax = fig.layout.meta["tiles"]["zmax"]
    reads = "the image" if layer == 0 else f"the {n_in} feature maps of conv{layer}"
    st.caption(
        f"Each tile: one filter's {spec.kernel}×{spec.kernel} weights "
        + ("on one input map (a row per filter, a column per map)" if view == "channels" and n_in > 1
           else "(its number above it)") + ". The filter slides over "
        f"{reads}: at every position it multiplies the patch under it by these weights, adds its bias, and "
        f"the result (after {activation_label(network)}) is one pixel of its feature map (see the "
        f"Activations page). Colours: ±{zmax:.3g}, one scale for every tile. Hover for each weight and the bias.")
    filter_detail(run, layer, zmax, proj)


def filter_detail(run, layer: int, zmax: float, proj: bool) -> None:
    network = run.network
    kernel, biases = network.weights[layer], network.biases[layer]
    n_in, n_filters = kernel.shape[2], kernel.shape[3]
    key = bind("filter", 0, index_in(n_filters))
    st.columns([1, 3])[0].number_input("Filter", 0, n_filters - 1, step=1, key=key,
                                       help="The filter shown large below.")
    remember("filter")
    f = int(st.session_state[key])
    bias = float(biases[f])
    picture, images = st.columns([2, 3])
    name = f"filter_detail:{layer}:{f}:{zmax}:{proj}"
    with picture:
        if n_in == 1:
            fig = cached_for_model(run, name, lambda: conv_figures.filter_detail_figure(
                kernel[:, :, 0, f], zmax=zmax, projector=proj, title=f"filter {f}: its weights"))
        else:
            fig = cached_for_model(run, name, lambda: conv_figures.filter_grid_figure(
                kernel[..., [f]], biases[[f]], view="channels", columns=min(n_in, 4), filter_ids=[f],
                zmax=zmax, projector=proj, width=480, title=f"filter {f}: its weights on each input map"))
        chart(fig, "inside_filter_detail_chart")
        st.caption(f"Bias {bias:+.3g}. ‖w‖ = {np.linalg.norm(kernel[..., f]):.3g}.")
    with images:
        data = state.dataset()
        n_images = cached_for_model(run, "filter_image_count",
                                    lambda: inspection.filter_image_count(network, data.train_images))
        top = cached_for_model(run, f"filter_images:{layer}:{f}", lambda: analysis.top_filter_images(
            network, data.train_images[:n_images], layer, f, inspection.TOP_IMAGES))
        captions = [f"{data.class_names[int(data.train_labels[i])]}  z={z:.1f}"
                    for i, z in zip(top.indices, top.pre_activations)]
        fig = cached_for_model(run, f"filter_images_fig:{layer}:{f}", lambda: image_figures.image_grid_figure(
            data.train_images[top.indices], captions, columns=3, height=340,
            title=f"training images where filter {f} responds most"))
        chart(fig, "inside_filter_images_chart")
        among = "" if n_images == len(data.train_images) else f" (of the first {n_images:,}: a big network)"
        st.caption(f"The {len(top.indices)} training images{among} whose feature map of filter {f} reaches "
                   "the largest z somewhere (corner: label and that z).")


def dense_after_conv_tab(run, proj: bool) -> None:
    network = run.network
    n_conv = analysis.n_conv_layers(network)
    height, width, n_filters = network.pooled_shapes[-1]
    first = network.weights[n_conv]  # (height * width * n_filters, n_out), rows in (y, x, filter) order
    is_output = n_conv == len(network.weights) - 1
    names = class_names(run)
    st.markdown(
        f"After the last conv layer, its {n_filters} pooled maps of {height}×{width} are **flattened** "
        f"into one list of {first.shape[0]:,} numbers, and the first dense layer gives each of its "
        + (f"outputs ({noun(run, True)})" if is_output else f"{first.shape[1]} units")
        + " one weight per position of every map. Drawn back as maps, the weights show **where in "
        "each feature map** it looks for evidence.")
    if is_output:
        key = bind("dense_class", 0, lambda v: v in range(len(names)))
        st.columns([1, 3])[0].selectbox(noun(run).capitalize(), range(len(names)), key=key,
                                        format_func=lambda c: names[c])
        remember("dense_class")
        unit = int(st.session_state[key])
        who = f"the score of {noun(run)} {names[unit]}"
    else:
        key = bind("dense_unit", 0, index_in(first.shape[1]))
        st.columns([1, 3])[0].number_input(f"Unit of dense layer 1 (0–{first.shape[1] - 1})", 0,
                                           first.shape[1] - 1, step=1, key=key)
        remember("dense_unit")
        unit = int(st.session_state[key])
        who = f"unit {unit} of dense layer 1"
    values = first[:, unit].reshape(height, width, n_filters)
    fig = cached_for_model(run, f"position_weights:{unit}:{proj}", lambda: conv_figures.position_weights_figure(
        values, projector=proj, title=f"W{n_conv + 1}: the weights from each filter's {height}×{width} "
                                      f"map to {who}"))
    chart(fig, "inside_position_weights_chart")
    st.caption(f"Tile f: filter f's map. Red: a strong response of that filter at that place raises {who}; "
               "blue lowers it. Hover for each weight.")
    matrix_charts(run, proj, first=n_conv + 2, kind="dense", n_before=n_conv)
    st.caption(f"No 784-pixel picture per unit and no {noun(run)} templates here: those multiply the "
               "weight matrices from the pixels up, which works for dense layers only. A conv layer "
               "with max pooling is not a matrix product (the pool keeps whichever position is "
               "largest), so the filters above are the first layer's picture.")




def view_control(run) -> str:
    """The choice between the learned change and the raw weights (the first time: the one
    whose pictures show more structure); returns the view."""
    views = views_of(run)
    if views.views == (weight_views.RAW,):
        st.caption("Only the weights as they are: this model kept no weights from before its first step (a "
                   "restored or uploaded model), so what training changed cannot be shown.")
        return weight_views.RAW
    key = bind("weights_view", views.default, lambda v: v in views.views)
    st.radio("Show", views.views, format_func=weight_views.VIEW_LABELS.get, key=key, horizontal=True,
             help="Every weight started random. The change since the start is what training added: it shows "
                  "what a unit learned, without the random start drawn over it.")
    remember("weights_view")
    correlation = views.correlation
    st.caption("How much the first layer's pictures look like strokes rather than noise (mean correlation of "
               f"neighbouring pixels, 0 = noise, 1 = smooth): change {correlation[weight_views.CHANGE]:.2f}, "
               f"weights as they are {correlation[weight_views.RAW]:.2f}. The page opens on the higher one.")
    return st.session_state[key]


def dense_weights(run) -> None:
    """The Weights page for a dense network: the unit grid, the replay, the deeper
    layers, the class templates, in the view chosen (learned change or raw weights)."""
    spec = ordering_controls(run.network, class_names(run))
    view = view_control(run)
    proj = projector()
    labels = [*TABS[:-1], f"{noun(run).capitalize()} templates"]
    tabs = lazy_tabs(labels, "inside_weights_tab", [lambda: units_tab(run, spec, proj, view),
                                                    lambda: replay_tab(run, spec, proj, view),
                                                    lambda: deeper_tab(run, proj, view),
                                                    lambda: templates_tab(run, proj)])
    if not tabs[1].open:
        replay.stop("epoch")  # leaving the replay pauses it


st.title("Weights")
model = state.model()
if model is not None and analysis.n_conv_layers(model.network):
    st.markdown(
        "This network starts with a **convolutional layer**: instead of 784 weights per "
        "unit, each *filter* has a few weights, a small k×k picture that slides over the "
        "whole image and looks for the same pattern everywhere. **Red** weights respond "
        "to ink, **blue** ones to its absence: a red stripe beside a blue one is an edge "
        "detector.")
else:
    st.markdown(
        "Every unit of the first hidden layer multiplies the 784 pixels by its own 784 "
        "weights: drawn as a 28×28 picture they show what the unit looks for. "
        "**Red** pixels push the unit up when inked, **blue** ones push it down, white "
        "ones are ignored.")
run = current_model("inside_weights_train_default", NOTHING_INSIDE)
if run is not None:
    (conv_weights if analysis.n_conv_layers(run.network) else dense_weights)(run)
