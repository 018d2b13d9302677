"""Challenges: parsing TOML/JSON, limits and locks on settings, judging finished runs."""

import json

import pytest

from lab import challenges, settings
from lab.runs import Run
from nn.training import History, TrainConfig

TOML = """
[[challenge]]
id = "tiny"
title = "90% with a tiny network"
goal = { metric = "test_accuracy", at_least = 0.90 }
limits = { width = { max = 16 }, epochs = { max = 5 }, learning_rate = { min = 0.001, max = 0.1 } }
locked = { layers = 1, optimizer = "adam" }

[[challenge]]
id = "full"
title = "Full batch"
goal = { metric = "test_accuracy", at_least = 85 }
locked = { batch_mode = "full" }
"""


def run_with(status="completed", test_accuracy=0.93, **config):
    values = dict(hidden_sizes=(16,), optimizer="adam", learning_rate=0.01, epochs=5)
    values.update(config)
    return Run(number=1, config=TrainConfig(**values), status=status, message="", network=None,
               history=History(), dataset="d", seconds=1.0, test_accuracy=test_accuracy)


def test_a_challenge_file_limits_and_locks_the_knobs_it_names():
    tiny, full = challenges.parse(TOML)
    values = dict(settings.DEFAULT_SETTINGS, width=128, epochs=15, layers=3, optimizer="sgd",
                    learning_rate=5.0, activation="tanh")
    applied, notes = tiny.apply(values)
    assert applied["width"] == 16 and applied["epochs"] == 5
    assert applied["layers"] == 1 and applied["optimizer"] == "adam"
    assert applied["learning_rate"] == 0.1  # snapped to an allowed value within the limit
    assert applied["activation"] == "tanh" and applied["seed"] == values["seed"]  # not named
    assert len(notes) == 5 and any("at most 16" in n for n in notes)
    assert tiny.apply(applied) == (applied, [])  # already within the rules
    assert tiny.bounds("width", 1, settings.MAX_WIDTH) == (1, 16)
    assert tiny.bounds("seed", 0, settings.MAX_SEED) == (0, settings.MAX_SEED)
    low, _ = tiny.apply(dict(applied, learning_rate=0.0001))
    assert low["learning_rate"] == 0.001
    assert full.at_least == 0.85  # "85" means 85%
    assert full.apply(settings.DEFAULT_SETTINGS)[0]["batch_mode"] == settings.BATCH_FULL


def test_judging_a_finished_run_pass_and_fail():
    tiny = challenges.parse(TOML)[0]
    passed, reasons = tiny.judge(run_with())
    assert passed and "93.0%" in reasons[0]
    passed, reasons = tiny.judge(run_with(test_accuracy=0.89))
    assert not passed and "below the goal 90.0%" in reasons[0]
    passed, reasons = tiny.judge(run_with(hidden_sizes=(32,)))
    assert not passed and any("Hidden width 32 is above the maximum 16" in r for r in reasons)
    passed, reasons = tiny.judge(run_with(hidden_sizes=(16, 16), optimizer="sgd"))
    assert not passed and len(reasons) == 2
    passed, reasons = tiny.judge(run_with(status="diverged", test_accuracy=None))
    assert not passed and "did not complete" in reasons[0]
    assert tiny.judge(None) == (False, ["no finished run yet"])


def test_json_and_the_shipped_file():
    data = {"challenge": [{"id": "j", "goal": {"at_least": 0.5}, "limits": {"epochs": {"max": 3}}}]}
    (challenge,) = challenges.parse(json.dumps(data), "json")
    assert challenge.title == "j" and challenge.limits == {"epochs": (None, 3)}
    shipped = challenges.load_file(challenges.DEFAULT_FILE)
    assert 2 <= len(shipped) <= 3
    for c in shipped:
        values, _ = c.apply(settings.DEFAULT_SETTINGS)
        assert c.violations(values) == []
        settings.to_config(values)


@pytest.mark.parametrize("bad", [
    "not toml [",
    '[[challenge]]\nid = "../etc"',
    '[[challenge]]\nid = "a"\nlimits = { activation = { max = 1 } }',
    '[[challenge]]\nid = "a"\nlocked = { optimizer = "lion" }',
    '[[challenge]]\nid = "a"\nlocked = { colour = 1 }',
    '[[challenge]]\nid = "a"\nlimits = { epochs = { min = 9, max = 3 } }',
    '[[challenge]]\nid = "a"\ngoal = { metric = "speed" }',
    '[[challenge]]\nid = "a"\n[[challenge]]\nid = "a"',
])
def test_bad_challenge_files_are_refused_with_a_message(bad):
    with pytest.raises(challenges.ChallengeError):
        challenges.parse(bad)


def test_server_file_from_the_environment(tmp_path):
    path = tmp_path / "c.toml"
    assert challenges.server_file({"DIGIT_LAB_CHALLENGES": str(path)}) == path
    assert challenges.server_file({}) == challenges.DEFAULT_FILE
