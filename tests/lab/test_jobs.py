"""lab/jobs.py: training in worker threads, the queue, stopping, failure isolation."""

import time

import numpy as np
import pytest

from lab.jobs import (
    COMPLETED,
    DIVERGED,
    FAILED,
    QUEUED,
    RUNNING,
    STOPPED,
    JobScheduler,
    TrainingJob,
    max_jobs_from_env,
)
from nn.training import TrainConfig

TIMEOUT = 30


def quick(epochs=3, **overrides):
    settings = dict(hidden_sizes=(16,), optimizer="adam", learning_rate=1e-3, epochs=epochs,
                    batch_size=64, snapshot_every=0)
    settings.update(overrides)
    return TrainConfig(**settings)


def endless():
    """A config that trains until stopped (many epochs of single-image steps)."""
    return quick(epochs=100_000, batch_size=1)


def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def test_job_trains_and_publishes_snapshots(data):
    job = TrainingJob(quick(epochs=4), *data, validation=data, progress_interval=0.0).start()
    assert job.join(TIMEOUT)
    snapshot = job.snapshot()
    assert snapshot.status == COMPLETED and snapshot.finished and not snapshot.active
    assert snapshot.fraction == 1.0 and snapshot.epoch == 4
    assert snapshot.curves.epoch == [1, 2, 3, 4]
    assert snapshot.curves.train_loss == job.history.train_loss
    assert snapshot.curves.validation_accuracy == job.history.validation_accuracy
    assert len(snapshot.curves.step_loss) == 4 * 5  # ceil(300 / 64) = 5 steps per epoch
    assert snapshot.accuracy == job.history.train_accuracy[-1]
    assert job.network is not None and job.result.status == COMPLETED


def test_snapshot_is_a_copy(data):
    job = TrainingJob(quick(epochs=2), *data).start()
    assert job.join(TIMEOUT)
    snapshot = job.snapshot()
    job.history.train_loss.append(123.0)
    job.history.step_loss.append(123.0)
    assert 123.0 not in snapshot.curves.train_loss and 123.0 not in snapshot.curves.step_loss


def test_curves_grow_while_training(data):
    job = TrainingJob(quick(epochs=300, batch_size=16), *data, progress_interval=0.0).start()
    try:
        wait_for(lambda: len(job.snapshot().curves.epoch) >= 1)
        first = job.snapshot()
        wait_for(lambda: len(job.snapshot().curves.epoch) > len(first.curves.epoch))
        second = job.snapshot()
        assert second.step > first.step and second.epoch > first.epoch
        assert second.status == RUNNING and second.eta is not None and second.eta > 0
    finally:
        job.stop()
        job.join(TIMEOUT)


def test_stop_ends_a_running_job_and_keeps_what_was_trained(data):
    job = TrainingJob(endless(), *data, progress_interval=0.0).start()
    wait_for(lambda: job.snapshot().step > 50)
    job.stop()
    assert job.join(TIMEOUT)
    snapshot = job.snapshot()
    assert snapshot.status == STOPPED
    assert "Stopped" in snapshot.message
    assert 0 < snapshot.step < snapshot.total_steps
    assert job.network is not None and len(job.history.step_loss) > 50


def test_divergence_ends_the_run_with_a_message(data):
    job = TrainingJob(quick(epochs=5, learning_rate=10.0, optimizer="sgd", hidden_sizes=(64,)),
                      *data).start()
    assert job.join(TIMEOUT)
    snapshot = job.snapshot()
    assert snapshot.status == DIVERGED
    assert "learning rate" in snapshot.message and "too high" in snapshot.message


def test_queue_with_one_slot(data):
    scheduler = JobScheduler(max_jobs=1)
    first = TrainingJob(endless(), *data, scheduler=scheduler, name="first").start()
    wait_for(lambda: first.snapshot().status == RUNNING)
    second = TrainingJob(quick(epochs=2), *data, scheduler=scheduler, name="second").start()
    third = TrainingJob(quick(epochs=2), *data, scheduler=scheduler, name="third").start()
    wait_for(lambda: scheduler.counts() == (1, 2))
    assert second.snapshot().status == QUEUED and second.snapshot().queue_position == 1
    assert third.snapshot().status == QUEUED and third.snapshot().queue_position == 2
    time.sleep(0.3)  # still waiting: the slot is taken
    assert second.snapshot().status == QUEUED and second.snapshot().step == 0

    first.stop()
    assert second.join(TIMEOUT) and third.join(TIMEOUT)
    assert first.snapshot().status == STOPPED
    assert second.snapshot().status == COMPLETED and third.snapshot().status == COMPLETED
    assert scheduler.counts() == (0, 0)


def test_stopping_a_queued_job_leaves_the_queue(data):
    scheduler = JobScheduler(max_jobs=1)
    first = TrainingJob(endless(), *data, scheduler=scheduler).start()
    wait_for(lambda: first.snapshot().status == RUNNING)
    second = TrainingJob(quick(), *data, scheduler=scheduler).start()
    third = TrainingJob(quick(), *data, scheduler=scheduler).start()
    wait_for(lambda: scheduler.counts() == (1, 2))
    second.stop()
    assert second.join(TIMEOUT)
    assert second.snapshot().status == STOPPED and "nothing was trained" in second.snapshot().message
    assert second.network is None
    wait_for(lambda: third.snapshot().queue_position == 1)  # moved up
    first.stop()
    assert third.join(TIMEOUT) and third.snapshot().status == COMPLETED


def test_a_failing_job_does_not_affect_others(data):
    images, labels = data
    scheduler = JobScheduler(max_jobs=1)
    bad = TrainingJob(quick(), images, labels[:-1], scheduler=scheduler, name="bad").start()
    good = TrainingJob(quick(), images, labels, scheduler=scheduler, name="good").start()
    assert bad.join(TIMEOUT) and good.join(TIMEOUT)
    assert bad.snapshot().status == FAILED
    assert "Training failed" in bad.snapshot().message and "labels" in bad.snapshot().message
    assert good.snapshot().status == COMPLETED  # and the failed job gave its slot back
    assert scheduler.counts() == (0, 0)


def test_test_set_accuracy_is_measured(data):
    job = TrainingJob(quick(epochs=2), *data, test=data).start()
    assert job.join(TIMEOUT)
    assert job.test_accuracy is not None and 0 <= job.test_accuracy <= 1


def test_epoch_hooks_see_each_epoch_and_finish_hooks_run_before_done(data):
    seen, finished = [], []

    def on_epoch(job, network, history):
        seen.append((len(history.epoch), network.weights[0].copy()))

    def on_finish(job):
        finished.append((job.done, job.snapshot().status, job.network is not None))

    job = TrainingJob(quick(epochs=3), *data)
    job.add_epoch_hook(on_epoch)
    job.add_finish_hook(on_finish)
    job.start()
    assert job.join(TIMEOUT)
    assert [epochs for epochs, _ in seen] == [1, 2, 3]
    assert not np.array_equal(seen[0][1], seen[-1][1])  # the network that trains, as it trains
    np.testing.assert_array_equal(seen[-1][1], job.network.weights[0])
    assert finished == [(False, COMPLETED, True)]  # status final, `done` not yet set


def test_a_stop_with_a_reason_says_why_not_who(data):
    job = TrainingJob(endless(), *data, note="It continued run 3.").start()
    wait_for(lambda: job.snapshot().step > 3)
    job.stop(reason="Stopped: the page was closed.")
    job.stop()  # a later plain stop keeps the first reason
    assert job.join(TIMEOUT)
    message = job.snapshot().message
    assert job.snapshot().status == STOPPED and "by the user" not in message
    assert message.startswith("Stopped: the page was closed. (") and "steps had been trained" in message
    assert message.endswith("It continued run 3.")


def test_max_jobs_from_env(caplog):
    import os

    cores = os.cpu_count() or 1
    assert max_jobs_from_env({}) == cores
    assert max_jobs_from_env({"DIGIT_LAB_MAX_JOBS": "3"}) == 3
    assert max_jobs_from_env({"DIGIT_LAB_MAX_JOBS": "zero"}) == cores
    assert "DIGIT_LAB_MAX_JOBS must be a positive whole number" in caplog.text
    assert max_jobs_from_env({"DIGIT_LAB_MAX_JOBS": "0"}) == cores
    with pytest.raises(ValueError):
        JobScheduler(max_jobs=0)
