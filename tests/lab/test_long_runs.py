"""A long batch-1 run costs what a short one does: its job's curves (what a poll copies and
draws), its stored curves and the chart's points stay bounded, and say which steps each
point stands for."""

import json

import numpy as np

from lab import lab_records
from lab.jobs import COMPLETED, TrainingJob
from nn.history import MAX_STEP_LOSS_POINTS, History
from nn.training import TrainConfig
from ui.figures.training import loss_figure

TIMEOUT = 60


def long_history(steps: int) -> History:
    history = History(epoch=[1], train_loss=[1.0], train_accuracy=[0.5], validation_loss=[1.1],
                      validation_accuracy=[0.4])
    for step in range(steps):
        history.add_step_loss(3.0 - step / steps)
    return history


def test_a_batch_1_job_over_the_limit_publishes_bounded_curves(data):
    images, labels = data[0][:50], data[1][:50]
    config = TrainConfig(hidden_sizes=(4,), optimizer="sgd", learning_rate=0.01, batch_size=1, epochs=250,
                         snapshot_every=0, stats_every=1000)
    job = TrainingJob(config, images, labels, progress_interval=0.0).start()
    assert job.join(TIMEOUT)
    snapshot = job.snapshot()
    assert snapshot.status == COMPLETED and job.history.n_steps == 50 * 250
    curves = snapshot.curves
    assert len(curves.step_loss) == 50 * 250 // 2 <= MAX_STEP_LOSS_POINTS  # before: 12,500 points
    assert curves.steps_per_point == 2 and curves.steps_per_epoch == 50
    assert curves.step_loss == job.history.step_loss


def test_stored_curves_keep_what_their_points_stand_for():
    history = long_history(25_000)
    assert history.step_loss_every == 4 and len(history.step_loss) == 6250
    text = lab_records.history_json(history)
    stored = json.loads(text)
    assert len(stored["step_loss"]) == 6250 and stored["step_loss_every"] == 4 and stored["steps"] == 25_000
    back = lab_records.history_from_json(text)
    assert back.n_steps == 25_000 and back.step_loss_every == 4
    np.testing.assert_allclose(back.step_loss, history.step_loss)
    checkpoint = json.loads(lab_records.history_json(history, epochs_only=True))
    assert checkpoint["steps"] == 25_000 and checkpoint["step_loss_every"] == 4


def test_stored_counts_that_do_not_fit_the_points_are_ignored():
    text = json.dumps({"step_loss": [1.0, 2.0, 3.0], "step_loss_every": 4, "steps": 100})
    back = lab_records.history_from_json(text)
    assert back.step_loss == [1.0, 2.0, 3.0] and back.step_loss_every == 1 and back.n_steps == 3


def test_the_chart_draws_each_point_at_the_middle_of_its_steps():
    history = long_history(40_000)  # 10,000 points of 4 steps
    figure = loss_figure(history.epoch, history.train_loss, step_loss=history.step_loss, steps_per_epoch=8000,
                         steps_per_point=history.step_loss_every, max_step_points=10_000)
    steps = figure.data[0]
    assert len(steps.x) == 10_000
    # Point i stands for steps 4i+1 ... 4i+4: drawn at step 4i+2.5, in epochs.
    np.testing.assert_allclose(steps.x[:3], np.array([2.5, 6.5, 10.5]) / 8000)
    np.testing.assert_allclose(steps.x[-1], (40_000 - 1.5) / 8000)
    np.testing.assert_allclose(steps.y, history.step_loss)


def test_a_run_in_the_history_keeps_what_a_history_draws(data):
    """Before, every run in a session's history kept every per-layer statistic and step loss
    (a 500-epoch run: ~6 MB of Python floats); now the current model does, a history copy not."""
    from lab.runs import HISTORY_STEP_POINTS, Run

    images, labels = data[0][:50], data[1][:50]
    config = TrainConfig(hidden_sizes=(4,), optimizer="sgd", learning_rate=0.01, batch_size=1, epochs=250,
                         snapshot_every=100, stats_every=10)
    job = TrainingJob(config, images, labels, progress_interval=1.0).start()
    assert job.join(TIMEOUT)
    run = Run(1, config, COMPLETED, "", job.network, job.history, "tiny", 1.0)
    kept = run.for_history()
    assert len(run.history.stats_step) == 12_500 // 10 and len(run.history.snapshots) == 3  # the model keeps all
    assert kept.history.stats_step == [] and kept.history.layer_grad_norm == [] and kept.history.snapshots == []
    assert len(kept.history.step_loss) <= HISTORY_STEP_POINTS and kept.history.n_steps == 12_500
    assert kept.history.step_loss_every == 16 and kept.history.epoch == run.history.epoch  # 782 points
    np.testing.assert_allclose(np.mean(kept.history.step_loss[:-1]), np.mean(run.history.step_loss[:-2]), rtol=1e-9)
    assert kept.network is not run.network and kept.train_accuracy == run.train_accuracy
