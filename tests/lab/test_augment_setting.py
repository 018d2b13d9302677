"""The Train page's Augment setting (lab/): settings -> TrainConfig, links, locks, challenges."""

import pytest

from lab import challenges, exercise_lock, settings, url_settings
from lab.settings import DEFAULT_SETTINGS, to_config


def test_augment_is_off_by_default_and_on_when_set():
    assert settings.ALL_DEFAULTS["augment"] is False
    assert to_config(DEFAULT_SETTINGS).augment is False  # a dict that predates the setting
    config = to_config({**DEFAULT_SETTINGS, "augment": True})
    assert config.augment and (config.augment_shift, config.augment_degrees) == (2.0, 15.0)
    assert settings.describe_config(config).endswith(", augmented")
    with pytest.raises(ValueError, match="augment must be True or False"):
        to_config({**DEFAULT_SETTINGS, "augment": "yes"})
    assert settings.clamp_setting("augment", True) == (True, None)
    value, note = settings.clamp_setting("augment", 1)
    assert value is False and "Augment" in note


def test_links_carry_augment_only_when_on():
    assert "aug" not in url_settings.to_params(DEFAULT_SETTINGS)  # old links stay as they were
    on = {**DEFAULT_SETTINGS, "augment": True}
    params = url_settings.to_params(on)
    assert params["aug"] == "1"
    back, notes = url_settings.from_params(params)
    assert back == on and notes == []
    assert url_settings.from_params({"aug": "off"}, on)[0]["augment"] is False
    # A link with settings but no aug trains without augmentation, whatever the base had.
    assert url_settings.from_params({"ep": "5"}, on)[0]["augment"] is False
    back, notes = url_settings.from_params({"aug": "maybe"})
    assert back["augment"] is False and notes == ["aug='maybe' is not one of 1 or 0; using False."]


def test_a_locked_link_can_fix_augment():
    token = "s3cret"
    link = exercise_lock.compose_link({**DEFAULT_SETTINGS, "augment": True}, token, fixed=["aug"],
                                      expected_token=token)
    params = dict(pair.split("=", 1) for pair in link.split("?", 1)[1].split("&"))
    carried, _ = url_settings.from_params(params)
    lock, note = exercise_lock.lock_from_params(params, carried, token)
    assert note is None and lock.values == {"augment": True} and lock.fixes("augment")
    assert lock.apply({**DEFAULT_SETTINGS, "augment": False})[0]["augment"] is True
    assert "Augment True" in lock.describe()[0]


def test_a_challenge_can_lock_augment_and_judges_runs_by_it():
    challenge = challenges.from_dict({"id": "no-tricks", "goal": {"at_least": 0.5}, "locked": {"augment": False}})
    config = to_config({**DEFAULT_SETTINGS, "augment": True})
    assert challenges.settings_of(config)["augment"] is True
    assert challenge.violations(challenges.settings_of(config)) == [
        "Augment was True, the challenge fixes it at False"]
    with pytest.raises(challenges.ChallengeError, match="augment must be true or false"):
        challenges.from_dict({"id": "x", "locked": {"augment": "no"}})
