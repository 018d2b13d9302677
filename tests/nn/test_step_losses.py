"""The step losses a History keeps are bounded: at most MAX_STEP_LOSS_POINTS points, each the
mean of the steps it stands for, so a batch-1 run of millions of steps costs a poll what a
short run does (before, every step's loss was kept)."""

import numpy as np
import pytest

from datasets import load_bundled
from nn import history as history_module
from nn.history import MAX_STEP_LOSS_POINTS, History
from nn.training import TrainConfig, build_network, train


def reference_means(losses, every: int) -> np.ndarray:
    """The mean of each run of ``every`` losses (the last run may be shorter)."""
    losses = np.asarray(losses, dtype=float)
    return np.array([losses[start:start + every].mean() for start in range(0, len(losses), every)])


@pytest.mark.parametrize("steps", [1, MAX_STEP_LOSS_POINTS, MAX_STEP_LOSS_POINTS + 1, 25_000, 81_234])
def test_each_point_is_the_mean_of_its_steps_and_there_are_at_most_the_limit(steps):
    losses = np.random.default_rng(steps).random(steps) * 3
    history = History()
    for loss in losses:
        history.add_step_loss(loss)
    assert history.n_steps == steps and history.summary()["steps"] == steps
    assert len(history.step_loss) <= MAX_STEP_LOSS_POINTS
    every = history.step_loss_every
    assert every == 2 ** int(np.ceil(np.log2(max(1.0, steps / MAX_STEP_LOSS_POINTS))))
    assert len(history.step_loss) == -(-steps // every)
    np.testing.assert_allclose(history.step_loss, reference_means(losses, every), rtol=1e-12)


def test_a_history_made_from_a_plain_list_goes_on_from_it():
    """A history read back from an older store (one point per step, no counts) keeps counting."""
    history = History(step_loss=[1.0] * MAX_STEP_LOSS_POINTS)
    assert history.n_steps == MAX_STEP_LOSS_POINTS
    history.add_step_loss(3.0)
    history.add_step_loss(5.0)
    assert history.n_steps == MAX_STEP_LOSS_POINTS + 2 and history.step_loss_every == 2
    assert len(history.step_loss) == MAX_STEP_LOSS_POINTS // 2 + 1 and history.step_loss[-1] == 4.0


def test_a_long_batch_1_run_keeps_the_means_of_every_step(monkeypatch):
    """The same seeded run with an unbounded history (the limit raised) gives the losses of
    every step; the bounded one keeps their means, and training itself is unchanged."""
    data = load_bundled()
    images, labels = data.images[:40], data.labels[:40]
    config = TrainConfig(hidden_sizes=(4,), optimizer="sgd", learning_rate=0.01, batch_size=1, epochs=300,
                         snapshot_every=0, stats_every=1000)
    bounded = train(build_network(config), images, labels, config)
    monkeypatch.setattr(history_module, "MAX_STEP_LOSS_POINTS", 10**9)
    every_step = train(build_network(config), images, labels, config)
    steps = 40 * 300
    assert len(every_step.history.step_loss) == steps  # the old behaviour: one per step
    history = bounded.history
    assert history.n_steps == steps and len(history.step_loss) == steps // 2 and history.step_loss_every == 2
    np.testing.assert_allclose(history.step_loss, reference_means(every_step.history.step_loss, 2), rtol=1e-9)
    for a, b in zip(bounded.network.weights, every_step.network.weights):
        np.testing.assert_array_equal(a, b)
    assert history.train_loss == every_step.history.train_loss
