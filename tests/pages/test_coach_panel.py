"""The coach on the Train page under AppTest: after a run that diverged it says why, links
nothing but the curves, and its one-click fix sets the Train controls; after the Home page's
default run it says nothing; a fix an exercise's lock forbids is disabled."""

from __future__ import annotations

from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    open_app,
    open_page,
    restore_blas_threads,
    run_until_done,
    set_settings,
)

from lab import settings
from lab.exercise_lock import make_lock
from ui import workshop_lock


def diverged_run():
    at = open_app("train.py")
    set_settings(at, epochs=5, learning_rate=10.0, optimizer="sgd")
    at.button(key="start").click().run()
    return run_until_done(at)


def test_a_diverged_run_gets_the_coach_s_fix_which_sets_the_controls():
    at = diverged_run()
    assert any("**Coach**" in m.value for m in at.markdown)
    assert any("The run diverged" in m.value and "learning rate 10" in m.value for m in at.markdown)
    fix = at.button(key="coach_fix_diverged")
    assert fix.label == "Learning rate 1" and not fix.disabled
    fix.click().run()
    run_until_done(at)  # (collects nothing: the run is over)
    assert at.select_slider(key="train_learning_rate").value == 1.0
    assert at.session_state["settings"]["learning_rate"] == 1.0
    assert any("Press **Start**" in c.value for c in at.caption)


def test_the_home_default_run_gets_no_coaching():
    at = open_app()
    at.button(key="train_default").click().run()
    at.switch_page("pages/train.py")
    at.run()
    run_until_done(at, timeout=120)
    assert at.session_state["runs"][-1].status == "completed"
    assert not any("**Coach**" in m.value for m in at.markdown)
    assert not [b for b in at.button if str(b.key).startswith("coach_fix_")]


def test_a_fix_the_exercise_forbids_is_disabled():
    chosen = {**settings.DEFAULT_SETTINGS, "learning_rate": 10.0, "optimizer": "sgd", "epochs": 5}
    at = open_page("train", settings=chosen)
    at.session_state[workshop_lock.LINK_LOCK] = make_lock(chosen, fixed=["lr"])  # after the link was read
    at.run()
    assert at.select_slider(key="train_learning_rate").disabled
    at.button(key="start").click().run()
    run_until_done(at)
    assert at.session_state["runs"][-1].status == "diverged"
    assert at.button(key="coach_fix_diverged").disabled
