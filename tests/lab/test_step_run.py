"""The Step by step page's run: the Train page's training, one step at a time, and what the page
shows of a step for one example and one unit (every number the engine's, checked against the
network and finite differences)."""

import numpy as np
import pytest

from datasets import load_bundled
from lab import settings, step_run
from lab.data import make_split
from nn.network import Network
from nn.training import History, build_network, train


@pytest.fixture(scope="module")
def split():
    return make_split(load_bundled(), settings.VALIDATION_FRACTION, "bundled")


def new_run(split, chosen=step_run.SMALL_SETTINGS):
    return step_run.StepRun(step_run.step_config(chosen), split.train_images, split.train_labels,
                            validation=(split.validation_images, split.validation_labels))


def train_steps(split, chosen, n):
    config = step_run.step_config(chosen)
    network, history = build_network(config), History()
    train(network, split.train_images, split.train_labels, config, history=history,
          validation=(split.validation_images, split.validation_labels), stop=lambda: len(history.step_loss) >= n)
    return network


@pytest.mark.parametrize("chosen", [step_run.SMALL_SETTINGS, settings.GOOD_DEFAULT,
                                    {**settings.GOOD_DEFAULT, "optimizer": "nesterov", "learning_rate": 0.05,
                                     "layers": 2, "width": 24, "l2": 1e-4, "seed": 7}],
                         ids=["small sgd", "home default adam", "nesterov two layers"])
def test_n_steps_leave_the_weights_of_train_after_n_steps(split, chosen):
    run = new_run(split, chosen)
    n = run.steps_per_epoch + 3  # into the second epoch: its validation and new shuffle included
    assert run.step(1) == 1 and run.step(n - 1) == n - 1 and run.steps_done == n
    reference = train_steps(split, chosen, n)
    for ours, theirs in zip([*run.network.weights, *run.network.biases], [*reference.weights, *reference.biases]):
        assert np.array_equal(ours, theirs)
    assert len(run.history.epoch) == 1 and run.last.epoch == 2


def test_the_same_seed_gives_the_same_steps(split):
    first, again = new_run(split), new_run(split)
    first.step(3)
    again.step(3)
    assert np.array_equal(first.last.rows, again.last.rows) and first.last.loss == again.last.loss


def test_a_run_ends_after_its_epochs(split):
    chosen = {**step_run.SMALL_SETTINGS, "batch_mode": settings.BATCH_FULL, "epochs": 2}
    run = new_run(split, chosen)
    assert run.total_steps == 2 and run.step(10) == 2
    assert run.finished and run.result.status == "completed" and run.step(1) == 0


def test_convolutional_settings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="dense networks"):
        step_run.step_config(settings.recommended_conv_settings())


def test_what_the_page_shows_of_a_step_adds_up(split):
    run = new_run(split)
    run.step(4)
    record = run.last
    u = step_run.unit_step(record, 5, 3, "relu")
    assert u.label == int(split.train_labels[record.rows[5]])
    np.testing.assert_allclose(u.image, split.train_images[record.rows[5]] / 255, rtol=1e-6)
    # z: the engine's, and the terms written out add up to it.
    assert u.z == float(record.pre_activations[0][5, 3])
    assert u.contributions.sum(dtype=np.float64) + u.bias == pytest.approx(u.z, abs=1e-5)
    assert np.abs(u.contributions[u.top_pixels]).min() >= np.abs(np.delete(u.contributions, u.top_pixels)).max()
    assert u.a == max(u.z, 0.0) and u.derivative == (1.0 if u.z > 0 else 0.0)
    assert u.example_loss == pytest.approx(-np.log(u.probabilities[u.label]), rel=1e-6)
    assert u.output_error[u.label] == pytest.approx((u.probabilities[u.label] - 1) / record.batch_size, rel=1e-5)
    assert u.grad_a == pytest.approx(float(u.next_weights @ u.next_error), rel=1e-4, abs=1e-9)
    assert u.grad_z == pytest.approx(u.grad_a * u.derivative, abs=1e-12)
    np.testing.assert_allclose(u.example_share, u.image * u.grad_z, rtol=1e-6)
    np.testing.assert_array_equal(u.weights_after, run.network.weights[0][:, 3])
    assert u.change == pytest.approx(-0.1 * u.grad_weights, rel=1e-6, abs=1e-12)  # SGD, learning rate 0.1


def test_the_unit_gradient_shown_matches_finite_differences(split):
    run = new_run(split)
    run.step(2)
    record = run.last
    before = Network.from_arrays([w.astype(np.float64) for w in record.weights_before],
                                 [b.astype(np.float64) for b in record.biases_before], "relu")
    x, y = record.inputs.astype(np.float64), record.labels
    for unit in (0, 7):
        shown = step_run.unit_step(record, 0, unit, "relu").grad_weights
        for pixel in np.argsort(-np.abs(shown))[:3]:
            w = before.weights[0]
            saved, epsilon = w[pixel, unit], 1e-5
            w[pixel, unit] = saved + epsilon
            up = before.loss(x, y)
            w[pixel, unit] = saved - epsilon
            down = before.loss(x, y)
            w[pixel, unit] = saved
            assert shown[pixel] == pytest.approx((up - down) / (2 * epsilon), rel=1e-3, abs=1e-7)


def test_adam_s_state_is_shown_for_the_unit(split):
    run = new_run(split, settings.GOOD_DEFAULT)
    run.step(2)
    u = step_run.unit_step(run.last, 0, 10, "relu")
    assert sorted(u.state) == ["m", "v"] and u.state["m"].shape == (784,)
    assert run.last.optimizer_settings["step_count"] == 2
    with pytest.raises(ValueError, match="example must be"):
        step_run.unit_step(run.last, 500, 0, "relu")
    with pytest.raises(ValueError, match="unit must be"):
        step_run.unit_step(run.last, 0, 128, "relu")
