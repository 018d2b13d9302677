"""The run-cost model (steps x parameters, in default runs) and the wall-time limit per run.

Before, the only cap was epochs x images: batch size 1, width 512 x 4 and 500 epochs on the
bundled images fit it and trained for hours. Now the cost model prices it in default runs
and refuses it with a message, and a job stops itself at the server's training-time limit.
"""

import time

import pytest

from lab import config, run_cost, settings
from lab.jobs import COMPLETED, STOPPED, JobScheduler, TrainingJob, wall_time_message
from lab.presets import BY_ID
from nn.training import TrainConfig

TIMEOUT = 60
BUNDLED = (4500, 500)  # the bundled images' training and validation parts


@pytest.fixture(autouse=True)
def default_caps(monkeypatch):
    """The server's defaults (the suite lifts the cost cap for its long runs: tests/conftest.py)."""
    monkeypatch.delenv(config.MAX_RUN_COST, raising=False)
    monkeypatch.delenv(config.MAX_RUN_SECONDS, raising=False)


def dense(width=128, layers=1, batch=128, epochs=15, optimizer="adam") -> TrainConfig:
    return TrainConfig(hidden_sizes=(width,) * layers, optimizer=optimizer, learning_rate=1e-3, epochs=epochs,
                       batch_size=batch)


def test_the_unit_is_the_home_pages_run():
    home = settings.to_config(settings.GOOD_DEFAULT)
    unit = run_cost.DEFAULT_RUN
    assert (home.hidden_sizes, home.optimizer, home.batch_size, home.epochs, home.conv_layers) == \
        (unit.hidden_sizes, unit.optimizer, unit.batch_size, unit.epochs, unit.conv_layers)
    assert run_cost.run_cost(home, *BUNDLED) == pytest.approx(1.0)
    assert run_cost.run_cost_problem(home, *BUNDLED) is None


@pytest.mark.parametrize("width, layers", [(512, 4), (128, 1)])
def test_the_long_batch_1_runs_are_refused_before_start(width, layers):
    config = dense(width, layers, batch=1, epochs=500)
    assert settings.run_size_problem(500, 4500) is None  # the old epochs x images cap let them through
    problem = run_cost.run_cost_problem(config, *BUNDLED)
    assert problem is not None
    assert "2,250,000 steps" in problem and f"{run_cost.config_parameters(config):,} parameters" in problem
    assert "`DIGIT_LAB_MAX_RUN_COST`" in problem and "`DIGIT_LAB_MAX_RUN_SECONDS`" in problem
    assert "$" not in problem  # Markdown would read LaTeX between two dollar signs
    assert run_cost.run_cost(config, *BUNDLED) > run_cost.max_run_cost() == 100


def test_the_cost_grows_with_steps_and_parameters():
    base = run_cost.run_cost(dense(epochs=10), *BUNDLED)
    assert run_cost.run_cost(dense(epochs=20), *BUNDLED) == pytest.approx(2 * base)
    assert run_cost.run_cost(dense(batch=1, epochs=10), *BUNDLED) > 20 * base  # 128 times the steps
    assert run_cost.run_cost(dense(width=512, epochs=10), *BUNDLED) > 3 * base  # 4 times the parameters
    assert run_cost.run_cost(dense(epochs=10, optimizer="sgd"), *BUNDLED) < base
    assert run_cost.run_cost(dense(epochs=10), 45_000, 5000) == pytest.approx(10 * base, rel=0.01)


def test_the_epochs_it_suggests_are_allowed_and_one_more_is_not():
    config = dense(width=256, batch=8, epochs=500)
    problem = run_cost.run_cost_problem(config, *BUNDLED)
    most = int(problem.split("Choose at most ")[1].split(" epoch")[0])
    assert 1 <= most < 500
    assert run_cost.run_cost_problem(dense(width=256, batch=8, epochs=most), *BUNDLED) is None
    assert run_cost.run_cost_problem(dense(width=256, batch=8, epochs=most + 1), *BUNDLED) is not None


def test_the_wall_time_limit_refuses_a_run_expected_to_outlast_it(monkeypatch):
    run = dense(epochs=150)  # 10 default runs, about 11 s: within the cost cap
    assert run_cost.run_cost_problem(run, *BUNDLED) is None
    monkeypatch.setenv(run_cost.MAX_RUN_SECONDS_ENV, "5")
    problem = run_cost.run_cost_problem(run, *BUNDLED)
    assert problem is not None and "stops a run after 5 s of training" in problem
    assert run_cost.run_cost_problem(dense(epochs=2), *BUNDLED) is None


def test_conv_runs_are_priced_by_their_conv_layers_too():
    small_cnn = settings.to_config(BY_ID["small_cnn"].settings())
    assert run_cost.run_cost_problem(small_cnn, *BUNDLED) is None  # the preset fits
    assert run_cost.run_cost(small_cnn, *BUNDLED) > 5  # but costs several default runs
    huge = TrainConfig(conv_layers=((32, 7), (32, 7)), conv_padding="same", conv_pool=False, hidden_sizes=(),
                       optimizer="adam", batch_size=64, epochs=20)
    assert "Choose at most 2 epochs" in run_cost.run_cost_problem(huge, *BUNDLED)
    assert "Even one epoch is too much" in run_cost.run_cost_problem(huge, 54_000, 6000)


def test_the_caps_come_from_the_environment():
    assert run_cost.max_run_cost({config.MAX_RUN_COST: "250"}) == 250
    assert run_cost.max_run_seconds({config.MAX_RUN_SECONDS: "60"}) == 60
    assert run_cost.max_run_seconds({config.MAX_RUN_SECONDS: "nonsense"}) == 300
    assert run_cost.max_run_seconds({config.MAX_RUN_SECONDS: "1"}) == 300  # below the 5 s minimum


def endless() -> TrainConfig:
    return TrainConfig(hidden_sizes=(16,), optimizer="adam", learning_rate=1e-3, epochs=100_000, batch_size=1,
                       snapshot_every=0)


def test_a_job_stops_itself_at_its_training_time_limit(data):
    job = TrainingJob(endless(), *data, max_seconds=0.5).start()
    assert job.join(TIMEOUT)  # before: it trained on for 100,000 epochs
    snapshot = job.snapshot()
    assert snapshot.status == STOPPED and job.network is not None and job.history.n_steps > 0
    assert snapshot.message.startswith(wall_time_message(0.5))
    assert "0.5 s of training" in snapshot.message and "DIGIT_LAB_MAX_RUN_SECONDS" in snapshot.message
    assert 0.5 <= snapshot.elapsed < TIMEOUT


def test_waiting_in_the_queue_does_not_count(data):
    scheduler = JobScheduler(max_jobs=1)
    first = TrainingJob(endless(), *data, scheduler=scheduler).start()
    tiny = TrainConfig(hidden_sizes=(8,), optimizer="adam", learning_rate=1e-3, epochs=2, batch_size=64)
    second = TrainingJob(tiny, *data, scheduler=scheduler, max_seconds=1.0).start()
    time.sleep(1.5)  # longer in the queue than its limit
    assert second.snapshot().status == "queued"
    first.stop()
    assert second.join(TIMEOUT) and second.snapshot().status == COMPLETED  # its 10 steps, all trained


def test_the_scheduler_lists_every_job_for_the_facilitator(data):
    scheduler = JobScheduler(max_jobs=1)
    running = TrainingJob(endless(), *data, scheduler=scheduler, name="run 1").start()
    waiting = TrainingJob(endless(), *data, scheduler=scheduler, name="run 2").start()
    deadline = time.monotonic() + TIMEOUT
    while scheduler.counts() != (1, 1):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert scheduler.jobs() == [running, waiting]
    for job in scheduler.jobs():
        job.stop(reason="Stopped by the facilitator.")
    assert running.join(TIMEOUT) and waiting.join(TIMEOUT)
    assert running.snapshot().message.startswith("Stopped by the facilitator.")
    assert scheduler.jobs() == []
