"""Workshop mode in AppTest: link settings, presets, challenges, leaderboard, projector."""

import pytest
from app_support import open_app, restore_blas_threads, run_until_done  # noqa: F401 (fixture)
from streamlit.testing.v1 import AppTest

from lab import settings

CHALLENGES = """
[[challenge]]
id = "tiny"
title = "Tiny"
description = "At most 16 units and 5 epochs."
goal = { metric = "test_accuracy", at_least = 0.5 }
limits = { width = { max = 16 }, epochs = { max = 5 } }
locked = { optimizer = "adam", layers = 1 }

[[challenge]]
id = "impossible"
title = "Impossible"
goal = { metric = "test_accuracy", at_least = 0.999 }
limits = { epochs = { max = 2 } }
"""


@pytest.fixture(autouse=True)
def workshop_env(tmp_path, monkeypatch):
    path = tmp_path / "challenges.toml"
    path.write_text(CHALLENGES)
    monkeypatch.setenv("DIGIT_LAB_CHALLENGES", str(path))
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_DB", str(tmp_path / "board.sqlite3"))
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_TOKEN", "s3cret")


def qp(at: AppTest, name: str) -> str:
    """A query parameter's value (AppTest keeps a str or a list of str)."""
    value = at.query_params.get(name)
    return value[-1] if isinstance(value, list) else value


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_link_settings_are_applied_and_mirrored():
    at = open_app("train.py", ep="7", lr="0.01", w="32", hl="2", act="tanh", opt="sgd", bs="full")
    assert at.slider(key="train_epochs").value == 7
    assert at.select_slider(key="train_learning_rate").value == 0.01
    assert at.slider(key="train_width").value == 32
    assert at.number_input(key="train_layers").value == 2
    assert at.selectbox(key="train_activation").value == "tanh"
    assert at.radio(key="train_batch_mode").value == settings.BATCH_FULL
    at.slider(key="train_width").set_value(48).run()
    assert qp(at, "w") == "48" and qp(at, "ep") == "7"
    assert qp(at, "lab") == at.session_state["lab_id"]  # the lab stays
    assert any("/train?ep=7&lr=0.01&w=48" in c.value for c in at.code)


def test_invalid_link_values_are_clamped_with_a_visible_note():
    at = open_app("train.py", ep="100000", lr="3", w="0", act="swish", seed="-4")
    assert at.slider(key="train_epochs").value == settings.MAX_EPOCHS
    assert at.select_slider(key="train_learning_rate").value in (2.0, 5.0)
    assert at.slider(key="train_width").value == 1
    assert at.selectbox(key="train_activation").value == settings.DEFAULT_SETTINGS["activation"]
    assert at.number_input(key="train_seed").value == 0
    note = texts(at.warning)
    assert "Settings from the link were adjusted" in note
    for short in ("ep=100000", "lr=3", "w=0", "act='swish'", "seed=-4"):
        assert short in note, short


def test_load_preset_sets_the_controls():
    at = open_app("train.py")
    at.selectbox(key="workshop_preset").set_value(("dead_relus", 0)).run()
    at.button(key="load_preset").click().run()
    assert not at.exception
    assert at.select_slider(key="train_learning_rate").value == 1.0
    assert at.selectbox(key="train_optimizer").value == "sgd"
    assert at.selectbox(key="train_activation").value == "relu"
    assert at.session_state["settings"]["learning_rate"] == 1.0
    assert "Dead ReLUs" in texts(at.success) and "Weights" in texts(at.success)
    assert qp(at, "lr") == "1"


def test_a_challenge_limits_and_locks_knobs_and_judges_the_run():
    at = open_app("train.py", challenge="tiny", w="200", ep="50", opt="sgd")
    assert at.slider(key="train_width").max == 16 and at.slider(key="train_width").value == 16
    assert at.slider(key="train_epochs").max == 5 and at.slider(key="train_epochs").value == 5
    assert at.selectbox(key="train_optimizer").disabled
    assert at.selectbox(key="train_optimizer").value == "adam"
    assert at.number_input(key="train_layers").disabled
    assert not at.selectbox(key="train_activation").disabled
    assert "Challenge: Tiny" in texts(at.info)
    at.slider(key="train_epochs").set_value(2).run()
    at.button(key="start").click().run()
    run_until_done(at)
    assert at.session_state["job"].config.hidden_sizes == (16,)
    assert at.session_state["model"].test_accuracy > 0.5  # judged on the shipped test set
    assert "Challenge passed with run 1" in texts(at.success)
    # The same run does not pass the impossible challenge; it is judged only on new runs.
    at.selectbox(key="workshop_challenge").set_value("impossible").run()
    assert at.slider(key="train_width").max == settings.MAX_WIDTH
    assert at.slider(key="train_width").value == 16  # the settings stay when the range widens
    assert not any("Challenge" in e.value and "run 1" in e.value for e in at.error)
    at.button(key="start").click().run()
    run_until_done(at)
    assert "Challenge not passed by run 2" in texts(at.error)
    assert "below the goal" in texts(at.error)
    assert qp(at, "challenge") == "impossible"


def test_leaderboard_submit_shows_names_as_text_and_clearing_needs_the_token():
    hostile = "<b>Bob</b> **bold** [x](http://e)"
    at = open_app("train.py")
    at.slider(key="train_epochs").set_value(1).run()
    at.slider(key="train_width").set_value(16).run()
    at.button(key="start").click().run()
    run_until_done(at)
    assert at.session_state["model"].test_accuracy > 0.5
    at.switch_page("pages/leaderboard.py").run()
    assert at.button(key="leaderboard_submit").disabled  # no name yet: nothing is sent
    at.text_input(key="leaderboard_name").input(hostile).run()
    at.button(key="leaderboard_submit").click().run()
    assert "on the leaderboard" in texts(at.success)
    table = at.dataframe[0].value
    assert list(table["name"]) == [hostile]
    rendered = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any("Bob" in text for text in rendered)  # only in the table, as text
    at.button(key="leaderboard_submit").click().run()  # the same run again
    assert "already on the leaderboard" in texts(at.error)
    assert len(at.dataframe[0].value) == 1
    # clearing: a wrong token is refused, the right one clears
    at.text_input(key="leaderboard_token").input("guess")  # a form: sent with its button
    at.button(key="leaderboard_clear_button").click().run()
    assert "wrong facilitator token" in texts(at.error)
    assert len(at.dataframe[0].value) == 1
    at.text_input(key="leaderboard_token").input("s3cret")  # a form: sent with its button
    at.button(key="leaderboard_clear_button").click().run()
    assert "Cleared 1 entries" in texts(at.success), texts(at.error)
    assert len(at.dataframe[0].value) == 0


def test_projector_toggle_enlarges_and_hides_controls():
    at = open_app("train.py")
    assert at.selectbox(key="workshop_preset")
    at.slider(key="train_width").set_value(77).run()
    at.toggle(key="projector").set_value(True).run()
    assert at.slider(key="train_width").value == 77
    assert not at.exception
    assert not [s for s in at.selectbox if s.key == "workshop_preset"]  # fewer controls
    assert any(e.label == "More settings" for e in at.expander)
    assert any("font-size" in str(h.proto.body) for h in at.get("html"))
