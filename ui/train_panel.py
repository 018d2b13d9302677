"""The Train page's parts: settings controls, buttons, live progress and curves, run history."""

from __future__ import annotations

import streamlit as st

from lab import settings as S
from lab.jobs import COMPLETED, DIVERGED, FAILED, QUEUED, STOPPED, JobSnapshot
from lab.runs import runs_table
from ui.figures.training import accuracy_figure, loss_figure

from . import state


def _bind(name: str) -> str:
    """Widget key for setting ``name``, pre-filled from the session's settings.

    Streamlit forgets a widget's value when its page is not shown; the settings dict
    remembers it, so the controls come back as the user left them.
    """
    key = state.WIDGET_PREFIX + name
    if key not in st.session_state:
        # A value that did not come from this control (a restored lab, an address) is
        # brought into its range with a message: Streamlit refuses out-of-range values.
        value, note = S.clamp_setting(name, S.setting(st.session_state[state.SETTINGS], name))
        if note:
            st.session_state[state.NOTICE] = f"Setting changed: {note}"
        st.session_state[key] = value
    return key


def _store(name: str) -> None:
    st.session_state[state.SETTINGS][name] = st.session_state[state.WIDGET_PREFIX + name]


def settings_controls(challenge=None, compact: bool = False) -> None:
    """Sliders and inputs; every change is stored in the session's settings.

    ``challenge`` (a :class:`lab.challenges.Challenge`) narrows the ranges it limits and
    disables the knobs it fixes; ``compact`` (projector view) folds the less used
    controls into an expander.
    """
    def bounds(name, low, high):
        """(low, high, disabled): the control's range under the challenge."""
        if challenge is None:
            return low, high, False
        if name in challenge.locked:
            return low, high, True
        lo, hi = challenge.bounds(name, low, high)
        return (low, high, True) if lo >= hi else (lo, hi, False)

    def locked(name) -> bool:
        return challenge is not None and name in challenge.locked

    def rates(name, options):
        lo, hi, off = bounds(name, min(options), max(options))
        inside = tuple(o for o in options if lo <= o <= hi)
        return (options, True) if off or len(inside) < 2 else (inside, False)

    low, high, off = bounds("epochs", 1, S.MAX_EPOCHS)
    st.slider("Epochs", low, high, key=_bind("epochs"), disabled=off,
              help="Passes over the 4,500 training images.")
    options, off = rates("learning_rate", S.LEARNING_RATES)
    st.select_slider("Learning rate", options=options, key=_bind("learning_rate"), disabled=off,
                     format_func=lambda v: f"{v:g}",
                     help="Log scale from 0.0001 to 10. Too high and training diverges.")
    # The network in its order: convolution layers (folded away unless used), then dense ones.
    if not compact:
        _conv_controls(st.expander("Convolution layers (CNN)", icon=":material/filter_center_focus:",
                                   expanded=bool(st.session_state[_bind("conv_layers")])),
                       bounds, locked, rates)
    # With a convolution layer the dense hidden layers are optional (conv -> pool -> 10).
    n_conv = int(st.session_state[_bind("conv_layers")])
    layers_key = _bind("layers")
    low, high, layers_off = bounds("layers", 0 if n_conv else 1, S.MAX_LAYERS)
    if not layers_off and st.session_state[layers_key] < low:
        st.session_state[layers_key] = low  # e.g. 0 hidden layers left from a CNN, conv now off
    low_width, high_width, off = bounds("width", 1, S.MAX_WIDTH)
    st.slider("Hidden width", low_width, high_width, key=_bind("width"),
              disabled=off or st.session_state[layers_key] == 0,
              help="Units in each dense hidden layer (none with 0 hidden layers).")
    left, right = st.columns(2)
    left.number_input("Hidden layers", low, high, step=1, key=layers_key, disabled=layers_off,
                      help="Dense hidden layers. 0 is allowed after a convolution layer: its pooled "
                           "maps then feed the output layer directly.")
    right.selectbox("Activation", S.ACTIVATION_CHOICES, key=_bind("activation"),
                    disabled=locked("activation"),
                    format_func=lambda a: S.ACTIVATION_LABELS.get(a, a))
    left.selectbox("Optimizer", S.OPTIMIZERS, key=_bind("optimizer"), disabled=locked("optimizer"),
                   format_func=lambda o: S.OPTIMIZER_LABELS.get(o, o))
    more = st.expander("More settings", icon=":material/tune:") if compact else st.container()
    left, right = more.columns(2) if compact else (left, right)
    options, off = rates("l2", S.L2_VALUES)
    right.select_slider("L2 weight decay", options=options, key=_bind("l2"), disabled=off,
                        format_func=lambda v: f"{v:g}")
    left.radio("Batch", (S.BATCH_FULL, S.BATCH_MINI), key=_bind("batch_mode"), horizontal=True,
               disabled=locked("batch_mode"),
               help="Full batch: one step per epoch on all images. Mini-batch: N images per step.")
    low, high, off = bounds("batch_size", 1, 4500)
    right.number_input("Batch size N", low, high, step=1, key=_bind("batch_size"),
                       disabled=off or st.session_state[state.WIDGET_PREFIX + "batch_mode"] == S.BATCH_FULL)
    low, high, off = bounds("seed", 0, S.MAX_SEED)
    more.number_input("Seed", low, high, step=1, key=_bind("seed"), disabled=off,
                      help="Same seed, same settings: the same run.")
    if compact:  # projector view: under "More settings" (expanders do not nest)
        box = more.container(border=True)
        box.markdown("**Convolution layers (CNN)**")
        _conv_controls(box, bounds, locked, rates)
    for name in S.ALL_DEFAULTS:
        _store(name)
    _architecture_caption()


def _conv_controls(box, bounds, locked, rates) -> None:
    """The convolution knobs (issue 9) in ``box``: 0-2 conv blocks, the filters of each,
    one kernel size, padding, and whether a 2x2 max pool follows each block."""
    left, right = box.columns(2)
    low, high, off = bounds("conv_layers", 0, S.MAX_CONV_LAYERS)
    left.number_input("Convolution layers", low, high, step=1, key=_bind("conv_layers"), disabled=off,
                      help="Blocks before the dense layers: each slides its k×k filters over the "
                           "image (or the previous block's maps), applies the activation, then "
                           "optionally a 2×2 max pool. 0 = a plain dense network.")
    n_conv = st.session_state[state.WIDGET_PREFIX + "conv_layers"]
    options, off = rates("conv_kernel", S.CONV_KERNELS)
    right.select_slider("Kernel size", options=options, key=_bind("conv_kernel"), disabled=off or not n_conv,
                        format_func=lambda k: f"{k}×{k}", help="The filters' size, the same in every block.")
    left, right = box.columns(2)
    low, high, off = bounds("conv_filters", 1, S.MAX_FILTERS)
    left.slider("Filters, layer 1", low, high, key=_bind("conv_filters"), disabled=off or not n_conv,
                help="Each filter looks for one small pattern everywhere in the image and "
                     "makes one feature map.")
    low, high, off = bounds("conv_filters_2", 1, S.MAX_FILTERS)
    right.slider("Filters, layer 2", low, high, key=_bind("conv_filters_2"), disabled=off or n_conv < 2,
                 help="Each of them reads all the maps of layer 1 (commonly twice as many).")
    box.radio("Padding", S.CONV_PADDINGS, key=_bind("conv_padding"), horizontal=True,
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
        config = S.to_config(st.session_state[state.SETTINGS])
    except ValueError:
        return
    n_classes = len(state.class_names())
    label = S.ACTIVATION_LABELS.get(config.activation, config.activation)
    st.caption(f"Network: {S.architecture_text(config, n_classes=n_classes, shapes=True)} ({label}), "
               f"{S.config_parameters(config, n_classes=n_classes):,} parameters.")


def _n_train() -> int:
    """Training images of the session's dataset (without loading it when it is the default)."""
    info = state.dataset_info()
    own = st.session_state.get(state.SESSION_DATA)
    if own is not None:
        return own.n_train
    return info.n_images - round(info.n_images * S.VALIDATION_FRACTION)


def settings_problem() -> str | None:
    """Why the current settings cannot make a network (e.g. a conv layer with the full
    batch), else None. The controls only offer allowed values one by one."""
    try:
        S.to_config(st.session_state[state.SETTINGS])
    except ValueError as error:
        return str(error)
    return None


def run_size_problem() -> str | None:
    """Why the current settings ask for more work than the server allows, else None
    (a convolutional network's images count several times, see ``S.relative_cost``)."""
    settings = st.session_state[state.SETTINGS]
    try:
        cost = S.relative_cost(S.to_config(settings))
    except ValueError:
        cost = 1.0
    return S.run_size_problem(settings["epochs"], _n_train(), cost=cost)


def start_training() -> None:
    """Start, after the server's per-run cap (checked here, not only by the disabled button)."""
    problem = settings_problem() or run_size_problem()
    if problem:
        st.session_state[state.NOTICE] = f"Cannot start: {problem}"
        return
    state.start_training()


def buttons() -> None:
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


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_text(snapshot: JobSnapshot) -> str:
    """One line for the progress bar: epoch, loss, accuracy, time left."""
    if snapshot.status == QUEUED:
        return (f"Waiting for a free training slot: number {snapshot.queue_position or 1} "
                "in the queue (the server trains a few runs at a time).")
    parts = [f"Epoch {snapshot.epoch:.1f}/{snapshot.epochs}" if not snapshot.finished
             else f"Epoch {int(snapshot.epoch)}/{snapshot.epochs}"]
    if snapshot.loss is not None:
        parts.append(f"loss {snapshot.loss:.4f}")
    if snapshot.accuracy is not None:
        parts.append(f"train accuracy {100 * snapshot.accuracy:.1f}%")
    if snapshot.validation_accuracy is not None:
        parts.append(f"validation {100 * snapshot.validation_accuracy:.1f}%")
    if snapshot.finished:
        label = {COMPLETED: "Done", STOPPED: "Stopped", DIVERGED: "Diverged", FAILED: "Failed"}
        parts.insert(0, label.get(snapshot.status, snapshot.status))
        parts.append(f"took {_duration(snapshot.elapsed)}")
    else:
        eta = _duration(snapshot.eta)
        parts.append(eta if snapshot.eta is None else f"{eta} left")
    return " · ".join(parts)


def _outcome(snapshot: JobSnapshot) -> None:
    if snapshot.status == DIVERGED:
        st.warning(f"{snapshot.message} Lower the learning rate and press Start again.",
                   icon=":material/warning:")
    elif snapshot.status == FAILED:
        st.error(snapshot.message)
    elif snapshot.status == STOPPED:
        st.info(snapshot.message + " The model trained so far is kept.")
    elif snapshot.status == COMPLETED:
        model = state.model()
        where = state.dataset().test
        where = "the 10,000 real MNIST test images" if where is None else f"the {where[2]}"
        test = "" if model is None or model.test_accuracy is None else \
            f" Accuracy on {where}: **{100 * model.test_accuracy:.1f}%**."
        st.success(snapshot.message + test)


def _draw(snapshot: JobSnapshot) -> None:
    st.progress(snapshot.fraction, text=progress_text(snapshot))
    if snapshot.finished:
        _outcome(snapshot)
    curves = snapshot.curves
    if not curves.epoch and len(curves.step_loss) < 2:
        return  # nothing to draw yet (or a run that ended at its first steps)
    left, right = st.columns(2)
    left.plotly_chart(
        loss_figure(curves.epoch, curves.train_loss, curves.validation_loss, curves.step_loss,
                    curves.steps_per_epoch),
        key="loss_chart", config={"displayModeBar": False})
    if curves.epoch:
        right.plotly_chart(
            accuracy_figure(curves.epoch, curves.train_accuracy, curves.validation_accuracy),
            key="accuracy_chart", config={"displayModeBar": False})
    else:
        right.caption("Accuracy is measured at the end of each epoch.")


def live_panel() -> None:
    """Progress and curves of the session's latest run, refreshed while it runs."""
    pending = state.job_pending()

    @st.fragment(run_every=state.POLL_SECONDS if pending else None)
    def panel() -> None:
        job = state.job()
        if job is None:
            st.info("Choose settings on the left and press **Start**. Loss and accuracy curves "
                    "appear here while the network trains.")
            return
        snapshot = job.snapshot()
        if snapshot.finished and state.job_pending():
            st.rerun()  # one full rerun: collect the results, re-enable Start
        _draw(snapshot)

    panel()


def run_history() -> None:
    runs = state.runs()
    st.subheader("Run history")
    if not runs:
        st.caption("Every run of this session is listed here, so you can compare them.")
        return
    st.dataframe(runs_table(runs), hide_index=True, width="stretch", key="run_history")
