"""The Step by step page under AppTest: Step, Step ×10, Run (each ``at.run()`` stands for one tick
of its ``run_every`` fragment, which never fires under AppTest), Reset, and what a step shows.
The essential check: N steps on the page leave exactly the weights of ``train`` with the same
settings stopped after N steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_support import chart_key, decode, open_page, rerun, restore_blas_threads  # noqa: F401 (a fixture)

from lab import settings, step_run
from nn.network import Network
from nn.training import History, build_network, train
from ui import step_equations


def charts(at) -> dict[str, dict]:
    return {chart_key(c): json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def latex(at) -> str:
    return "\n".join(element.proto.body for element in at.get("latex"))


def trained_by_train(data, chosen: dict, n: int) -> Network:
    config = step_run.step_config(chosen)
    network, history = build_network(config), History()
    train(network, data.train_images, data.train_labels, config, history=history,
          stop=lambda: len(history.step_loss) >= n)
    return network


def test_before_the_first_step_the_page_says_what_a_step_does():
    at = open_page("step")
    assert [t.value for t in at.title] == ["Step by step"]
    assert at.info and "Press **Step**" in at.info[0].value
    assert at.radio(key="step_source").value == "small"
    assert not at.button(key="step_one").disabled and at.button(key="step_play").label == "Run"
    assert any("Step 0 of 705" in m.value for m in at.markdown)  # 141 batches of 32, 5 epochs


def test_steps_on_the_page_leave_exactly_the_weights_of_train(data):
    at = open_page("step")
    at.button(key="step_one").click().run()
    at.button(key="step_ten").click().run()
    at.button(key="step_play").click().run()  # Run: this draw takes a step...
    rerun(at)  # ...and so does every tick
    at.button(key="step_play").click().run()  # Pause: no more steps
    rerun(at)
    run = at.session_state["step_run"]
    assert run.steps_done == 13 and at.button(key="step_play").label == "Run"
    reference = trained_by_train(data, step_run.SMALL_SETTINGS, 13)
    for ours, theirs in zip([*run.network.weights, *run.network.biases], [*reference.weights, *reference.biases]):
        assert np.array_equal(ours, theirs)


def test_the_gradient_shown_is_the_engine_s_and_matches_finite_differences():
    at = open_page("step")
    at.button(key="step_ten").click().run()
    at.number_input(key="inside_step_example").set_value(3).run()
    at.number_input(key="inside_step_unit").set_value(5).run()
    record = at.session_state["step_run"].last
    shown = decode(charts(at)["step_gradient_chart"]["data"][0]["z"]).reshape(-1)
    np.testing.assert_array_equal(shown, record.grad_weights[0][:, 5])
    before = Network.from_arrays([w.astype(np.float64) for w in record.weights_before],
                                 [b.astype(np.float64) for b in record.biases_before], "relu")
    x, y = record.inputs.astype(np.float64), record.labels
    for pixel in np.argsort(-np.abs(shown))[:4]:
        w, epsilon = before.weights[0], 1e-5
        saved = w[pixel, 5]
        w[pixel, 5] = saved + epsilon
        up = before.loss(x, y)
        w[pixel, 5] = saved - epsilon
        down = before.loss(x, y)
        w[pixel, 5] = saved
        assert shown[pixel] == pytest.approx((up - down) / (2 * epsilon), rel=1e-3, abs=1e-7)


def test_the_equations_and_maps_carry_the_step_s_numbers():
    at = open_page("step")
    at.button(key="step_one").click().run()
    at.number_input(key="inside_step_example").set_value(2).run()
    record = at.session_state["step_run"].last
    u = step_run.unit_step(record, 2, 0, "relu")
    text = latex(at)
    for value in (u.z, u.a, u.example_loss, record.loss, u.grad_z, record.loss_after):
        assert step_equations.number(value) in text or step_equations.number(value, 4) in text
    shown = charts(at)
    np.testing.assert_allclose(decode(shown["step_input_chart"]["data"][0]["z"]).reshape(-1), u.image, rtol=1e-6)
    np.testing.assert_array_equal(decode(shown["step_contributions_chart"]["data"][0]["z"]).reshape(-1),
                                  u.contributions)
    output = shown["step_output_chart"]["data"]
    np.testing.assert_allclose(decode(output[1]["y"]), u.probabilities, rtol=1e-6)
    np.testing.assert_allclose(decode(output[2]["y"]), u.output_error, rtol=1e-6)
    np.testing.assert_array_equal(decode(shown["step_update_map_0"]["data"][0]["z"]).reshape(-1), u.change)
    np.testing.assert_array_equal(decode(shown["step_update_map_2"]["data"][0]["z"]).reshape(-1), u.weights_after)
    losses = shown["step_losses_chart"]["data"]
    assert decode(losses[0]["y"]).tolist() == [record.loss] and decode(losses[1]["y"]).tolist() == [record.loss_after]


def test_reset_starts_again_from_the_same_seed():
    at = open_page("step")
    at.button(key="step_ten").click().run()
    first_losses = list(at.session_state["step_run"].history.step_loss)
    at.button(key="step_reset").click().run()
    assert at.session_state["step_run"].steps_done == 0
    at.button(key="step_ten").click().run()
    assert at.session_state["step_run"].history.step_loss == first_losses


def test_the_train_page_settings_with_adam_show_its_moments():
    at = open_page("step", settings=dict(settings.GOOD_DEFAULT))
    at.radio(key="step_source").set_value("train").run()
    run = at.session_state["step_run"]
    assert run.network.layer_sizes == (784, 128, 10) and run.config.optimizer == "adam"
    at.button(key="step_one").click().run()
    shown = charts(at)
    u = step_run.unit_step(run.last, 0, 0, "relu")
    np.testing.assert_array_equal(decode(shown["step_update_map_3"]["data"][0]["z"]).reshape(-1), u.state["m"])
    np.testing.assert_array_equal(decode(shown["step_update_map_4"]["data"][0]["z"]).reshape(-1), u.state["v"])
    assert r"\hat m" in latex(at) and "Adam" in " ".join(m.value for m in at.markdown)


def test_convolutional_train_settings_are_refused_with_the_reason():
    at = open_page("step", settings=settings.recommended_conv_settings())
    at.radio(key="step_source").set_value("train").run()
    assert at.warning and "dense networks" in at.warning[0].value
    assert at.button(key="step_one").disabled


def test_run_stops_by_itself_at_the_end_of_the_run():
    chosen = {**step_run.SMALL_SETTINGS, "batch_mode": settings.BATCH_FULL, "epochs": 2}
    at = open_page("step", settings=chosen)
    at.radio(key="step_source").set_value("train").run()
    at.button(key="step_play").click().run()  # step 1
    rerun(at)  # step 2: the last one, the run ends and Run switches off
    rerun(at)
    run = at.session_state["step_run"]
    assert run.finished and run.steps_done == 2 and not at.session_state["step_running"]
    assert at.button(key="step_one").disabled and at.button(key="step_play").disabled
    assert at.success and "Reset to start again" in at.success[0].value
