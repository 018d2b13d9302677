"""Step by step: a network trained one mini-batch at a time, with every number of a step
shown as an equation beside its figure, for one example of the batch and one hidden unit:
the forward pass, the backward pass and the optimiser's update. The numbers are the
engine's own (``lab/step_run.py``): N steps here leave exactly the weights that ``train``
leaves after N steps with the same settings.

Session state (per user): ``step_run`` (a :class:`lab.step_run.StepRun`), ``step_running``
(Run is on), ``step_note`` (why a run could not start). Widgets: ``step_source``,
``step_one``, ``step_ten``, ``step_play``, ``step_reset``, ``inside_step_example``,
``inside_step_unit``.
"""

import numpy as np
import streamlit as st

from lab import settings, step_run
from ui import entry_script, state
from ui import step_equations as equations
from ui.figures import step as step_figures
from ui.widgets import STATIC_CHART, bind, chart, index_in, projector, remember

entry_script.require()

RUN, RUNNING, NOTE, SOURCE = "step_run", "step_running", "step_note", "step_source"
RUN_SECONDS = 0.7  # one step per tick while Run is on
SOURCES = {"small": "A small network: 784 → 16 ReLU → 10, SGD, learning rate 0.1, batch 32",
           "train": "The Train page's settings"}


def new_run() -> None:
    """(Re)start the run from the chosen settings and its seed (on_click / on_change)."""
    st.session_state[RUNNING] = False
    st.session_state[NOTE] = None
    chosen = step_run.SMALL_SETTINGS if st.session_state.get(SOURCE, "small") == "small" \
        else st.session_state[state.SETTINGS]
    try:
        config = step_run.step_config(chosen)
        data = state.dataset()
    except (ValueError, OSError) as error:
        st.session_state[RUN], st.session_state[NOTE] = None, f"Cannot start: {error}."
        return
    st.session_state[RUN] = step_run.StepRun(config, data.train_images, data.train_labels,
                                             validation=(data.validation_images, data.validation_labels),
                                             n_classes=data.n_classes)


def take_steps(n: int) -> None:
    run = st.session_state.get(RUN)
    if run is not None:
        run.step(n)


def set_running(on: bool) -> None:
    """Run or pause. Set, never toggled: a click that reaches the callback twice (a rerun
    interrupted while the ticks keep coming replays its trigger) must not undo itself."""
    st.session_state[RUNNING] = on


def controls(run) -> None:
    """Where the settings come from, and Step, Step ×10, Run/Pause, Reset."""
    st.radio("Network and settings", list(SOURCES), format_func=SOURCES.get, key=SOURCE, horizontal=True,
             on_change=new_run, help="The Train page's settings may be any dense network (no convolution "
                                     "layers): its width, activation, optimiser, batch size and seed.")
    busy = state.job_pending()  # the sidebar's timer polls the job: Run waits (one timer per page)
    ended = run is None or run.finished
    running = bool(st.session_state.get(RUNNING)) and not busy
    one, ten, play, reset = st.columns(4)
    one.button("Step", key="step_one", on_click=take_steps, args=(1,), disabled=ended or running,
               icon=":material/skip_next:", width="stretch", type="primary")
    ten.button("Step ×10", key="step_ten", on_click=take_steps, args=(10,), disabled=ended or running,
               icon=":material/fast_forward:", width="stretch")
    play.button("Pause" if running else "Run", key="step_play", on_click=set_running, args=(not running,),
                disabled=ended or busy,
                icon=":material/pause:" if running else ":material/play_arrow:", width="stretch",
                help="Runs once the training in progress is done." if busy else "One step every "
                                                                                  f"{RUN_SECONDS:g} s.")
    reset.button("Reset", key="step_reset", on_click=new_run, icon=":material/restart_alt:", width="stretch",
                 help="Back to the random start: the same seed gives the same steps again.")


def status(run) -> None:
    config = run.config
    batch = "the full batch" if config.batch_size is None else f"batches of {config.batch_size}"
    st.markdown(f"**Step {run.steps_done:,} of {run.total_steps:,}** ({run.steps_per_epoch:,} steps per epoch, "
                f"{config.epochs} epochs): {settings.describe_config(config, n_classes=run.network.layer_sizes[-1])}"
                f", {batch}.")
    if run.finished:
        (st.success if run.result.status == "completed" else st.warning)(
            run.result.message + " Reset to start again.")


@st.fragment(run_every=RUN_SECONDS if st.session_state.get(RUNNING) and not state.job_pending() else None)
def live() -> None:
    """The latest step, redrawn after every step (one step per tick while Run is on)."""
    run = st.session_state.get(RUN)
    if run is None:
        return
    if st.session_state.get(RUNNING) and not state.job_pending():
        run.step(1)
        if run.finished:
            st.session_state[RUNNING] = False
            st.rerun()  # the buttons change: a full rerun draws them again
    status(run)
    record = run.last
    if record is None:
        st.info("Press **Step**: the network takes its first mini-batch, runs it forward, measures the loss, "
                "sends the error back and updates every weight. Each part appears below with its numbers.",
                icon=":material/info:")
        return
    proj = projector()
    chart(step_figures.step_losses_figure(run.history.step_loss, run.steps_per_epoch, record.loss_after,
                                          projector=proj), "step_losses_chart", config=STATIC_CHART)
    st.caption("Each step's batch loss, before its update: it jumps from batch to batch (every batch holds other "
               "images) but falls on the whole. The diamond: the last batch's loss after its update.")
    left, right = st.columns(2)
    example_key = bind("step_example", 0, index_in(record.batch_size))
    left.number_input(f"Example of the batch (0–{record.batch_size - 1})", 0, record.batch_size - 1, step=1,
                      key=example_key)
    remember("step_example")
    n_units = run.network.weights[0].shape[1]
    unit_key = bind("step_unit", 0, index_in(n_units))
    right.number_input(f"Unit of hidden layer 1 (0–{n_units - 1})", 0, n_units - 1, step=1, key=unit_key)
    remember("step_unit")
    u = step_run.unit_step(record, int(st.session_state[example_key]), int(st.session_state[unit_key]),
                           run.network.activation)
    names = state.class_names()
    forward_pass(run, record, u, names, proj)
    backward_pass(run, record, u, names, proj)
    the_update(run, record, u, proj)


def forward_pass(run, record, u, names, proj: bool) -> None:
    st.subheader("1 · Forward: from pixels to a loss")
    figures, maths = st.columns([2, 3])
    answer = "right" if u.prediction == u.label else f"wrong: it reads {names[u.prediction]}"
    with figures:
        chart(step_figures.input_figure(u.image, f"example {u.example}: a {names[u.label]} ({answer})",
                                        u.top_pixels, projector=proj), "step_input_chart", config=STATIC_CHART)
        chart(step_figures.unit_map_figure(u.contributions, u.unit, f"unit {u.unit}: weight × pixel", "w·x",
                                           pixels=u.top_pixels, projector=proj), "step_contributions_chart")
    with maths:
        st.markdown(f"The image is 784 numbers $x_i$ (0 = paper, 1 = ink). Unit {u.unit} multiplies each by its "
                    "weight and adds them up: the lower map shows every product (red adds, blue takes away); the "
                    "numbered pixels add the most.")
        st.latex(equations.pre_activation(u))
        st.latex(equations.activation(u, run.network.activation))
        st.markdown("The output layer does the same with the hidden units' outputs: one score per class, turned "
                    "into probabilities; the loss is small when the true class gets a high probability.")
        for line in equations.output(u, record.loss, record.batch_size, len(record.weights_before) > 2, names):
            st.latex(line)
    chart(step_figures.output_figure(u.logits, u.probabilities, u.output_error, u.label, names, projector=proj),
          "step_output_chart", config=STATIC_CHART)
    st.caption("Look for the true class (blue): its score and probability should grow step after step, and its "
               "error bar (bottom) is the only negative one: the loss pulls its score up and the others down.")


def backward_pass(run, record, u, names, proj: bool) -> None:
    st.subheader("2 · Backward: who is to blame, and by how much")
    st.latex(equations.output_error(u, record.batch_size, names))
    for line in equations.hidden_error(u, run.network.activation):
        st.latex(line)
    pixel = int(np.argmax(np.abs(u.grad_weights)))
    left, right = st.columns(2)
    with left:
        chart(step_figures.unit_map_figure(u.grad_weights, u.unit, f"unit {u.unit}: ∂J/∂w over the whole batch",
                                           "∂J/∂w", pixels=[pixel], projector=proj), "step_gradient_chart")
    with right:
        chart(step_figures.unit_map_figure(u.example_share, u.unit, "this example's share, x · ∂J/∂z", "x·∂J/∂z",
                                           pixels=[pixel], projector=proj), "step_share_chart")
    for line in equations.weight_gradient(u, pixel, record.batch_size):
        st.latex(line)
    st.caption("Each example blames the weights of the pixels it inks, in proportion to its own error; the batch's "
               "gradient (left) adds up every example's share (right: this one's). Pixel 1 is the largest.")


def the_update(run, record, u, proj: bool) -> None:
    st.subheader("3 · The update: one step downhill")
    pixel = int(np.argmax(np.abs(u.grad_weights)))
    optimizer = record.optimizer
    label = settings.OPTIMIZER_LABELS.get("nesterov" if record.optimizer_settings.get("nesterov") else optimizer)
    st.markdown(f"**{label}**, learning rate η = {record.learning_rate:g}, for pixel 1 of the gradient map:")
    for line in equations.update(u, pixel, optimizer, record.optimizer_settings, record.learning_rate):
        st.latex(line)
    zmax = float(max(np.nanmax(np.abs(u.weights)), np.nanmax(np.abs(u.weights_after)))) or 1.0
    maps = [(u.change, f"unit {u.unit}: the update Δw", "Δw", None),
            (u.weights, f"unit {u.unit}: weights before", "w", zmax),
            (u.weights_after, f"unit {u.unit}: weights after", "w", zmax)]
    maps += [(values, f"optimiser state {symbol}", symbol, None) for symbol, values in u.state.items()]
    for index, (column, (values, title, name, limit)) in enumerate(zip(st.columns(len(maps)), maps)):
        with column:
            chart(step_figures.unit_map_figure(values, u.unit, title, name, zmax=limit, pixels=[pixel],
                                               projector=proj, height=260), f"step_update_map_{index}")
    st.latex(equations.losses(record.loss, record.loss_after))
    st.caption("Before and after share one colour scale: one step changes a weight by a hair, and only the "
               "weights of pixels this batch inks. The loss on the same batch drops after the step when the "
               "learning rate is not too high.")


st.title("Step by step")
st.markdown("Training is many small steps. Here you take them yourself: each **Step** takes one mini-batch of "
            "training images, runs it **forward** to a loss, sends the error **backward** to every weight, and "
            "**updates** the weights. Pick one image of the batch and one hidden unit to see each equation with "
            "its numbers: they are the engine's own, the same as in a Train run with these settings.")
if RUN not in st.session_state:
    new_run()
controls(st.session_state.get(RUN))
if st.session_state.get(NOTE):
    st.warning(st.session_state[NOTE], icon=":material/block:")
live()
