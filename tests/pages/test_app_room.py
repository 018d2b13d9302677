"""The room in AppTest: locked exercise links (hidden controls and pages are not rendered),
lessons (steps advance, goals are checked, missing pages are skipped), the room's handwriting
on Evaluate and the Leaderboard, the room map, the facilitator's token, the projector curves.

Drawing on the canvas needs a browser: tests/browser/test_browser_room.py adds a drawing."""

import io
import json
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    chart_key,
    open_app,
    open_page,
    rerun,
    restore_blas_threads,
    run_until_done,
    trained_run,
)
from streamlit.testing.v1 import AppTest

from datasets import load_kaggle_csv
from lab import exercise_lock, handwriting
from lab.display_text import percent
from lab.evaluation import evaluate_set
from lab.leaderboard import open_leaderboard
from lab.settings import DEFAULT_SETTINGS

TOKEN = "s3cret"
LOCKED = {**DEFAULT_SETTINGS, "learning_rate": 0.1, "optimizer": "sgd", "width": 24, "epochs": 2}


@pytest.fixture(autouse=True)
def room_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_DB", str(tmp_path / "room.sqlite3"))
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_TOKEN", TOKEN)
    monkeypatch.setenv("DIGIT_LAB_CHALLENGES", str(tmp_path / "no-challenges.toml"))


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def keys(elements) -> set[str]:
    return {e.key for e in elements}


def locked_link(**lock) -> dict:
    link = exercise_lock.compose_link(LOCKED, TOKEN, **lock)
    return dict(parse_qsl(urlsplit(link).query))


def qp(at: AppTest, name: str) -> str:
    """A query parameter's value (AppTest keeps a str or a list of str)."""
    value = at.query_params.get(name)
    return value[-1] if isinstance(value, list) else value


def in_navigation(at: AppTest, page: str) -> bool:
    """Whether the app's navigation has ``page`` (AppTest refuses to switch to a page it lacks).
    Call it on the Train page: a page it finds is switched back to Train."""
    try:
        at.switch_page(f"pages/{page}.py")
    except ValueError as error:
        assert "Could not find a navigation page" in str(error)
        return False
    at.switch_page("pages/train.py")
    return True


# -- locked exercise links ---------------------------------------------------------------------


def test_hidden_controls_and_pages_of_a_locked_link_are_not_rendered():
    params = locked_link(fixed=["opt"], hidden=["lr", "conv", "presets", "share"], pages=["gradients", "weights"])
    at = open_app("train.py", **params)
    assert "train_learning_rate" not in keys(at.select_slider)  # hidden: not drawn at all
    assert not {"train_conv_layers", "train_conv_filters"} & (keys(at.number_input) | keys(at.slider))
    assert "workshop_preset" not in keys(at.selectbox)
    assert not any("Share these settings" in e.label for e in at.expander)
    assert not any("locked exercise link" in e.label for e in at.expander)  # no composer inside an exercise
    assert at.selectbox(key="train_optimizer").disabled and at.selectbox(key="train_optimizer").value == "sgd"
    assert not at.slider(key="train_width").disabled and at.slider(key="train_width").value == 24
    assert "Exercise link." in texts(at.info) and "Learning rate 0.1" in texts(at.info)
    assert not in_navigation(at, "gradients") and not in_navigation(at, "weights")
    assert in_navigation(at, "activations") and in_navigation(at, "evaluate")
    # the session's settings cannot leave the lock: they are brought back before every run
    at.session_state["settings"] = {**at.session_state["settings"], "learning_rate": 1.0, "optimizer": "adam"}
    rerun(at)
    assert at.session_state["settings"]["learning_rate"] == 0.1
    assert at.session_state["settings"]["optimizer"] == "sgd"
    at.button(key="start").click().run()
    run_until_done(at)
    config = at.session_state["model"].config
    assert (config.learning_rate, config.optimizer, config.hidden_sizes) == (0.1, "sgd", (24,))


def test_a_reload_of_the_lab_keeps_its_lock_without_the_links_parameters():
    at = open_app("train.py", **locked_link(hidden=["lr"], pages=["data"]))
    lab = at.session_state["lab_id"]
    again = open_app("train.py", lab=lab)  # the address lost the lock's parameters
    assert again.session_state["lab_id"] == lab
    assert "train_learning_rate" not in keys(again.select_slider)
    assert not in_navigation(again, "data")
    fresh = open_app("train.py")  # another lab: nothing hidden
    assert "train_learning_rate" in keys(fresh.select_slider) and in_navigation(fresh, "data")


def test_an_edited_locked_link_opens_without_its_locks_and_says_so():
    params = locked_link(hidden=["lr"], pages=["gradients"])
    params["lr"] = "0.001"  # the participant edits the hidden value
    at = open_app("train.py", **params)
    assert "was changed after the facilitator made it" in texts(at.warning)
    assert at.select_slider(key="train_learning_rate").value == 0.001 and in_navigation(at, "gradients")


def test_the_facilitator_composes_a_locked_link_with_the_token():
    at = open_app("train.py")
    at.multiselect(key="exercise_fix").set_value(["opt"])
    at.multiselect(key="exercise_hide").set_value(["lr", "presets"])
    at.multiselect(key="exercise_hide_pages").set_value(["gradients"])
    at.text_input(key="exercise_token").input("guess")
    at.button(key="exercise_make_link").click().run()
    assert "No link made: wrong facilitator token." in texts(at.error)
    assert "exercise_link" not in at.session_state and at.session_state["exercise_token"] == ""
    at.text_input(key="exercise_token").input(TOKEN)
    at.button(key="exercise_make_link").click().run()
    link = at.session_state["exercise_link"]
    assert link in texts(at.code) and "&fix=opt&hide=lr.presets&hide_pages=gradients&sig=" in link
    params = dict(parse_qsl(urlsplit(link).query))
    participant = open_app("train.py", **params)
    assert "train_learning_rate" not in keys(participant.select_slider)
    assert participant.selectbox(key="train_optimizer").disabled


# -- lessons ----------------------------------------------------------------------------------------


def step_lines(at: AppTest) -> str:
    return next(m.value for m in at.sidebar.markdown if m.value.startswith("- "))


def test_lesson_steps_advance_and_check_their_goals():
    at = open_app("home.py")
    at.sidebar.selectbox(key="lesson_pick").set_value("how-a-network-learns")
    at.sidebar.button(key="lesson_start").click().run()
    assert [t.value for t in at.title] == ["Train"]  # the step's page opens
    assert qp(at, "lesson") == "how-a-network-learns" and qp(at, "lesson_step") == "1"
    # step 1, the classic network: its settings loaded, its controls fixed or hidden
    assert at.slider(key="train_width").value == 10 and at.slider(key="train_epochs").value == 100
    assert at.selectbox(key="train_activation").disabled and at.selectbox(key="train_activation").value == "sigmoid"
    assert "train_l2" not in keys(at.select_slider) and "train_conv_layers" not in keys(at.number_input)
    assert "workshop_preset" not in keys(at.selectbox)
    assert "Goal: train a run to the end." in texts(at.sidebar.info)
    at.button(key="start").click().run()
    run_until_done(at)
    assert "Goal reached: train a run to the end. (run 1 completed)" in texts(at.sidebar.success)
    assert step_lines(at).startswith("- ✓ 1. **The classic network**")
    # step 2 on the Weights page: a question checked
    at.sidebar.button(key="lesson_next").click().run()
    assert [t.value for t in at.title] == ["Weights"]
    at.sidebar.radio(key="lesson_question_1").set_value(0).run()
    at.sidebar.button(key="lesson_check_1").click().run()
    assert "Not quite" in texts(at.sidebar.warning) and "- → 2. **What the units learned**" in step_lines(at)
    at.sidebar.radio(key="lesson_question_1").set_value(1).run()
    at.sidebar.button(key="lesson_check_1").click().run()
    assert texts(at.sidebar.success).startswith("Right. Each unit learned a template")
    assert "- ✓ 2. **What the units learned**" in step_lines(at)
    # step 3: learning rate 10, fixed; the run must diverge
    at.sidebar.button(key="lesson_next").click().run()
    assert [t.value for t in at.title] == ["Train"]
    learning_rate = at.select_slider(key="train_learning_rate")
    assert learning_rate.value == 10.0 and learning_rate.disabled
    at.button(key="start").click().run()
    run_until_done(at)
    assert at.session_state["runs"][-1].status == "diverged"
    assert "Goal reached: train until the run diverges. (run 2 diverged)" in texts(at.sidebar.success)
    # back to step 2: its answer is remembered; then leave the lesson: locks gone, settings stay
    at.sidebar.button(key="lesson_back").click().run()
    assert [t.value for t in at.title] == ["Weights"] and qp(at, "lesson_step") == "2"
    at.sidebar.button(key="lesson_end").click().run()
    assert "lesson_id" not in at.session_state and "lesson" not in at.query_params
    assert "lesson_step" not in at.query_params
    at.switch_page("pages/train.py").run()
    assert not at.select_slider(key="train_learning_rate").disabled and "train_l2" in keys(at.select_slider)


def test_a_reload_resumes_the_lesson_on_its_page_with_the_labs_settings():
    at = open_app(lesson="how-a-network-learns", step="3")
    assert [t.value for t in at.title] == ["Train"] and qp(at, "lesson_step") == "3" and "step" not in at.query_params
    at.slider(key="train_epochs").set_value(4).run()  # the participant's change
    at.switch_page("pages/weights.py").run()
    again = open_app("weights.py", lab=at.session_state["lab_id"], lesson="how-a-network-learns", lesson_step="3")
    assert [t.value for t in again.title] == ["Weights"]  # not sent back to the step's page
    assert "step 3 of 6" in texts(again.sidebar.caption)
    assert again.session_state["settings"]["epochs"] == 4  # not the step's settings again
    assert again.session_state["settings"]["learning_rate"] == 10.0  # the step's lock still holds


def test_a_goal_with_limits_counts_only_runs_within_them():
    at = open_app("train.py", lesson="how-a-network-learns", step="6")
    assert at.slider(key="train_width").value == 16 and at.slider(key="train_width").disabled
    assert "Goal: test accuracy at least 90%" in texts(at.sidebar.info)
    at.slider(key="train_epochs").set_value(1).run()
    at.button(key="start").click().run()
    run_until_done(at)
    info = texts(at.sidebar.info)
    assert "So far: run 1: test accuracy" in info and "is below the goal 90.0%" in info


def test_lesson_steps_open_the_hidden_space_and_probe_pages_in_turn():
    at = open_app("draw.py", lesson="what-a-network-sees", step="3")
    assert "step 3 of 7" in texts(at.sidebar.caption)  # every page the lesson names is in the app
    assert "skipped" not in step_lines(at)
    for step, title in ((4, "Hidden space"), (5, "Probe"), (6, "Probe"), (7, "Weights")):
        at.sidebar.button(key="lesson_next").click().run()
        assert [t.value for t in at.title] == [title] and qp(at, "lesson_step") == str(step)
    assert at.sidebar.button(key="lesson_next").disabled
    at.sidebar.button(key="lesson_back").click().run()
    assert [t.value for t in at.title] == ["Probe"] and qp(at, "lesson_step") == "6"


def test_a_lesson_inside_a_locked_exercise_skips_the_pages_it_hides():
    at = open_app("probe.py", lesson="what-a-network-sees", step="6", **locked_link(pages=["weights"]))
    assert "- ~~7. What each unit looks for~~ *(its page is hidden in this exercise: skipped)*" in step_lines(at)
    assert at.sidebar.button(key="lesson_next").disabled  # step 7 is the last, and skipped


# -- the room's handwriting, the leaderboard, the room map -----------------------------------------


@pytest.fixture(scope="module")
def run(data):
    return trained_run(data, (32,), validation=True)


def room_with(images, labels) -> handwriting.RoomHandwriting:
    room = handwriting.RoomHandwriting(per_person=1000)
    for index, (image, label) in enumerate(zip(images, labels)):
        room.add(f"d{index}", "someone", int(label), image)
    return room


def test_evaluate_scores_the_model_on_the_rooms_handwriting(run, mnist_test_set):
    at = open_page("evaluate", run, in_history=True)
    assert {m.label: m.value for m in at.metric}["The room's handwriting"] == "–"
    images, labels = mnist_test_set.images[:40], mnist_test_set.labels[:40]
    room_with(images, labels)
    rerun(at)
    expected = evaluate_set(run.network, images, labels, "room", 10)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["The room's handwriting"] == percent(expected.accuracy)
    assert metrics["Test accuracy"] == percent(run.test_accuracy) if run.test_accuracy else True
    at.segmented_control(key="use_eval_set").set_value("room").run()
    matrix = json.loads(next(e for e in at.get("plotly_chart") if chart_key(e).startswith("use_confusion_chart")
                             ).proto.spec)
    assert "40 drawings of the room's handwriting" in texts(at.caption)
    assert matrix["data"]


def test_the_leaderboard_shows_both_accuracies_and_the_room_map(run, mnist_test_set):
    room_with(mnist_test_set.images[:25], mnist_test_set.labels[:25])
    at = open_page("leaderboard", run.__class__(**{**run.__dict__, "test_accuracy": 0.9}), in_history=True)
    at.text_input(key="leaderboard_name").input("Ada").run()
    at.button(key="leaderboard_submit").click().run()
    assert "on the leaderboard" in texts(at.success)
    expected = evaluate_set(run.network, mnist_test_set.images[:25], mnist_test_set.labels[:25], "room", 10)
    table = at.dataframe[0].value
    assert list(table["test accuracy"]) == ["90.0%"]
    assert list(table["room's handwriting"]) == [f"{percent(expected.accuracy)} of 25"]
    room_map = json.loads(next(e for e in at.get("plotly_chart") if chart_key(e) == "room_map").proto.spec)
    assert [t["name"] for t in room_map["data"] if "units" not in t["name"]] == ["Adam (1)"]
    # others submit while the page is open: the next refresh (a fragment run) shows them
    board = open_leaderboard()
    for index in range(30):
        board.submit(f"other-{index}", f"p{index}", 0.5 + index / 100, {**DEFAULT_SETTINGS, "optimizer": "sgd"})
    rerun(at)  # AppTest never fires run_every: a rerun stands for the timer
    room_map = json.loads(next(e for e in at.get("plotly_chart") if chart_key(e) == "room_map").proto.spec)
    assert [t["name"] for t in room_map["data"] if "units" not in t["name"]] == ["SGD (30)", "Adam (1)"]
    assert len(at.dataframe[0].value) == 31
    assert "Median test accuracy:** Adam 90.0% (1 runs" in texts(at.caption)


def test_facilitator_actions_on_the_rooms_handwriting_need_the_token(mnist_test_set):
    room_with(mnist_test_set.images[:21], mnist_test_set.labels[:21])
    at = open_app("leaderboard.py")
    at.text_input(key="leaderboard_token").input("guess")
    at.button(key="room_download_button").click().run()
    assert "Not downloaded: wrong facilitator token." in texts(at.error)
    at.text_input(key="leaderboard_token").input("guess")
    at.button(key="room_clear_button").click().run()
    assert "Not cleared: wrong facilitator token." in texts(at.error)
    assert handwriting.RoomHandwriting().count() == 21
    at.text_input(key="leaderboard_token").input(TOKEN)
    at.button(key="room_download_button").click().run()
    assert at.get("download_button") and at.session_state["leaderboard_token"] == ""
    loaded = load_kaggle_csv(io.BytesIO(at.session_state["room_csv"]))
    np.testing.assert_array_equal(loaded.labels, mnist_test_set.labels[:21])
    at.text_input(key="leaderboard_token").input(TOKEN)
    at.button(key="room_clear_button").click().run()
    assert "Cleared 21 drawings from the room's handwriting." in texts(at.success)
    assert handwriting.RoomHandwriting().count() == 0


def test_the_draw_page_offers_the_rooms_set_only_for_a_drawing_with_a_label(run):
    at = open_page("draw", run, in_history=True)
    assert at.button(key="room_add").disabled  # nothing drawn (the canvas needs a browser)
    assert "Add it to the room's handwriting" in texts(at.markdown)


def test_projector_view_draws_the_train_curves_large_and_high_contrast():
    at = open_app("train.py")
    at.slider(key="train_epochs").set_value(2).run()
    at.slider(key="train_width").set_value(16).run()
    at.button(key="start").click().run()
    run_until_done(at)
    at.toggle(key="projector").set_value(True).run()
    charts = {chart_key(e): json.loads(e.proto.spec) for e in at.get("plotly_chart")}
    for name in ("loss_chart", "accuracy_chart"):
        layout = charts[name]["layout"]
        lines = [t for t in charts[name]["data"] if t["name"] in ("train", "validation")]
        assert layout["font"]["size"] == 18 and layout["height"] >= 400
        assert [t["line"]["width"] for t in lines] == [4, 4] and lines[1]["line"]["dash"] == "dash"
    assert "Look for the loss falling" in texts(at.caption)
