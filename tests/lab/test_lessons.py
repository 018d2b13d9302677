"""Lessons (lab/lessons.py): the shipped files, the messages for broken ones, the goals checked
against real runs, and steps whose page the app does not have."""

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab import lessons, presets
from lab.lessons import LessonError
from lab.settings import CONV_DEFAULTS, DEFAULT_SETTINGS, to_config

ROOT = Path(__file__).resolve().parents[2]
APP_PAGES = [p.stem for p in (ROOT / "pages").glob("*.py")]


STEP = 'id = "l"\ntitle = "x"\n[[step]]\ntitle = "t"\ntext = "x"\n'  # a lesson up to its first step's text


def run(number: int, status: str = "completed", accuracy: float | None = 0.9, **settings):
    """A finished run as the lessons read it: number, status, config, test accuracy."""
    return SimpleNamespace(number=number, status=status, test_accuracy=accuracy,
                           config=to_config({**DEFAULT_SETTINGS, **settings}))


def lesson(steps: str, header: str = 'id = "l"\ntitle = "A lesson"\n') -> str:
    return header + textwrap.dedent(steps)


def test_the_shipped_lessons_load_without_errors():
    found, errors = lessons.load_folder(ROOT / "assets" / "lessons")
    assert errors == []
    by_id = {item.id: item for item in found}
    assert set(by_id) == {"how-a-network-learns", "what-a-network-sees"}
    learns = by_id["how-a-network-learns"]
    assert [s.page for s in learns.steps] == ["train", "weights", "train", "train", "train", "train"]
    assert [s.preset and s.preset[0] for s in learns.steps] == \
        ["classic", None, "too_high_lr", "dead_relus", "adam_vs_sgd", None]
    assert learns.steps[2].goal.kind == "run" and learns.steps[2].goal.status == "diverged"
    assert learns.steps[5].goal.challenge.limits == {"width": (None, 16)}
    # every step's settings make a network the Train page can start
    for step in learns.steps:
        to_config(step.start_settings(DEFAULT_SETTINGS))


def test_steps_whose_page_the_app_does_not_have_are_skipped():
    sees = lessons.load_file(ROOT / "assets" / "lessons" / "what-a-network-sees.toml")
    pages = [step.page for step in sees.steps]
    assert all(page in APP_PAGES for page in pages)  # every page the lesson names exists now
    assert lessons.available_steps(sees, APP_PAGES) == list(range(len(pages)))
    # an app without a page (an older one, or a page hidden) skips the steps on it
    without_probe = [page for page in APP_PAGES if page != "probe"]
    assert lessons.available_steps(sees, without_probe) == [i for i, page in enumerate(pages) if page != "probe"]
    assert "probe" in pages


def test_a_step_loads_its_preset_and_its_own_settings_over_it():
    step = lessons.parse(lesson('''
        [[step]]
        title = "t"
        text = "x"
        preset = "adam_vs_sgd"
        variant = 1
        settings = { epochs = 3 }
        locked = ["opt"]
        hidden = ["conv", "presets"]
    ''')).steps[0]
    settings = step.start_settings({**DEFAULT_SETTINGS, "conv_layers": 2, "width": 300})
    assert settings == {**CONV_DEFAULTS, **presets.BY_ID["adam_vs_sgd"].settings(1), "epochs": 3}
    lock = step.lock(settings)
    assert lock.values["optimizer"] == "sgd" and lock.hides("conv") and lock.hides("presets")
    assert lock.values["conv_layers"] == 0  # a dense preset switches convolution off
    only_settings = lessons.parse(lesson('[[step]]\ntitle = "t"\ntext = "x"\nsettings = { width = 16 }\n')).steps[0]
    assert only_settings.start_settings({**DEFAULT_SETTINGS, "epochs": 7}) == \
        {**DEFAULT_SETTINGS, "epochs": 7, "width": 16}  # over the current settings


@pytest.mark.parametrize(("text", "message"), [
    ('title = "x"\n[[step]]\ntitle = "t"\ntext = "x"\n', "id must be 1-40 letters"),
    ('id = "l"\ntitle = "x"\n', "1 to 30 [[step]] tables"),
    ('id = "l"\ntitle = "x"\n[[steps]]\ntitle = "t"\n', "unknown key(s) steps"),
    ('id = "l"\ntitle = "x"\n[[step]]\ntitle = "t"\n', "step 1: text is missing"),
    (STEP + 'pgae = "weights"\n', "step 1: unknown key(s) pgae"),
    (STEP + 'preset = "to_high_lr"\n',
     "unknown preset 'to_high_lr'; known: classic, too_high_lr"),
    (STEP + 'preset = "classic"\nvariant = 1\n',
     "preset 'classic' has variants 0 to 0"),
    (STEP + 'settings = { learning_rate = 0.3 }\n',
     "Learning rate 0.3 is not one of the choices"),
    (STEP + 'settings = { speed = 3 }\n', "unknown setting 'speed'"),
    (STEP + 'locked = ["learning_rate"]\n',
     "locked has unknown control(s) 'learning_rate'; known: ep, lr"),
    (STEP + 'locked = { lr = 0.1 }\n', "locked must be a list"),
    (STEP + 'goal = { run = "finished" }\n',
     "goal run must be one of completed, diverged"),
    (STEP + 'goal = { run = "completed", visit = "draw" }\n',
     "exactly one of run, runs_with, metric or visit"),
    (STEP + 'goal = { metric = "loss", at_least = 0.9 }\n',
     "goal metric must be one of test_accuracy"),
    (STEP + 'question = { text = "?", choices = ["a", "b"], answer = 3 }\n',
     "answer must be the number of the right choice, 1 to 2"),
    (STEP + 'page = "../app"\n', "page must be a page's name"),
    (STEP + '[[step]]\ntitle = "u"\ntext = "y"\nhidden = ["lr", "moon"]\n',
     "step 2: hidden has unknown control(s) 'moon'"),
    ('id = "l"\ntitle = \n', "not valid TOML"),
])
def test_a_broken_lesson_is_refused_with_a_message_naming_the_file_step_and_key(text, message):
    with pytest.raises(LessonError) as error:
        lessons.parse(text, "broken.toml")
    assert str(error.value).startswith("broken.toml: ")
    assert message in str(error.value)


def test_a_folder_keeps_the_good_lessons_and_reports_the_bad_ones(tmp_path):
    good = lesson('[[step]]\ntitle = "t"\ntext = "x"\n')
    (tmp_path / "a.toml").write_text(good)
    (tmp_path / "b.toml").write_text(good)  # the same id again
    (tmp_path / "c.toml").write_text("id = 'c'\n")
    (tmp_path / "notes.txt").write_text("not a lesson")
    found, errors = lessons.load_folder(tmp_path)
    assert [item.id for item in found] == ["l"]
    assert errors == ["b.toml: another lesson already has the id 'l'", "c.toml: a lesson has 1 to 30 [[step]] tables"]


def goal(text: str):
    return lessons.parse(lesson(f'[[step]]\ntitle = "t"\ntext = "x"\ngoal = {text}\n')).steps[0].goal


def test_a_run_goal_counts_only_the_runs_of_the_step():
    diverged = goal('{ run = "diverged" }')
    runs = [run(1, "diverged"), run(2, "completed"), run(3, "stopped")]
    assert lessons.goal_met(diverged, runs, since_run=1) == (True, "run 3 stopped")
    assert lessons.goal_met(diverged, runs, since_run=2) == (False, "run 3 stopped")
    assert lessons.goal_met(diverged, runs, since_run=4) == (False, "")
    assert diverged.text() == "train until the run diverges"


def test_a_runs_with_goal_needs_a_completed_run_of_each_kind():
    both = goal('{ runs_with = [{ optimizer = "adam" }, { optimizer = "sgd", learning_rate = 0.001 }] }')
    assert both.text() == "train one run with Optimizer Adam and one run with Optimizer SGD, Learning rate 0.001"
    adam = run(1, optimizer="adam")
    met, detail = lessons.goal_met(both, [adam], 1)
    assert not met and detail == "still to train: Optimizer SGD, Learning rate 0.001"
    assert not lessons.goal_met(both, [adam, run(2, optimizer="sgd", learning_rate=0.01)], 1)[0]
    assert not lessons.goal_met(both, [adam, run(2, "diverged", optimizer="sgd")], 1)[0]
    assert lessons.goal_met(both, [adam, run(2, optimizer="sgd")], 1) == (True, "")


def test_a_metric_goal_is_judged_like_a_challenge():
    small = goal('{ metric = "test_accuracy", at_least = 0.90, limits = { width = { max = 16 } } }')
    assert small.text() == "test accuracy at least 90% (Hidden width at most 16)"
    assert not lessons.goal_met(small, [run(1, accuracy=0.95, width=64)], 1)[0]  # too wide
    met, detail = lessons.goal_met(small, [run(1, accuracy=0.85, width=16)], 1)
    assert not met and detail == "run 1: test accuracy 85.0% is below the goal 90.0%"
    met, detail = lessons.goal_met(small, [run(1, accuracy=0.85, width=16), run(2, accuracy=0.91, width=16)], 1)
    assert met and detail.startswith("run 2: test accuracy 91.0% reaches the goal")


def test_a_visit_goal_and_a_question_make_a_step_done():
    step = lessons.parse(lesson('''
        [[step]]
        title = "t"
        text = "x"
        page = "weights"
        goal = { visit = "weights" }
        question = { text = "?", choices = ["a", "b", "c"], answer = 2, explain = "because" }
    ''')).steps[0]
    assert step.question.answer == 1  # the file counts from 1
    assert not lessons.step_done(step, [], 1, visited={"train"}, answer=1)
    assert not lessons.step_done(step, [], 1, visited={"weights"}, answer=0)
    assert lessons.step_done(step, [], 1, visited={"weights"}, answer=1)
    reading = lessons.parse(lesson('[[step]]\ntitle = "t"\ntext = "x"\n')).steps[0]
    assert lessons.step_done(reading, [], 1)  # nothing to check: done when shown
