"""The coach's rules on real runs of the bundled digits: each fires on a run built to trigger
it, and none fires on the Home page's default run, neither at its end nor at any epoch while it
trains."""

import dataclasses
import types

import numpy as np
import pytest

from datasets import load_bundled
from lab import coach, presets, settings
from lab.data import make_split
from nn.training import build_network, train

GOOD = settings.GOOD_DEFAULT


@pytest.fixture(scope="module")
def split():
    return make_split(load_bundled(), settings.VALIDATION_FRACTION, "bundled")


def run(split, chosen: dict, n_train: int | None = None):
    """(history, config, status) of a run with page settings ``chosen``, on the first
    ``n_train`` training images (all by default), validated on the 500 validation images."""
    config = settings.to_config(chosen)
    images, labels = split.train_images[:n_train], split.train_labels[:n_train]
    result = train(build_network(config), images, labels, config,
                   validation=(split.validation_images, split.validation_labels))
    return result.history, config, result.status


def rules(history, config, status, finished=True) -> list[str]:
    return [d.rule for d in coach.diagnose(history, config, status, finished=finished)]


def after_epochs(history, k: int, steps_per_epoch: int):
    """The history as a live reader saw it when epoch ``k`` had just ended."""
    steps = k * steps_per_epoch
    records = sum(1 for s in history.stats_step if s <= steps)
    return types.SimpleNamespace(
        step_loss=history.step_loss[:steps], epoch=history.epoch[:k], train_loss=history.train_loss[:k],
        validation_loss=history.validation_loss[:k], layer_grad_norm=history.layer_grad_norm[:records],
        layer_dead_fraction=history.layer_dead_fraction[:records])


def test_the_home_default_run_gets_no_diagnosis_at_the_end_or_while_it_trains(split):
    history, config, status = run(split, GOOD)
    assert status == "completed" and rules(history, config, status) == []
    steps_per_epoch = len(history.step_loss) // len(history.epoch)
    for k in range(1, len(history.epoch) + 1):
        assert rules(after_epochs(history, k, steps_per_epoch), config, "running", finished=False) == [], k


def test_a_diverging_run_is_told_to_lower_its_learning_rate(split):
    history, config, status = run(split, {**GOOD, "optimizer": "sgd", "learning_rate": 10.0})
    assert status == "diverged"
    [diagnosis] = coach.diagnose(history, config, status, finished=True)
    assert diagnosis.rule == "diverged" and diagnosis.fix == {"learning_rate": 1.0}
    assert diagnosis.page == "train" and "10" in diagnosis.why
    _, config, status = run(split, {**GOOD, "optimizer": "sgd", "learning_rate": 1.0, "epochs": 2})
    assert status == "completed"  # the fix works


def test_a_too_small_learning_rate_leaves_the_loss_flat(split):
    history, config, status = run(split, {**GOOD, "optimizer": "sgd", "learning_rate": 1e-4, "epochs": 3})
    [diagnosis] = coach.diagnose(history, config, status, finished=True)
    assert diagnosis.rule == "flat" and diagnosis.fix == {"learning_rate": 1e-3}
    assert rules(after_epochs(history, 2, len(history.step_loss) // 3), config, "running", finished=False) == ["flat"]


def test_a_big_network_on_few_images_overfits(split):
    chosen = {**GOOD, "width": 256, "epochs": 30, "batch_size": 32}
    history, config, status = run(split, chosen, n_train=600)
    found = coach.diagnose(history, config, status, finished=True)
    overfitting = next(d for d in found if d.rule == "overfitting")
    best = int(np.argmin(history.validation_loss)) + 1
    assert overfitting.fix == {"epochs": best} and best <= 30 - coach.OVERFIT_EPOCHS_AFTER
    assert history.validation_loss[-1] >= (1 + coach.OVERFIT_RISE) * min(history.validation_loss)


def test_big_sgd_steps_kill_relu_units(split):
    chosen = presets.BY_ID["dead_relus"].settings()  # the lesson's "Dead ReLUs": SGD, learning rate 1
    history, config, status = run(split, chosen)
    dead = next(d for d in coach.diagnose(history, config, status, finished=True) if d.rule == "dead_relus")
    assert dead.fix == {"activation": "leaky_relu"} and dead.page == "gradients"
    assert np.mean(history.layer_dead_fraction[-coach.DEAD_RECORDS:]) >= coach.DEAD_SHARE
    history, config, status = run(split, {**chosen, "activation": "leaky_relu"})
    assert "dead_relus" not in rules(history, config, status)


def test_a_deep_sigmoid_network_has_vanishing_gradients(split):
    chosen = {**GOOD, "optimizer": "sgd", "learning_rate": 0.1, "activation": "sigmoid", "layers": 4, "epochs": 3}
    history, config, status = run(split, chosen)
    found = rules(history, config, status)
    assert found == ["vanishing"]  # its flat loss is a symptom: only the cause is reported
    fix = coach.diagnose(history, config, status, finished=True)[0].fix
    history, config, status = run(split, {**chosen, **fix})
    assert "vanishing" not in rules(history, config, status)


def test_a_run_still_improving_at_its_end_is_told_to_train_longer(split):
    history, config, status = run(split, {**GOOD, "optimizer": "sgd", "learning_rate": 0.01, "epochs": 5})
    [diagnosis] = coach.diagnose(history, config, status, finished=True)
    assert diagnosis.rule == "more_epochs" and diagnosis.fix == {"epochs": 10}
    assert rules(history, config, status, finished=False) == []  # said at the end only


def test_every_fix_makes_settings_the_train_page_can_start():
    history = types.SimpleNamespace(step_loss=[2.3, float("nan")], epoch=[], train_loss=[], validation_loss=[],
                                    layer_grad_norm=[], layer_dead_fraction=[])
    config = settings.to_config({**GOOD, "learning_rate": 0.0002})
    [diagnosis] = coach.diagnose(history, config, "diverged", finished=True)
    assert diagnosis.fix == {"learning_rate": 0.0001}  # the slider's lowest, not 0.00002
    fixed = settings.to_config({**GOOD, **diagnosis.fix})
    assert dataclasses.replace(fixed, learning_rate=config.learning_rate) == config
