"""The Weights, Gradients and Activations pages: widgets, choices and per-session caching.

The pages in ``pages/`` are a few lines each; they call :func:`weights_page`,
:func:`gradients_page` and :func:`activations_page`. Every figure comes from the plain
functions of ``ui/figures/inside.py`` drawing the NumPy analysis of ``nn/analysis.py``.

Session-state keys (``st.session_state``, per user):

* ``"projector"`` -- read only: True when the projector toggle is on (larger fonts,
  higher-contrast colours: ``projector=True`` for every figure).
* ``"drawn_digit"`` (:data:`DRAWN_DIGIT`) -- read only: the drawing of the Draw page,
  a ``(784,)`` float array in [0, 1] (row-major 28 x 28, ink = 1). When it holds one,
  the Activations page offers it as a source ("Drawn digit").
* ``"inside_cache"`` (:data:`CACHE`) -- computed figures and results for the current
  model, at most :data:`CACHE_SIZE`, forgotten when the model changes.
* ``"inside_choices"`` (:data:`CHOICES`) -- the pages' remembered choices (ordering,
  unit, epoch, selected class...). Streamlit forgets a widget's value when it is not
  drawn (another page, another tab); each widget is pre-filled from here.
* ``"inside_<name>"`` -- the widgets themselves; ``"inside_gradcheck"`` holds the
  latest gradient check of the current model.

Nothing here is shared between users: the only process-wide data is the read-only
dataset from ``ui.state``.

Classes are named as the model names them (``run.class_names``: "0".."9" for digits,
"A".."Z" for EMNIST letters) and the pages say "digit", "letter" or "character" to match
(``state.noun``). Pages that feed the data's images to the model (Activations, the
Saliency and Gradient check tabs) refuse a model whose output count is not the data's.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from lab.settings import ACTIVATION_LABELS
from nn import analysis as ins
from nn.gradcheck import gradient_check
from nn.training import predict_proba
from ui.figures import inside as figs
from ui.figures import tiles

from . import state

PROJECTOR = "projector"
DRAWN_DIGIT = "drawn_digit"
CACHE = "inside_cache"
CHOICES = "inside_choices"
GRADCHECK = "inside_gradcheck"
PREFIX = "inside_"
CACHE_SIZE = 24

PLAY_SECONDS = 1.0  # one epoch per second while the replay plays
TOP_IMAGES = 9  # training images shown for a unit
FILTER_IMAGES_SECONDS = 1.0  # time budget for finding the images a filter responds to most
MIN_FILTER_IMAGES = 500  # ... scanning at least this many training images
TOP_UNITS = 8  # contributing units whose weight maps are shown
GRADCHECK_BATCH = 8
GRADCHECK_SECONDS = 1.0  # time budget of the finite differences (the check stays under 2 s)
GRADCHECK_ENTRIES = (4, 40)  # bounds of the entries checked per array

CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
TAB_WEIGHTS = ("All units", "Epoch replay", "Deeper layers", "Digit templates")  # "Letter templates"...
TAB_GRADIENTS = ("Over training", "Latest step", "Saliency", "Gradient check")


# ---------------------------------------------------------------------------------
# Shared helpers: projector flag, remembered choices, per-session cache, "no model yet"
# ---------------------------------------------------------------------------------


def projector() -> bool:
    return bool(st.session_state.get(PROJECTOR, False))


def drawn_digit() -> np.ndarray | None:
    """The Draw page's drawing as a (784,) float32 array in [0, 1], or None."""
    value = st.session_state.get(DRAWN_DIGIT)
    if value is None:
        return None
    try:
        image = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        return None
    if image.size != 784 or not np.all(np.isfinite(image)):
        return None
    return np.clip(image, 0, 1)


def _choices() -> dict:
    return st.session_state.setdefault(CHOICES, {})


def bind(name: str, default, valid: Callable[[object], bool] = lambda _: True) -> str:
    """Widget key for choice ``name``, pre-filled from the remembered choice (or ``default``
    when the remembered one is no longer ``valid``, e.g. a unit beyond a narrower model)."""
    key = PREFIX + name
    remembered = _choices().get(name, default)
    if not _safe(valid, remembered):
        remembered = default
    if key not in st.session_state or not _safe(valid, st.session_state[key]):
        st.session_state[key] = remembered
    return key


def _safe(valid, value) -> bool:
    try:
        return bool(valid(value))
    except Exception:  # a malformed remembered value is simply replaced
        return False


def remember(name: str) -> None:
    """Store widget ``name``'s current value as the remembered choice."""
    _choices()[name] = st.session_state[PREFIX + name]


def choose(name: str, value) -> None:
    """Set choice ``name`` (and its widget, when not drawn yet in this run)."""
    _choices()[name] = value
    st.session_state[PREFIX + name] = value


def run_key(run) -> tuple:
    """Identifies a model within the session (a new run or a Reset changes it)."""
    return run.number, id(run.network)


def cached(run, name: str, build: Callable[[], object]):
    """``build()`` once per (model, ``name``) for this session; an LRU of CACHE_SIZE."""
    store = st.session_state.get(CACHE)
    if store is None or store.get("run") != run_key(run):
        store = {"run": run_key(run), "items": OrderedDict()}
        st.session_state[CACHE] = store
    items: OrderedDict = store["items"]
    if name in items:
        items.move_to_end(name)
        return items[name]
    value = build()
    items[name] = value
    while len(items) > CACHE_SIZE:
        items.popitem(last=False)
    return value


def current_model(page: str):
    """The current Run, or None after saying so and offering the one-click training."""
    run = state.model()
    pending = state.job_pending()
    if run is None:
        last = state.job()
        if last is not None and not pending and last.done:
            st.warning(f"The last run left no model: {last.snapshot().message}",
                       icon=":material/warning:")
        st.info("No model yet: there is nothing to look inside until a network has been "
                f"trained. The default network (784 → 128 ReLU → {len(state.class_names())}) "
                "trains in a few seconds; this page fills in as soon as it is done.",
                icon=":material/info:")
        st.button("Train a good default model", type="primary", icon=":material/play_arrow:",
                  on_click=state.train_default_model, disabled=pending,
                  key=f"{PREFIX}{page}_train_default")
        # Stay on this page (the Home page's button switches to Train instead); the
        # sidebar polls the job and reruns the app when it is done.
        st.session_state.pop(state.GO_TO_TRAIN, None)
        if pending:
            st.caption("Training… follow it in the sidebar (or its curves on the Train page).")
        return None
    if pending:
        st.caption("A new run is training: this page shows the current model until it is done.")
    return run


def class_names(run) -> tuple[str, ...]:
    """What the model's output units stand for ("0".."9", "A".."Z"...)."""
    return tuple(run.class_names)


def noun(run, plural: bool = False) -> str:
    """"digit", "letter" or "character": one of the model's classes."""
    return state.noun(plural, class_names(run))


def refuse_mismatch(run) -> bool:
    """True (after saying why) when the model's outputs are not the data's classes."""
    message = state.model_mismatch(run)
    if message:
        st.warning(message, icon=":material/block:")
    return bool(message)


def weight_tabs(run) -> list[str]:
    """The Weights page's tabs; the last is named after the classes ("Letter templates")."""
    return [*TAB_WEIGHTS[:-1], f"{noun(run).capitalize()} templates"]


def _chart(fig, key: str, **kwargs):
    return st.plotly_chart(fig, key=key, config=CHART_CONFIG, **kwargs)


def _layer_names(network) -> list[str]:
    """``W1 784→128``..., with ``conv1 (8@5×5)``... for a convolutional network's conv layers."""
    return ins.layer_names(network)


def _hidden_names(network) -> list[str]:
    """A name per hidden layer (every layer but the output): ``hidden layer 1``... for a
    dense network; ``conv1 (8@5×5)``..., then ``dense layer 1``... for a convolutional one."""
    n_conv = ins.n_conv_layers(network)
    if not n_conv:
        return [f"hidden layer {i}" for i in range(1, len(network.weights))]
    return _layer_names(network)[:n_conv] + [f"dense layer {i}" for i in range(1, len(network.weights) - n_conv)]


def _activation_label(network) -> str:
    return ACTIVATION_LABELS.get(network.activation, network.activation)


# ---------------------------------------------------------------------------------
# Unit ordering (shared by the Weights page's grid, its replay and the gradient maps)
# ---------------------------------------------------------------------------------

ORDER_LABELS = {"index": "unit index", "norm": "weight norm (largest first)",
                "digit": "how strongly it drives digit…"}  # "digit" stands for any class here


def order_labels(names) -> dict[str, str]:
    return {**ORDER_LABELS, "digit": f"how strongly it drives {state.noun(names=names)}…"}


def order_spec() -> str:
    """The remembered ordering as ``nn.analysis.unit_order``'s ``by`` ("index", "norm", "digit:K",
    K being a class number)."""
    by = _choices().get("order", "index")
    return f"digit:{int(_choices().get('order_digit', 0))}" if by == "digit" else by


def order_label(spec: str, names=None) -> str:
    if spec.startswith("digit:"):
        k = int(spec.split(":")[1])
        names = names or state.class_names()
        name = names[k] if 0 <= k < len(names) else str(k)
        return f"drive towards {state.noun(names=names)} {name}"
    return ORDER_LABELS.get(spec, spec)


COLUMN_CHOICES = ("auto", 4, 8, 16, 32)


def grid_columns() -> int | None:
    """Tiles per row of the weight grids: None = automatic (about 1.6 times wider than tall)."""
    value = _choices().get("columns", "auto")
    return None if value == "auto" else int(value)


def ordering_controls(network, names=None) -> str:
    left, right, third = st.columns([2, 1, 1])
    third.selectbox("Tiles per row", COLUMN_CHOICES, key=bind("columns", "auto",
                                                              lambda v: v in COLUMN_CHOICES),
                    help="Fewer tiles per row make bigger tiles: handy on a phone or a projector.")
    remember("columns")
    names = tuple(names) if names is not None else state.class_names()
    labels = order_labels(names)
    left.selectbox("Order the units by", list(labels), format_func=labels.get,
                   key=bind("order", "index", lambda v: v in ORDER_LABELS),
                   help="Weight norm: the units with the largest incoming weights first. "
                        f"Drive: the units whose outgoing weights push that {state.noun(names=names)}'s "
                        "score up most come first, the ones pushing it down last.")
    remember("order")
    if st.session_state[PREFIX + "order"] == "digit":
        k = len(names)
        right.selectbox(state.noun(names=names).capitalize(), range(k), format_func=lambda c: names[c],
                        key=bind("order_digit", 0, lambda v: v in range(k)))
        remember("order_digit")
        if len(network.weights) > 2:
            st.caption("With several hidden layers the drive is the product of the weights "
                       "above the first layer: a linear approximation.")
    return order_spec()


def unit_order(run, spec: str) -> np.ndarray:
    if spec.startswith("digit:") and int(spec.split(":")[1]) >= run.network.layer_sizes[-1]:
        spec = "index"  # a class remembered from a model with more outputs
    return cached(run, f"order:{spec}", lambda: ins.unit_order(run.network, spec))


# ---------------------------------------------------------------------------------
# Weights page
# ---------------------------------------------------------------------------------


def grid_budget(n_units: int) -> int:
    """Payload budget of the grid itself: the issue's budget minus the click targets."""
    return figs.payload_budget(n_units) - figs.click_targets_bytes(n_units)


def grid_name(spec: str, selected: int | None, proj: bool) -> str:
    return f"grid:{spec}:{grid_columns()}:{selected}:{proj}"


def weight_grid(run, spec: str, selected: int | None, proj: bool):
    """The clickable first-layer weight grid (cached per model, order, layout, selection)."""
    w1 = run.network.weights[0]

    def build():
        order = unit_order(run, spec)
        fig = figs.weight_grid_figure(
            w1, order, grid_columns(), selected=selected, projector=proj,
            max_bytes=grid_budget(w1.shape[1]),
            title=f"{w1.shape[1]} units, ordered by {order_label(spec, class_names(run))}")
        norms = np.linalg.norm(w1[:, order].astype(np.float64), axis=0)
        return figs.add_click_targets(fig, norms=norms)

    return cached(run, grid_name(spec, selected, proj), build)


def unit_from_selection(selection, fig) -> int | None:
    """The unit a click on the grid picked: ``selection`` is ``st.plotly_chart``'s event
    (``{"selection": {"points": [{"x", "y", ...}]}}``), ``fig`` the grid it was made on."""
    try:
        points = selection["selection"]["points"]
    except (KeyError, TypeError):
        return None
    layout = figs.grid_layout_of(fig)
    for point in points or []:
        try:
            unit = layout.unit_at(point["x"], point["y"])
        except (KeyError, TypeError, ValueError):
            continue
        if unit is not None:
            return unit
    return None


def _on_grid_click(fig_name: str, chart_key: str) -> None:
    fig = st.session_state.get(CACHE, {}).get("items", {}).get(fig_name)
    event = st.session_state.get(chart_key)
    if fig is None or event is None:
        return
    unit = unit_from_selection(event, fig)
    if unit is not None:
        choose("unit", unit)


def weights_page() -> None:
    st.title("Weights")
    model = state.model()
    if model is not None and ins.is_convolutional(model.network):
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
    run = current_model("weights")
    if run is None:
        return
    network = run.network
    if ins.is_convolutional(network):
        conv_weights(run)
        return
    spec = ordering_controls(network, class_names(run))
    tabs = st.tabs(weight_tabs(run), key=PREFIX + "weights_tab", on_change="rerun")
    proj = projector()
    with tabs[0]:
        if tabs[0].open:
            _units_tab(run, spec, proj)
    with tabs[1]:
        if tabs[1].open:
            _replay_tab(run, spec, proj)
        else:
            _choices()["playing"] = False  # leaving the replay pauses it
    with tabs[2]:
        if tabs[2].open:
            _deeper_tab(run, proj)
    with tabs[3]:
        if tabs[3].open:
            _templates_tab(run, proj)


def _units_tab(run, spec: str, proj: bool) -> None:
    network = run.network
    n_units = network.weights[0].shape[1]
    unit_key = bind("unit", 0, lambda v: isinstance(v, int | np.integer) and 0 <= v < n_units)
    unit = int(st.session_state[unit_key])
    fig = weight_grid(run, spec, unit, proj)
    fig_name = grid_name(spec, unit, proj)
    st.caption("Each tile: one unit's 784 incoming weights as a 28×28 picture. **Click a tile** "
               "(or type a unit's number below) to see that unit large. Colours: "
               f"±{fig.layout.meta['grid']['zmax']:.3g}, the same scale for every tile.")
    # A new key per picked unit starts each grid with no selection, so a click on any tile
    # (even the one clicked before the number was typed) is a change that reaches us.
    chart_key = f"{PREFIX}grid_chart_{unit}"
    _chart(fig, chart_key, on_select=lambda: _on_grid_click(fig_name, chart_key),
           selection_mode="points")
    left, _ = st.columns([1, 3])
    left.number_input("Unit", 0, n_units - 1, step=1, key=unit_key,
                      help="The unit shown large below; clicking a tile sets it too.")
    remember("unit")
    unit = int(st.session_state[unit_key])
    _unit_detail(run, unit, fig.layout.meta["grid"]["zmax"], proj)


def _unit_detail(run, unit: int, zmax: float, proj: bool) -> None:
    network = run.network
    w, bias = network.weights[0][:, unit], float(network.biases[0][unit])
    outgoing = network.weights[1][unit] if len(network.weights) > 1 else None
    picture, bars, images = st.columns(3)
    with picture:
        fig = cached(run, f"unit_map:{unit}:{zmax}:{proj}", lambda: figs.weight_grid_figure(
            w[:, None], unit_ids=[unit], zmax=zmax, mode="heatmap", projector=proj, height=340,
            title=f"unit {unit}: incoming weights"))
        _chart(fig, PREFIX + "unit_map")
        st.caption(f"z = pixels · weights + bias ({bias:+.3g}), then {_activation_label(network)}(z). "
                   f"‖w‖ = {np.linalg.norm(w):.3g}. Hover for each weight.")
    with bars:
        if outgoing is None:  # no hidden layer (a loaded model): these units are the outputs
            st.caption(f"This network has no hidden layer: these units are the {noun(run, True)}' scores.")
        else:
            to_digits = len(network.weights) == 2
            title = f"unit {unit} → the {len(outgoing)} {noun(run, True)}" if to_digits else \
                f"unit {unit} → the {len(outgoing)} units of hidden layer 2"
            fig = cached(run, f"unit_out:{unit}:{proj}", lambda: figs.outgoing_weights_figure(
                outgoing, class_names(run) if to_digits else None, unit=unit, title=title, projector=proj))
            _chart(fig, PREFIX + "unit_outgoing")
            st.caption("Outgoing weights: how much this unit's output adds to each "
                       + (f"{noun(run)}'s score." if to_digits else "unit of the next layer."))
    with images:
        data = state.dataset()
        top = cached(run, f"exciting:{unit}", lambda: ins.top_exciting_images(
            network, data.train_images, unit, TOP_IMAGES))
        captions = [f"{data.class_names[int(data.train_labels[i])]}  z={z:.1f}"
                    for i, z in zip(top.indices, top.pre_activations)]
        fig = cached(run, f"exciting_fig:{unit}", lambda: figs.image_grid_figure(
            data.train_images[top.indices], captions, columns=3,
            title="training images exciting it most", height=340))
        _chart(fig, PREFIX + "exciting_images")
        st.caption(f"The {len(top.indices)} training images with the largest z for unit {unit} "
                   "(corner: label and z).")


def replay_frames(run):
    """(snapshots, zmax): the stored weight snapshots and one colour limit for all of them."""
    snapshots = run.history.snapshots
    if len(snapshots) < 1:
        return snapshots, 1.0
    return snapshots, cached(run, "replay_zmax", lambda: tiles.replay_zmax(snapshots))


def replay_figure(run, index: int, spec: str, proj: bool):
    snapshots, zmax = replay_frames(run)
    snapshot = snapshots[index]

    def build():
        w1 = snapshot.weights[0]
        if w1.ndim == 4:  # a convolutional network: its first layer's filters
            return figs.filter_grid_figure(
                w1, snapshot.biases[0], columns=grid_columns(), zmax=zmax, projector=proj,
                title=f"conv1 filters at epoch {snapshot.epoch} (step {snapshot.step})")
        return figs.weight_grid_figure(
            w1, unit_order(run, spec), grid_columns(), zmax=zmax, projector=proj,
            max_bytes=figs.payload_budget(w1.shape[1]),
            title=f"epoch {snapshot.epoch} (step {snapshot.step})")

    return cached(run, f"replay:{index}:{spec}:{grid_columns()}:{proj}", build)


def _toggle_play(last: int) -> None:
    playing = not _choices().get("playing", False)
    if playing:
        if _choices().get("epoch", last) >= last:
            choose("epoch", 0)  # play again from the start
        _choices()["hold"] = True  # show the current epoch first, then advance
    _choices()["playing"] = playing


def _stop_playing() -> None:
    _choices()["playing"] = False
    remember("epoch")


def _replay_tab(run, spec: str, proj: bool) -> None:
    snapshots, zmax = replay_frames(run)
    if len(snapshots) < 2:
        st.info("This run kept fewer than two weight snapshots, so there is nothing to replay.")
        return
    last = len(snapshots) - 1
    busy = state.job_pending()  # the sidebar's timer polls the job: one timer per page
    if busy:
        _choices()["playing"] = False
    playing = bool(_choices().get("playing", False))
    if ins.is_convolutional(run.network):
        st.markdown("Watch the first conv layer's filters form: at epoch 0 they are random "
                    "noise, then edge and stroke detectors appear. The colour range stays fixed at "
                    f"±{zmax:.3g} for every epoch, so a filter that gets stronger really grew.")
    else:
        st.markdown("Watch the weights form: at epoch 0 they are random noise, then strokes "
                    "appear. The units keep their place (the order chosen above, taken from the "
                    "trained network) and the colour range stays fixed at "
                    f"±{zmax:.3g} for every epoch, so a tile that gets stronger really grew.")
    st.button("Pause" if playing else "Play", icon=":material/pause:" if playing else
              ":material/play_arrow:", key=PREFIX + "play", on_click=_toggle_play, args=(last,),
              disabled=busy, help="Plays once a running training is done." if busy else None)

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def frame() -> None:
        valid = lambda v: isinstance(v, int | np.integer) and 0 <= v <= last
        index = int(_choices().get("epoch", last)) if valid(_choices().get("epoch", last)) else last
        if _choices().get("playing", False) and not _choices().pop("hold", False):
            index = min(index + 1, last)
            choose("epoch", index)
        key = bind("epoch", last, valid)
        st.select_slider("Epoch", options=list(range(len(snapshots))), key=key,
                         format_func=lambda i: f"epoch {snapshots[i].epoch}",
                         on_change=_stop_playing)
        remember("epoch")
        index = int(st.session_state[key])
        _chart(replay_figure(run, index, spec, proj), PREFIX + "replay_chart")
        if _choices().get("playing", False) and index >= last:
            _choices()["playing"] = False
            st.rerun()  # stop the timer: a full rerun redraws Play

    frame()


def _deeper_tab(run, proj: bool) -> None:
    network = run.network
    if len(network.weights) < 2:
        st.info("This network has no hidden layer: its only weight matrix is the grid itself.")
        return
    st.markdown("Beyond the first layer, units listen to other units, not pixels, so each "
                "weight matrix is drawn whole: **rows = inputs** (the layer below), "
                "**columns = units** of the layer above.")
    _matrix_charts(run, proj, first=2, kind="hidden", n_before=0)


def _matrix_charts(run, proj: bool, first: int, kind: str, n_before: int) -> None:
    """Weight matrices ``W[first] .. W[L]`` drawn whole, one chart each; the layers between
    are named "<kind> layer k", counting from the first one after ``n_before`` other layers."""
    network = run.network
    sizes = network.layer_sizes
    for layer in range(first, len(network.weights) + 1):
        last = layer == len(network.weights)
        below = f"{kind} layer {layer - 1 - n_before}"
        above = "output" if last else f"{kind} layer {layer - n_before}"
        fig = cached(run, f"matrix:{layer}:{proj}", lambda layer=layer, last=last, below=below,
                     above=above: figs.matrix_heatmap_figure(
            network.weights[layer - 1], projector=proj,
            title=f"W{layer}: {below} ({sizes[layer - 1]} units) → "
                  + (f"the {sizes[layer]} {noun(run, True)}" if last else f"{above} ({sizes[layer]} units)"),
            input_name=f"unit of {below}", output_name=noun(run) if last else f"unit of {above}",
            output_names=class_names(run) if last else None))
        _chart(fig, f"{PREFIX}matrix_{layer}")


TEMPLATE_SHORT_NOTE = "hidden layers taken as linear: nonlinearity and biases ignored"


def _templates_tab(run, proj: bool) -> None:
    templates = cached(run, "templates", lambda: ins.linear_templates(run.network))
    st.markdown("The output layer seen through the hidden layer: multiplying the weight "
                f"matrices gives, for each {noun(run)}, one weight per pixel, a 28×28 *template* of "
                f"the ink that raises that {noun(run)}'s score.")
    fig = cached(run, f"templates_fig:{proj}", lambda: figs.templates_figure(
        templates.templates, class_names(run), templates.approximate, projector=proj, title_prefix="",
        note=TEMPLATE_SHORT_NOTE if templates.approximate else None))
    _chart(fig, PREFIX + "templates_chart")
    if templates.approximate:
        st.caption(f"**Only an approximation.** {templates.note.replace('digit', noun(run))}")


# ---------------------------------------------------------------------------------
# Weights page: convolutional networks (issue 9)
# ---------------------------------------------------------------------------------

CONV_TAB_WEIGHTS = ("Filters", "Epoch replay", "Dense layers")
FILTER_VIEW_LABELS = {"mean": "mean over the input maps", "channels": "every input map"}


def conv_weights(run) -> None:
    """The Weights page for a convolutional network: the filters of each conv layer, the
    first layer's filters epoch by epoch, and the dense layers after the flatten. (The
    dense page's 784-pixel unit grid and digit templates need pixels as the first
    layer's inputs: they have no counterpart here, the Dense layers tab says why.)"""
    proj = projector()
    tabs = st.tabs(list(CONV_TAB_WEIGHTS), key=PREFIX + "conv_weights_tab", on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            _filters_tab(run, proj)
    with tabs[1]:
        if tabs[1].open:
            _replay_tab(run, "index", proj)
        else:
            _choices()["playing"] = False  # leaving the replay pauses it
    with tabs[2]:
        if tabs[2].open:
            _dense_after_conv_tab(run, proj)


def _conv_layer_choice(network, name: str, where) -> int:
    """A radio to pick one conv layer (none when there is only one); its index."""
    specs = network.conv_specs
    if len(specs) < 2:
        return 0
    names = [ins.conv_layer_name(i, spec) for i, spec in enumerate(specs, 1)]
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
    title = f"{ins.conv_layer_name(layer + 1, spec)}: {spec.filters} filters on {inputs}"
    if n_in > 1:
        title += " (mean)" if view == "mean" else " (a row per filter, a column per input map)"
    return cached(run, f"filters:{layer}:{view}:{grid_columns()}:{proj}", lambda: figs.filter_grid_figure(
        kernel, network.biases[layer], view=view, columns=grid_columns() if view == "mean" else None,
        projector=proj, title=title))


def _filters_tab(run, proj: bool) -> None:
    network = run.network
    left, middle, right = st.columns([2, 2, 1])
    layer = _conv_layer_choice(network, "conv_layer", left)
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
    right.selectbox("Tiles per row", COLUMN_CHOICES, key=bind("columns", "auto", lambda v: v in COLUMN_CHOICES),
                    disabled=view == "channels", help="Fewer tiles per row make bigger tiles.")
    remember("columns")
    fig = filters_figure(run, layer, view, proj)
    _chart(fig, PREFIX + "filters_chart")
    zmax = fig.layout.meta["tiles"]["zmax"]
    reads = "the image" if layer == 0 else f"the {n_in} feature maps of conv{layer}"
    st.caption(
        f"Each tile: one filter's {spec.kernel}×{spec.kernel} weights "
        + ("on one input map (a row per filter, a column per map)" if view == "channels" and n_in > 1
           else "(its number above it)") + ". The filter slides over "
        f"{reads}: at every position it multiplies the patch under it by these weights, adds its bias, and "
        f"the result (after {_activation_label(network)}) is one pixel of its feature map (see the "
        f"Activations page). Colours: ±{zmax:.3g}, one scale for every tile. Hover for each weight and the bias.")
    _filter_detail(run, layer, zmax, proj)


def _filter_detail(run, layer: int, zmax: float, proj: bool) -> None:
    network = run.network
    kernel, biases = network.weights[layer], network.biases[layer]
    n_in, n_filters = kernel.shape[2], kernel.shape[3]
    key = bind("filter", 0, lambda v: isinstance(v, int | np.integer) and 0 <= v < n_filters)
    st.columns([1, 3])[0].number_input("Filter", 0, n_filters - 1, step=1, key=key,
                                       help="The filter shown large below.")
    remember("filter")
    f = int(st.session_state[key])
    bias = float(biases[f])
    picture, images = st.columns([2, 3])
    with picture:
        if n_in == 1:
            fig = cached(run, f"filter_detail:{layer}:{f}:{zmax}:{proj}", lambda: figs.filter_detail_figure(
                kernel[:, :, 0, f], zmax=zmax, projector=proj, title=f"filter {f}: its weights"))
        else:
            fig = cached(run, f"filter_detail:{layer}:{f}:{zmax}:{proj}", lambda: figs.filter_grid_figure(
                kernel[..., [f]], biases[[f]], view="channels", columns=min(n_in, 4), filter_ids=[f],
                zmax=zmax, projector=proj, width=480, title=f"filter {f}: its weights on each input map"))
        _chart(fig, PREFIX + "filter_detail_chart")
        st.caption(f"Bias {bias:+.3g}. ‖w‖ = {np.linalg.norm(kernel[..., f]):.3g}.")
    with images:
        data = state.dataset()
        n_images = cached(run, "filter_image_count", lambda: filter_image_count(network, data.train_images))
        top = cached(run, f"filter_images:{layer}:{f}", lambda: ins.top_filter_images(
            network, data.train_images[:n_images], layer, f, TOP_IMAGES))
        captions = [f"{data.class_names[int(data.train_labels[i])]}  z={z:.1f}"
                    for i, z in zip(top.indices, top.pre_activations)]
        fig = cached(run, f"filter_images_fig:{layer}:{f}", lambda: figs.image_grid_figure(
            data.train_images[top.indices], captions, columns=3, height=340,
            title=f"training images where filter {f} responds most"))
        _chart(fig, PREFIX + "filter_images_chart")
        among = "" if n_images == len(data.train_images) else f" (of the first {n_images:,}: a big network)"
        st.caption(f"The {len(top.indices)} training images{among} whose feature map of filter {f} reaches "
                   "the largest z somewhere (corner: label and that z).")


def filter_image_count(network, images) -> int:
    """How many training images :func:`ins.top_filter_images` can scan within
    FILTER_IMAGES_SECONDS (all of them for small networks; measured on 64 images).
    The biggest conv network the page allows takes ~5 ms an image: all 4,500 would take 22 s."""
    sample = np.asarray(images[:64], dtype=network.dtype) / network.dtype.type(255)
    start = time.perf_counter()
    network.forward(sample, record=True)
    per_image = max((time.perf_counter() - start) / max(len(sample), 1), 1e-7)
    return int(min(len(images), max(MIN_FILTER_IMAGES, FILTER_IMAGES_SECONDS / per_image)))


def _dense_after_conv_tab(run, proj: bool) -> None:
    network = run.network
    n_conv = ins.n_conv_layers(network)
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
        key = bind("dense_unit", 0, lambda v: isinstance(v, int | np.integer) and 0 <= v < first.shape[1])
        st.columns([1, 3])[0].number_input(f"Unit of dense layer 1 (0–{first.shape[1] - 1})", 0,
                                           first.shape[1] - 1, step=1, key=key)
        remember("dense_unit")
        unit = int(st.session_state[key])
        who = f"unit {unit} of dense layer 1"
    values = first[:, unit].reshape(height, width, n_filters)
    fig = cached(run, f"position_weights:{unit}:{proj}", lambda: figs.position_weights_figure(
        values, projector=proj, title=f"W{n_conv + 1}: the weights from each filter's {height}×{width} "
                                      f"map to {who}"))
    _chart(fig, PREFIX + "position_weights_chart")
    st.caption(f"Tile f: filter f's map. Red: a strong response of that filter at that place raises {who}; "
               "blue lowers it. Hover for each weight.")
    _matrix_charts(run, proj, first=n_conv + 2, kind="dense", n_before=n_conv)
    st.caption(f"No 784-pixel picture per unit and no {noun(run)} templates here: those multiply the "
               "weight matrices from the pixels up, which works for dense layers only. A conv layer "
               "with max pooling is not a matrix product (the pool keeps whichever position is "
               "largest), so the filters above are the first layer's picture.")


def _filter_gradients(run, grads, step, proj: bool) -> None:
    """The Gradients page's first-layer maps for a convolutional network: dJ/dw of each
    first-layer filter, k x k."""
    spec = run.network.conv_specs[0]
    st.markdown(f"**First-layer gradient maps**: for each filter of "
                f"{ins.conv_layer_name(1, spec)}, the gradient of the loss with respect to its "
                f"{spec.kernel}×{spec.kernel} weights, drawn like its weights on the Weights page. "
                "A filter's gradient adds up what every position of every image of the batch asks of it.")
    fig = cached(run, f"grad_filters:{grid_columns()}:{proj}", lambda: figs.filter_grid_figure(
        grads, value_name="dJ/dw", columns=grid_columns(), projector=proj,
        title=f"conv1 filter gradients dJ/dw at step {step}"))
    _chart(fig, PREFIX + "grad_filters_chart")
    st.caption("Red: increasing that weight would raise the loss, so gradient descent lowers "
               "it; blue: the opposite.")


# ---------------------------------------------------------------------------------
# Activations page: convolutional networks (issue 9)
# ---------------------------------------------------------------------------------


def _feature_maps(run, trace, proj: bool) -> None:
    """Each conv layer's feature maps for the traced image: after the activation, and
    after the 2x2 max pool (what the next layer reads)."""
    network = run.network
    st.subheader("Convolution layers")
    activation = _activation_label(network)
    for layer, (spec, maps, z, pooled) in enumerate(zip(network.conv_specs, trace.feature_maps,
                                                        trace.map_pre_activations, trace.pooled_maps)):
        name = ins.conv_layer_name(layer + 1, spec)
        height, width, n_filters = maps.shape
        source = "the image" if layer == 0 else f"the maps of conv{layer}"
        st.markdown(f"**{name}**: {n_filters} filters slide over {source}; each makes one feature map of "
                    f"{height}×{width}, bright where it found its pattern.")
        left, right = st.columns(2) if spec.pool else (st.container(), None)
        zmax = float(np.abs(maps).max(initial=0.0)) or 1.0  # one range for both figures
        with left:
            _chart(figs.feature_maps_figure(maps, z, zmax=zmax, projector=proj, width=540 if spec.pool else 900,
                                            title=f"{n_filters} maps of {height}×{width} after {activation}"),
                   f"{PREFIX}maps_{layer + 1}_chart")
        if right is not None:
            ph, pw, _ = pooled.shape
            with right:
                _chart(figs.feature_maps_figure(pooled, zmax=zmax, projector=proj, width=540,
                                                title=f"after the 2×2 max pool: {ph}×{pw}"),
                       f"{PREFIX}pooled_{layer + 1}_chart")
    st.caption("One tile per filter (its number in the corner), all on one colour scale. Hover a pixel "
               f"for its z (the weighted patch + bias) and {activation}(z). The max pool keeps the largest "
               "of every 2×2 block: half the size, the strongest responses kept.")


def _explained_class(run, trace) -> int:
    """The class whose score the contribution charts explain: the predicted one, or one picked."""
    names = class_names(run)
    options = [PREDICTED, *range(len(names))]
    key = bind("contrib_class", PREDICTED, lambda v: v in options)
    choice = st.columns([1, 2])[0].selectbox(
        f"Explain the score of {noun(run)}", options, key=key,
        format_func=lambda d: f"the predicted one ({names[trace.predicted]})" if d == PREDICTED else names[d])
    remember("contrib_class")
    return trace.predicted if choice == PREDICTED else int(choice)


def _filter_contributions(run, picked: PickedDigit, trace, proj: bool) -> None:
    """For a conv network whose pooled maps feed the output layer: each filter's share of
    one class's logit, and where in its map that share comes from."""
    network = run.network
    st.subheader("Which filters built the answer")
    names = class_names(run)
    target = _explained_class(run, trace)
    result = ins.filter_contributions(network, picked.image, target)
    target_name = names[target]
    filters = np.arange(len(result.totals))
    _chart(figs.contributions_figure(filters, result.totals, result.bias, result.logit, class_name=target_name,
                                     unit_name="filter", projector=proj), PREFIX + "contributions_chart")
    height, width, _ = result.maps.shape
    _chart(figs.position_weights_figure(result.maps, value_name="a × w", projector=proj,
                                        title=f"where the evidence for “{target_name}” came from: "
                                              f"pooled map × weight, {height}×{width} per filter"),
           PREFIX + "contribution_maps_chart")
    st.caption(f"Every pooled pixel adds its activation × its weight to the score of {target_name}. "
               f"Summed per filter (the bars) plus the bias ({result.bias:+.3g}) they make the logit "
               f"z = {result.logit:.3g}. In the maps, red places argue for {target_name}, blue ones against.")


# ---------------------------------------------------------------------------------
# Gradients page
# ---------------------------------------------------------------------------------

STATUS_ICONS = {"healthy": ":green[:material/check_circle:]",
                "vanishing": ":blue[:material/trending_down:]",
                "exploding": ":orange[:material/warning:]"}


def gradients_page() -> None:
    st.title("Gradients")
    st.markdown(
        "Backpropagation tells every weight which way to move to lower the loss: the "
        "gradient dJ/dW. Its size per layer says whether the layer is still learning.")
    run = current_model("gradients")
    if run is None:
        return
    tabs = st.tabs(list(TAB_GRADIENTS), key=PREFIX + "gradients_tab", on_change="rerun")
    proj = projector()
    with tabs[0]:
        if tabs[0].open:
            _over_training_tab(run, proj)
    with tabs[1]:
        if tabs[1].open:
            _latest_step_tab(run, proj)
    with tabs[2]:
        if tabs[2].open:
            _saliency_tab(run, proj)
    with tabs[3]:
        if tabs[3].open:
            _gradcheck_tab(run)


def _over_training_tab(run, proj: bool) -> None:
    network = run.network
    stats = cached(run, "stats", lambda: ins.stats_arrays(run.history))
    if len(stats.steps) == 0:
        st.info("This run recorded no per-layer statistics.")
        return
    names = _layer_names(network)
    # One panel per column: side by side on a wide window, stacked on a narrow one.
    for panel, column in enumerate(st.columns(3)):
        fig = cached(run, f"norms:{panel}:{proj}", lambda panel=panel: figs.norms_over_steps_figure(
            stats.steps, stats.grad_norm, stats.weight_norm, stats.update_ratio, names,
            panels=(panel,), projector=proj))
        with column:
            _chart(fig, f"{PREFIX}norms_chart_{panel}")
    st.markdown(f"**Latest gradient norms** (step {int(stats.steps[-1])}):")
    for health in ins.gradient_health(stats.grad_norm[-1], names):
        st.markdown(f"{STATUS_ICONS[health.status]} **{health.layer}**: ‖dJ/dW‖ = "
                    f"{health.norm:.3g}, {health.explanation}")
    st.caption("Shaded bands: below 1e-6 the gradient has vanished (the layer stopped "
               "learning), above 100 it explodes (steps overshoot). Update / weight: how "
               "much one step changes the layer, relative to its size.")
    if stats.dead_fraction.shape[1]:
        hidden = _hidden_names(network)[: stats.dead_fraction.shape[1]]
        dead = cached(run, f"dead:{proj}", lambda: figs.dead_relu_figure(
            stats.steps, stats.dead_fraction, hidden, projector=proj))
        _chart(dead, PREFIX + "dead_chart")
        if ins.is_convolutional(network):
            latest = ", ".join(f"{name}: {100 * f:.0f}%" for name, f in zip(hidden, stats.dead_fraction[-1]))
        else:
            latest = ", ".join(f"layer {i}: {100 * f:.0f}%"
                               for i, f in enumerate(stats.dead_fraction[-1], 1))
        if network.activation == "relu":
            filters = (" A conv layer's units are its filters: a dead filter's map is 0 everywhere."
                       if ins.is_convolutional(network) else "")
            st.caption(f"A dead ReLU outputs 0 for every image of a batch, so no gradient "
                       f"flows through it.{filters} Latest: {latest}.")
        else:
            st.caption(f"{_activation_label(network)} units never output exactly 0 for a whole "
                       f"batch, so none is dead (latest: {latest}); dead units are a ReLU problem.")


def _latest_step_tab(run, proj: bool) -> None:
    network = run.network
    grads = run.history.last_grad_weights
    if not grads:
        st.info("This run kept no gradients.")
        return
    step = run.history.stats_step[-1] if run.history.stats_step else "?"
    names = _layer_names(network)
    hist = cached(run, f"grad_hist:{proj}", lambda: figs.gradient_histograms_figure(
        grads, names, projector=proj,
        title=f"gradient values dJ/dW at step {step}, the latest recorded"))
    _chart(hist, PREFIX + "grad_hist_chart")
    st.caption("Each layer on its own range (their sizes differ by orders of magnitude); "
               "counts on a log scale. A spike at 0 alone means the layer receives no signal.")
    if grads[0].ndim == 4:  # a convolutional network: its first conv layer's filters
        _filter_gradients(run, grads[0], step, proj)
        return
    spec = order_spec()
    g1 = grads[0]

    def build():
        return figs.weight_grid_figure(
            g1, unit_order(run, spec), grid_columns(), value_name="dJ/dw", projector=proj,
            max_bytes=figs.payload_budget(g1.shape[1]),
            title=f"first-layer gradients dJ/dw at step {step}")

    st.markdown("**First-layer gradient maps**: for each unit, the gradient of the loss with "
                "respect to its 784 incoming weights, drawn like the Weights page (same "
                f"order: {order_label(spec, class_names(run))}).")
    _chart(cached(run, f"grad_grid:{spec}:{grid_columns()}:{proj}", build), PREFIX + "grad_grid_chart")
    st.caption("Red: increasing that weight would raise the loss, so gradient descent lowers "
               "it; blue: the opposite. The maps show where each unit is being reshaped.")


def _saliency_tab(run, proj: bool) -> None:
    network = run.network
    st.markdown("Which pixels matter for a prediction? The **input gradient** dJ/dx says how "
                "the loss would change if a pixel got brighter.")
    if refuse_mismatch(run):
        return
    names = class_names(run)
    picked = digit_picker(run, "saliency")
    if picked is None:
        return
    trace = ins.trace_image(network, picked.image)
    options = list(range(len(names)))
    key = bind("saliency_class", trace.predicted, lambda v: v in options)
    st.columns([1, 2])[0].selectbox(f"Explain the score of {noun(run)}", options, key=key,
                 format_func=lambda d: f"{names[d]} (predicted)" if d == trace.predicted else names[d])
    remember("saliency_class")
    target = int(st.session_state[key])
    gradient = ins.saliency(network, picked.image, target)
    fig = figs.saliency_figure(picked.image, gradient, label=names[target], projector=proj)
    _chart(fig, PREFIX + "saliency_chart")
    st.caption(f"{picked.description}. The network reads it as {names[trace.predicted]} "
               f"({trace.probabilities[trace.predicted]:.0%}). Blue pixels: inking them more "
               f"would make “{names[target]}” more likely; red ones argue against “{names[target]}”.")


@dataclass
class GradcheckResult:
    relative_errors: dict[str, float]
    checked_entries: dict[str, int]
    seconds: float
    batch: int
    run: tuple
    skipped_entries: dict[str, int] = field(default_factory=dict)  # ±ε straddled a kink


def gradcheck_entries(network, inputs, labels, n_arrays: int,
                      budget: float = GRADCHECK_SECONDS) -> int:
    """How many entries per array the check can afford within ``budget`` seconds
    (two float64 loss evaluations each), within :data:`GRADCHECK_ENTRIES`."""
    net = network.copy(np.float64)
    x = np.asarray(inputs, dtype=np.float64)
    start = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        net.loss(x, labels)
    per_loss = max((time.perf_counter() - start) / repeats, 1e-6)
    entries = int(budget / (2 * per_loss * n_arrays))
    low, high = GRADCHECK_ENTRIES
    return max(low, min(high, entries))


def run_gradient_check(network, images, labels, batch: int = GRADCHECK_BATCH) -> GradcheckResult:
    """Backprop vs central differences on a float64 copy, ``batch`` images, bounded time."""
    x = np.asarray(images[:batch], dtype=np.float64)
    if np.asarray(images).dtype == np.uint8:
        x = x / 255.0
    y = np.asarray(labels[:batch])
    n_arrays = 2 * len(network.weights) + 1
    start = time.perf_counter()
    entries = gradcheck_entries(network, x, y, n_arrays)
    # Entries whose ±ε straddles a ReLU or max-pool kink are left out (and counted): a
    # conv layer's tens of thousands of z per batch put some within ε of 0 for most
    # weights, and a blank background ties many pools (relative errors up to ~0.3 on conv
    # networks without this; measured 0 of 48 checks above 1e-6 with it).
    result = gradient_check(network, x, y, max_entries=entries, skip_kinks=True)
    return GradcheckResult(result.relative_errors, result.checked_entries,
                           time.perf_counter() - start, len(y), (), result.skipped_entries)


def _check_gradients(run) -> None:
    data = state.dataset()
    result = run_gradient_check(run.network, data.validation_images, data.validation_labels)
    result.run = run_key(run)
    st.session_state[GRADCHECK] = result


def _gradcheck_tab(run) -> None:
    st.markdown(
        "Is backpropagation right? Nudge one weight by ±ε, measure how the loss changes, "
        "and compare with the gradient backprop computed: **(J(w+ε) − J(w−ε)) / 2ε**. "
        "The check runs on a float64 copy of the current network (float32 has too few "
        f"digits for the difference to mean anything), on {GRADCHECK_BATCH} validation images, "
        "for a random sample of entries of every weight matrix W, bias b and the input X.")
    st.caption(
        "Kinks: a ReLU has no derivative at z = 0 and a max pool none where two inputs tie. When "
        "w−ε and w+ε fall on different sides of one, the difference averages two slopes and "
        "matches no gradient, whatever backprop does; such entries are left out and counted"
        + (" (a convolutional layer computes tens of thousands of z per batch, and a blank "
           "background ties many pools, so it meets kinks often; its W1 holds the filters' weights)."
           if ins.is_convolutional(run.network) else "."))
    if refuse_mismatch(run):
        return
    st.button("Check the gradients", type="primary", icon=":material/rule:",
              key=PREFIX + "gradcheck_button", on_click=_check_gradients, args=(run,))
    result = st.session_state.get(GRADCHECK)
    if result is None or result.run != run_key(run):
        return
    _chart(figs.gradcheck_figure(result.relative_errors), PREFIX + "gradcheck_chart")
    rows = [{"array": name, "entries checked": result.checked_entries[name],
             "left out (kink)": result.skipped_entries.get(name, 0),
             "relative error": f"{error:.2e}",
             "verdict": "right" if error <= 1e-6 else ("suspicious" if error <= 1e-4 else "a bug")}
            for name, error in result.relative_errors.items()]
    st.dataframe(rows, hide_index=True, key=PREFIX + "gradcheck_table")
    worst = max(result.relative_errors.values())
    message = (f"Largest relative error {worst:.1e} in {result.seconds:.2f} s: backprop agrees "
               "with the finite differences." if worst <= 1e-6 else
               f"Largest relative error {worst:.1e}: above 1e-6, worth a closer look.")
    (st.success if worst <= 1e-6 else st.warning)(message)


# ---------------------------------------------------------------------------------
# Picking an image (Activations page, saliency)
# ---------------------------------------------------------------------------------

PREDICTED = "predicted"
SOURCES = {"index": "By number", "class": "By class", "misclassified": "Misclassified",
           "random": "Random", "drawn": "Drawn digit"}  # the picker says "Drawn letter"...


@dataclass
class PickedDigit:
    image: np.ndarray  # (784,) uint8 (dataset) or float32 in [0, 1] (drawn)
    label: int | None  # the true class, None for a drawn digit
    description: str


def misclassified(run):
    """(indices, predictions, confidence) of the validation images the model gets wrong."""
    def build():
        data = state.dataset()
        probabilities = predict_proba(run.network, data.validation_images)
        predicted = probabilities.argmax(axis=1)
        wrong = np.flatnonzero(predicted != data.validation_labels)
        return wrong, predicted[wrong], probabilities[wrong, predicted[wrong]]

    return cached(run, "misclassified", build)


def digit_picker(run, prefix: str) -> PickedDigit | None:
    """Widgets choosing one image (a digit, a letter...): one of the validation images (never
    trained on) or the drawing. Labels are the data's classes (the caller made sure the
    model has one output per class)."""
    data = state.dataset()
    images, labels = data.validation_images, data.validation_labels
    names, what = data.class_names, state.noun(names=data.class_names)
    n = len(labels)
    sources = [s for s in SOURCES if s != "drawn" or drawn_digit() is not None]
    labels_of = {**SOURCES, "drawn": f"Drawn {what}"}
    source_key = bind(f"{prefix}_source", "index", lambda v: v in sources)
    st.radio(f"Pick a {what}", sources, format_func=labels_of.get, key=source_key, horizontal=True)
    remember(f"{prefix}_source")
    source = st.session_state[source_key]
    in_range = lambda v: isinstance(v, int | np.integer) and 0 <= v < n
    where = "validation image"

    if source == "drawn":
        return PickedDigit(drawn_digit(), None, "Your drawing from the Draw page")
    if source == "index":
        key = bind(f"{prefix}_index", 0, in_range)
        st.columns([1, 2])[0].number_input(
            f"Validation image (0–{n - 1})", 0, n - 1, step=1,
            key=key)
        remember(f"{prefix}_index")
        index = int(st.session_state[key])
    elif source == "class":
        left, right, _ = st.columns([1, 1, 2])
        class_key = bind(f"{prefix}_class", 0, lambda v: v in range(len(names)))
        left.selectbox(what.capitalize(), range(len(names)), key=class_key, format_func=lambda c: names[c])
        remember(f"{prefix}_class")
        members = np.flatnonzero(labels == int(st.session_state[class_key]))
        if not len(members):
            st.info("No validation image of that class.")
            return None
        which_key = bind(f"{prefix}_which", 0,
                         lambda v: isinstance(v, int | np.integer) and 0 <= v < len(members))
        right.number_input(f"Which one (0–{len(members) - 1})", 0, len(members) - 1, step=1,
                           key=which_key)
        remember(f"{prefix}_which")
        index = int(members[int(st.session_state[which_key])])
    elif source == "misclassified":
        wrong, predicted, confidence = misclassified(run)
        if not len(wrong):
            st.success("The model gets every validation image right: nothing misclassified.")
            return None
        options = list(range(len(wrong)))
        key = bind(f"{prefix}_wrong", 0, lambda v: v in options)
        st.columns([1, 1])[0].selectbox(
            f"{len(wrong)} of the {n} validation images are misclassified", options, key=key,
            format_func=lambda k: f"image {wrong[k]}: a {names[labels[wrong[k]]]} read as "
                                  f"{names[predicted[k]]} ({confidence[k]:.0%})")
        remember(f"{prefix}_wrong")
        index = int(wrong[int(st.session_state[key])])
    else:  # random
        if not in_range(_choices().get(f"{prefix}_random")):
            _choices()[f"{prefix}_random"] = int(np.random.default_rng().integers(n))
        st.button(f"Another random {what}", icon=":material/casino:", key=f"{PREFIX}{prefix}_reroll",
                  on_click=lambda: _choices().__setitem__(
                      f"{prefix}_random", int(np.random.default_rng().integers(n))))
        index = int(_choices()[f"{prefix}_random"])
    return PickedDigit(images[index], int(labels[index]),
                       f"{where.capitalize()} {index}, labelled {names[int(labels[index])]}")


# ---------------------------------------------------------------------------------
# Activations page
# ---------------------------------------------------------------------------------


def activations_page() -> None:
    st.title("Activations")
    st.markdown(
        f"Follow one {state.noun()} through the network: the pixels go in, every hidden unit computes "
        "z = inputs · weights + bias and outputs its activation, and the output layer turns "
        f"the last layer's activations into {len(state.class_names())} probabilities.")
    run = current_model("activations")
    if run is None or refuse_mismatch(run):
        return
    network = run.network
    proj = projector()
    picked = digit_picker(run, "activations")
    if picked is None:
        return
    trace = ins.trace_image(network, picked.image)
    left, right = st.columns([1, 2])
    with left:
        _chart(figs.image_figure(picked.image, title="input: 28×28 = 784 pixels", height=320),
               PREFIX + "input_chart")
        st.caption(picked.description + ".")
    with right:
        _chart(figs.probabilities_figure(trace.probabilities, class_names(run), label=picked.label,
                                         projector=proj, height=320), PREFIX + "probabilities_chart")
        st.caption(f"The output layer: softmax turns the {len(trace.probabilities)} scores (logits) "
                   "into probabilities.")

    n_conv = ins.n_conv_layers(network)
    if n_conv:
        _feature_maps(run, trace, proj)
    if trace.activations:
        st.subheader("Dense layers" if n_conv else "Hidden layers")
    activation = network.activation
    for i, (a, z) in enumerate(zip(trace.activations, trace.pre_activations), 1):
        fig = figs.layer_activations_figure(
            a, z, biases=network.biases[n_conv + i - 1], activation=activation,
            layer_name=f"{'dense' if n_conv else 'hidden'} layer {i} ({len(a)} units)", projector=proj,
            height=320 if len(a) > figs.WIDE_LAYER else 280)
        _chart(fig, f"{PREFIX}layer_{i}_chart")
    if trace.activations:
        st.caption("Hover a unit to follow its maths: inputs · weights, + bias = z, then "
                   f"{activation}(z) = its activation. Wide layers are drawn as a grid, one cell "
                   "per unit.")
    _contributions(run, picked, trace, proj)


def _contributions(run, picked: PickedDigit, trace, proj: bool) -> None:
    network = run.network
    n_conv = ins.n_conv_layers(network)
    if n_conv and len(network.weights) == n_conv + 1:
        _filter_contributions(run, picked, trace, proj)
        return
    if len(network.weights) < 2:
        return  # no hidden layer: the logits come straight from the pixels
    st.subheader("Which hidden units built the answer")
    names = class_names(run)
    target = _explained_class(run, trace)
    contributions = ins.unit_contributions(network, picked.image, target)
    target_name = names[target]
    layer = contributions.layer
    _chart(figs.contributions_figure(contributions.units, contributions.contributions,
                                     contributions.bias, contributions.logit,
                                     class_name=target_name, projector=proj),
           PREFIX + "contributions_chart")
    pick = np.argsort(-np.abs(contributions.contributions), kind="stable")[:TOP_UNITS]
    units = contributions.units[pick]
    values = contributions.contributions[pick]
    rows = [{"unit": int(u), "activation a": round(float(a), 4), f"weight to {target_name}": round(float(w), 4),
             "contribution a × w": round(float(c), 4)}
            for u, a, w, c in zip(contributions.units[pick], contributions.activations[pick],
                                  contributions.weights[pick], values)]
    if n_conv:  # dense units after conv layers read feature maps: no 28×28 picture of them
        st.markdown(f"**The {len(units)} units of dense layer {layer - n_conv} that move the score of "
                    f"{target_name} most:**")
        st.dataframe(rows, hide_index=True, key=PREFIX + "contributors_table")
        st.caption(f"Each unit adds activation × outgoing weight to the score of {target_name}; "
                   f"all {len(contributions.units)} of them plus the bias ({contributions.bias:+.3g}) "
                   f"make the logit z = {contributions.logit:.3g}.")
        return
    maps = cached(run, f"input_maps:{layer}", lambda: ins.composed_input_weights(network, layer))
    exact = layer == 1
    fig = figs.weight_grid_figure(
        maps[:, units], unit_ids=units, columns=min(TOP_UNITS // 2, len(units)), height=380,
        tile_labels=[f"{v:+.2f}" for v in values], projector=proj, value_name="w",
        title=(f"top {len(units)} units: incoming weights" if exact
               else f"top {len(units)} units: W1 @ … @ W{layer} (approx.)"))
    st.markdown(f"**The {len(units)} units of hidden layer {layer} that move the score of "
                f"{target_name} most**, with what they look for in the image:")
    left, right = st.columns(2)
    with left:
        _chart(fig, PREFIX + "contributors_chart")
    right.dataframe(rows, hide_index=True, key=PREFIX + "contributors_table")
    st.caption(f"Each hidden unit adds activation × outgoing weight to the score of {target_name}; "
               f"all {len(contributions.units)} of them plus the bias "
               f"({contributions.bias:+.3g}) make the logit z = {contributions.logit:.3g}. "
               "The tiles' corner numbers are the contributions." +
               ("" if exact else " Deeper units' pictures compose the weights below them, "
                "ignoring the nonlinearity: an approximation."))
