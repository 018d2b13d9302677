"""The Train page's controls: the settings (sliders and inputs, within the active
challenge's ranges), the network they build, and the Start / Stop / Reset buttons with the
checks before a start. Every change is stored in the session's settings
(``st.session_state["settings"]``); the widgets are ``train_<setting>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lab import display_text, run_cost, settings
from lab.exercise_lock import CONTROLS
from ui import state

CONTROL_OF = {name: control for control, names in CONTROLS.items() for name in names}  # setting -> control


def _bind(name: str) -> str:
    """Widget key for setting ``name``, pre-filled from the session's settings.

    Streamlit forgets a widget's value when its page is not shown; the settings dict
    remembers it, so the controls come back as the user left them.
    """
    key = state.WIDGET_PREFIX + name
    if key not in st.session_state:
        # A value that did not come from this control (a restored lab, an address) is
        # brought into its range with a message: Streamlit refuses out-of-range values.
        value, note = settings.clamp_setting(name, settings.setting(st.session_state[state.SETTINGS], name))
        if note:
            st.session_state[state.NOTICE] = f"Setting changed: {note}"
        st.session_state[key] = value
    return key


def _store(name: str) -> None:
    st.session_state[state.SETTINGS][name] = st.session_state[state.WIDGET_PREFIX + name]


@dataclass(frozen=True)
class ChallengeLimits:
    """What a challenge (a :class:`lab.challenges.Challenge`, or None) and an exercise lock
    (a :class:`lab.exercise_lock.ExerciseLock`, or None: a locked link's, a lesson step's)
    allow each control: the lock's fixed settings are disabled, its hidden controls not drawn."""

    challenge: object = None
    lock: object = None

    def bounds(self, name: str, low, high):
        """(low, high, disabled): the control's range under the challenge."""
        if self.lock is not None and self.lock.fixes(name):
            return low, high, True
        if self.challenge is None:
            return low, high, False
        if name in self.challenge.locked:
            return low, high, True
        lo, hi = self.challenge.bounds(name, low, high)
        return (low, high, True) if lo >= hi else (lo, hi, False)

    def locked(self, name: str) -> bool:
        return (self.challenge is not None and name in self.challenge.locked) or \
            (self.lock is not None and self.lock.fixes(name))

    def options(self, name: str, options):
        """(options, disabled) of a choice among ``options`` under the challenge."""
        lo, hi, off = self.bounds(name, min(options), max(options))
        inside = tuple(o for o in options if lo <= o <= hi)
        return (options, True) if off or len(inside) < 2 else (inside, False)

    def shown(self, control: str) -> bool:
        """False for a control (``lab.exercise_lock.CONTROLS``' names) the lock hides."""
        return self.lock is None or not self.lock.hides(control)


def _current(name: str, limits: ChallengeLimits):
    """Setting ``name`` as its control shows it now, or (a hidden control) as the settings hold it."""
    if limits.shown(CONTROL_OF[name]):
        return st.session_state[_bind(name)]
    return settings.setting(st.session_state[state.SETTINGS], name)


def settings_controls(challenge=None, compact: bool = False, lock=None) -> None:
    """Sliders and inputs; every change is stored in the session's settings.

    ``challenge`` (a :class:`lab.challenges.Challenge`) narrows the ranges it limits and
    disables the knobs it fixes; ``lock`` (a :class:`lab.exercise_lock.ExerciseLock`)
    disables the controls it fixes and leaves out the ones it hides; ``compact`` (projector
    view) folds the less used controls into an expander. (One widget call after another, in
    the order of the page: splitting them would scatter the layout; the convolution knobs
    are their own function.)
    """
    limits = ChallengeLimits(challenge, lock)
    bounds, locked, rates, shown = limits.bounds, limits.locked, limits.options, limits.shown
    if shown("ep"):
        low, high, off = bounds("epochs", 1, settings.MAX_EPOCHS)
        st.slider("Epochs", low, high, key=_bind("epochs"), disabled=off,
                  help="Passes over the 4,500 training images.")
    if shown("lr"):
        options, off = rates("learning_rate", settings.LEARNING_RATES)
        st.select_slider("Learning rate", options=options, key=_bind("learning_rate"), disabled=off,
                         format_func=lambda v: f"{v:g}",
                         help="Log scale from 0.0001 to 10. Too high and training diverges.")
    # The network in its order: convolution layers (folded away unless used), then dense ones.
    if not compact and shown("conv"):
        _conv_controls(st.expander("Convolution layers (CNN)", icon=":material/filter_center_focus:",
                                   expanded=bool(st.session_state[_bind("conv_layers")])),
                       bounds, locked, rates)
    # With a convolution layer the dense hidden layers are optional (conv -> pool -> 10).
    n_conv = int(_current("conv_layers", limits))
    layers_key = _bind("layers")
    low, high, layers_off = bounds("layers", 0 if n_conv else 1, settings.MAX_LAYERS)
    if shown("hl") and not layers_off and st.session_state[layers_key] < low:
        st.session_state[layers_key] = low  # e.g. 0 hidden layers left from a CNN, conv now off
    if shown("w"):
        low_width, high_width, off = bounds("width", 1, settings.MAX_WIDTH)
        st.slider("Hidden width", low_width, high_width, key=_bind("width"),
                  disabled=off or _current("layers", limits) == 0,
                  help="Units in each dense hidden layer (none with 0 hidden layers).")
    left, right = st.columns(2)
    if shown("hl"):
        left.number_input("Hidden layers", low, high, step=1, key=layers_key, disabled=layers_off,
                          help="Dense hidden layers. 0 is allowed after a convolution layer: its pooled "
                               "maps then feed the output layer directly.")
    if shown("act"):
        right.selectbox("Activation", settings.ACTIVATION_CHOICES, key=_bind("activation"),
                        disabled=locked("activation"),
                        format_func=lambda a: settings.ACTIVATION_LABELS.get(a, a))
    if shown("opt"):
        left.selectbox("Optimizer", settings.OPTIMIZERS, key=_bind("optimizer"), disabled=locked("optimizer"),
                       format_func=lambda o: settings.OPTIMIZER_LABELS.get(o, o))
    more = st.expander("More settings", icon=":material/tune:") if compact else st.container()
    left, right = more.columns(2) if compact else (left, right)
    if shown("l2"):
        options, off = rates("l2", settings.L2_VALUES)
        right.select_slider("L2 weight decay", options=options, key=_bind("l2"), disabled=off,
                            format_func=lambda v: f"{v:g}")
    if shown("bs"):
        left.radio("Batch", (settings.BATCH_FULL, settings.BATCH_MINI), key=_bind("batch_mode"), horizontal=True,
                   disabled=locked("batch_mode"),
                   help="Full batch: one step per epoch on all images. Mini-batch: N images per step.")
        low, high, off = bounds("batch_size", 1, 4500)
        right.number_input("Batch size N", low, high, step=1, key=_bind("batch_size"),
                           disabled=off or st.session_state[state.WIDGET_PREFIX + "batch_mode"] == settings.BATCH_FULL)
    if shown("seed"):
        low, high, off = bounds("seed", 0, settings.MAX_SEED)
        more.number_input("Seed", low, high, step=1, key=_bind("seed"), disabled=off,
                          help="Same seed, same settings: the same run.")
    if shown("aug"):
        more.toggle("Augment: move and turn every image a little", key=_bind("augment"),
                    disabled=locked("augment"),
                    help="Each batch's images shifted by up to 2 pixels and turned by up to 15°, at random "
                         "and anew every epoch (the labels stay). The network learns that a digit off centre "
                         "or leaning is the same digit: compare the two on the Probe page's How robust tab.")
    if compact and shown("conv"):  # projector view: under "More settings" (expanders do not nest)
        box = more.container(border=True)
        box.markdown("**Convolution layers (CNN)**")
        _conv_controls(box, bounds, locked, rates)
    for name in settings.ALL_DEFAULTS:
        if shown(CONTROL_OF[name]):  # a hidden control's setting stays at the lock's value
            _store(name)
    _architecture_caption()


def _conv_controls(box, bounds, locked, rates) -> None:
    """The convolution knobs in ``box``: 0-2 conv blocks, the filters of each,
    one kernel size, padding, and whether a 2x2 max pool follows each block."""
    left, right = box.columns(2)
    low, high, off = bounds("conv_layers", 0, settings.MAX_CONV_LAYERS)
    left.number_input("Convolution layers", low, high, step=1, key=_bind("conv_layers"), disabled=off,
                      help="Blocks before the dense layers: each slides its k×k filters over the "
                           "image (or the previous block's maps), applies the activation, then "
                           "optionally a 2×2 max pool. 0 = a plain dense network.")
    n_conv = st.session_state[state.WIDGET_PREFIX + "conv_layers"]
    options, off = rates("conv_kernel", settings.CONV_KERNELS)
    right.select_slider("Kernel size", options=options, key=_bind("conv_kernel"), disabled=off or not n_conv,
                        format_func=lambda k: f"{k}×{k}", help="The filters' size, the same in every block.")
    left, right = box.columns(2)
    low, high, off = bounds("conv_filters", 1, settings.MAX_FILTERS)
    left.slider("Filters, layer 1", low, high, key=_bind("conv_filters"), disabled=off or not n_conv,
                help="Each filter looks for one small pattern everywhere in the image and "
                     "makes one feature map.")
    low, high, off = bounds("conv_filters_2", 1, settings.MAX_FILTERS)
    right.slider("Filters, layer 2", low, high, key=_bind("conv_filters_2"), disabled=off or n_conv < 2,
                 help="Each of them reads all the maps of layer 1 (commonly twice as many).")
    box.radio("Padding", settings.CONV_PADDINGS, key=_bind("conv_padding"), horizontal=True,
              disabled=locked("conv_padding") or not n_conv,
              help="valid: the filter stays inside the image, so each map shrinks by k−1 "
                   "pixels. same: zeros around the image keep the maps its size.")
    box.checkbox("2×2 max pool after each layer", key=_bind("conv_pool"),
                 disabled=locked("conv_pool") or not n_conv,
                 help="Keeps the largest value of every 2×2 block: half the height and width, "
                      "and a little tolerance to where exactly a stroke is.")


def _architecture_caption() -> None:
    """The network the settings build, with its parameter count (or nothing when the
    settings cannot make one: the buttons say why)."""
    try:
        config = settings.to_config(st.session_state[state.SETTINGS])
    except ValueError:
        return
    n_classes = len(state.class_names())
    label = settings.ACTIVATION_LABELS.get(config.activation, config.activation)
    st.caption(f"Network: {settings.architecture_text(config, n_classes=n_classes, shapes=True)} ({label}), "
               f"{settings.config_parameters(config, n_classes=n_classes):,} parameters.")


def _n_train() -> int:
    """Training images of the session's dataset (without loading it when it is the default)."""
    info = state.dataset_info()
    own = st.session_state.get(state.SESSION_DATA)
    if own is not None:
        return own.n_train
    return info.n_images - round(info.n_images * settings.VALIDATION_FRACTION)


def settings_problem() -> str | None:
    """Why the current settings cannot make a network (e.g. a conv layer with the full
    batch), else None. The controls only offer allowed values one by one."""
    try:
        settings.to_config(st.session_state[state.SETTINGS])
    except ValueError as error:
        return str(error)
    return None


def run_size_problem() -> str | None:
    """Why the current settings ask for more work than the server allows, else None: more
    sample passes than its cap (a convolutional network's images count several times, see
    ``lab.run_cost.relative_cost``), or a run the cost model prices over its caps in default
    runs and training time (``lab.run_cost.run_cost_problem``)."""
    chosen = st.session_state[state.SETTINGS]
    try:
        config = settings.to_config(chosen)
    except ValueError:
        return settings.run_size_problem(chosen["epochs"], _n_train())
    info = state.dataset_info()
    return (settings.run_size_problem(chosen["epochs"], _n_train(), cost=settings.relative_cost(config))
            or run_cost.run_cost_problem(config, _n_train(), info.n_validation, len(info.class_names)))


def cost_text() -> str:
    """What the current settings' run costs, and the server's caps (for a run within them)."""
    config = settings.to_config(st.session_state[state.SETTINGS])
    info = state.dataset_info()
    seconds = run_cost.run_seconds(config, _n_train(), info.n_validation, len(info.class_names))
    return (f"This run costs about {seconds / run_cost.default_run_seconds():,.1f} default runs "
            f"({run_cost.time_text(seconds)} on a free core); this server allows "
            f"{display_text.plain_number(run_cost.max_run_cost())} per run and stops a run after "
            f"{run_cost.time_text(run_cost.max_run_seconds())} of training.")


def start_training() -> None:
    """Start, after the server's per-run cap (checked here, not only by the disabled button)."""
    problem = settings_problem() or run_size_problem()
    if problem:
        st.session_state[state.NOTICE] = f"Cannot start: {problem}"
        return
    state.start_training()


def buttons() -> None:
    """Start, Stop and Reset, and why Start is disabled (or what the last Start said)."""
    pending = state.job_pending()
    invalid = settings_problem()
    too_big = None if invalid else run_size_problem()
    start, stop, reset = st.columns(3)
    start.button("Start", type="primary", on_click=start_training,
                 disabled=pending or bool(too_big or invalid),
                 width="stretch", key="start",
                 help="A run is in progress: Stop it first, or wait." if pending else None)
    stop.button("Stop", on_click=state.stop_training, disabled=not pending,
                width="stretch", key="stop")
    reset.button("Reset", on_click=state.reset_model, disabled=pending or state.model() is None,
                 width="stretch", key="reset",
                 help="Forget the current model; the run history stays.")
    st.caption("Changed settings apply to the next run: a run in progress keeps the settings it "
               "started with, and keeps training while you change them or visit other pages.")
    if not (invalid or too_big):
        st.caption(cost_text())
    notice = st.session_state.get(state.NOTICE)
    if invalid:
        st.warning(f"Cannot start: {invalid[0].upper()}{invalid[1:]}.", icon=":material/block:")
    elif too_big:
        st.warning(f"Run too large: {too_big}", icon=":material/block:")
    elif notice:
        st.error(notice)
    run_note = st.session_state.get(state.RUN_NOTE)
    if run_note:
        st.info(run_note, icon=":material/info:")

