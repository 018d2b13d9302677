"""Locked exercise links (lab/exercise_lock.py): what a signed link fixes and hides, that an
edited or forged one is refused, and that a lab keeps its lock in the database."""

from urllib.parse import parse_qsl, urlsplit

import pytest

from lab import exercise_lock, facilitator, url_settings
from lab.exercise_lock import ExerciseLock, LockError, LockStore, compose_link, lock_from_params, make_lock
from lab.settings import BATCH_FULL, DEFAULT_SETTINGS, recommended_conv_settings

TOKEN = "s3cret"
DENSE = {**DEFAULT_SETTINGS, "learning_rate": 0.1, "optimizer": "sgd", "width": 16}


def link_params(link: str) -> dict:
    return dict(parse_qsl(urlsplit(link).query))


def opened(params: dict, token: str = TOKEN):
    """What a participant's session reads from the address: (lock, note)."""
    carried, _ = url_settings.from_params(params)
    return lock_from_params(params, carried, token)


@pytest.mark.parametrize("settings", [DENSE, recommended_conv_settings(),
                                      {**DENSE, "batch_mode": BATCH_FULL, "conv_filters": 12}],
                         ids=["dense", "cnn", "full-batch, stray conv knob"])
def test_a_composed_link_opens_with_its_lock(settings):
    link = compose_link(settings, TOKEN, fixed=["opt", "bs"], hidden=["lr", "conv", "presets"],
                        pages=["gradients", "weights"], base_url="http://room:8501", expected_token=TOKEN)
    assert link.startswith("http://room:8501/train?")
    params = link_params(link)
    assert params["fix"] == "opt.bs" and params["hide"] == "lr.conv.presets"
    assert params["hide_pages"] == "gradients.weights" and len(params["sig"]) == 32
    lock, note = opened(params)
    assert note is None
    assert lock.fixed == {"opt", "bs"} and lock.hidden == {"lr", "conv", "presets"}
    assert lock.pages == {"gradients", "weights"}
    carried, _ = url_settings.from_params(params)
    assert lock.values["learning_rate"] == settings["learning_rate"] == carried["learning_rate"]
    assert lock.values["optimizer"] == settings["optimizer"]
    assert lock.values["batch_mode"] == settings["batch_mode"]
    assert lock.values["conv_layers"] == settings.get("conv_layers", 0)
    assert set(lock.values) == {"optimizer", "batch_mode", "batch_size", "learning_rate", "conv_layers",
                                "conv_filters", "conv_filters_2", "conv_kernel", "conv_padding", "conv_pool"}
    assert lock.hides("presets") and not lock.hides("share") and lock.fixes("batch_size")
    assert not lock.fixes("width")


@pytest.mark.parametrize(("change", "value"), [
    ("lr", "0.001"),  # a hidden setting's value
    ("opt", "adam"),  # a fixed setting's value
    ("fix", "bs"),  # fewer fixed controls
    ("hide", "conv.presets"),  # fewer hidden controls
    ("hide_pages", "gradients"),  # fewer hidden pages
    ("sig", "0" * 32),  # a made-up signature
])
def test_an_edited_link_opens_without_its_lock(change, value):
    params = link_params(compose_link(DENSE, TOKEN, fixed=["opt", "bs"], hidden=["lr", "conv", "presets"],
                                      pages=["gradients", "weights"], expected_token=TOKEN))
    params[change] = value
    lock, note = opened(params)
    assert lock is None and "was changed after the facilitator made it" in note


def test_removing_the_signature_or_a_list_opens_without_the_lock():
    params = link_params(compose_link(DENSE, TOKEN, hidden=["lr"], expected_token=TOKEN))
    for name in ("sig", "hide"):
        edited = {k: v for k, v in params.items() if k != name}
        lock, note = opened(edited)
        assert lock is None and note and "changed" in note


def test_settings_the_lock_leaves_free_may_be_edited():
    params = link_params(compose_link(DENSE, TOKEN, fixed=["opt"], expected_token=TOKEN))
    params["w"], params["ep"] = "64", "3"  # free on the page too
    lock, note = opened(params)
    assert note is None and lock.values == {"optimizer": "sgd"}


def test_a_link_from_another_server_or_without_a_token_is_refused():
    params = link_params(compose_link(DENSE, TOKEN, hidden=["lr"], expected_token=TOKEN))
    assert opened(params, token="another-room")[0] is None
    lock, note = opened(params, token="")
    assert lock is None and "no facilitator token" in note
    assert opened({"ep": "5"}) == (None, None)  # a plain link has no lock at all


def test_composing_needs_the_facilitator_token():
    with pytest.raises(facilitator.TokenError, match="wrong facilitator token"):
        compose_link(DENSE, "guess", hidden=["lr"], expected_token=TOKEN)
    with pytest.raises(facilitator.TokenError, match="disabled"):
        compose_link(DENSE, "anything", hidden=["lr"], expected_token="")


def test_unknown_controls_and_always_shown_pages_are_refused():
    with pytest.raises(LockError, match="unknown control.*'speed'"):
        make_lock(DENSE, fixed=["speed"])
    with pytest.raises(LockError, match="unknown control.*'presets'"):
        make_lock(DENSE, fixed=["presets"])  # a panel can be hidden, not fixed
    with pytest.raises(LockError, match="cannot be hidden"):
        make_lock(DENSE, pages=["train"])
    with pytest.raises(LockError, match="cannot be hidden"):
        make_lock(DENSE, pages=["../etc"])


def test_the_lock_brings_settings_to_its_values_with_notes():
    lock = make_lock(DENSE, fixed=["opt"], hidden=["lr"])
    settings, notes = lock.apply({**DENSE, "optimizer": "adam", "learning_rate": 1.0, "width": 99})
    assert settings["optimizer"] == "sgd" and settings["learning_rate"] == 0.1 and settings["width"] == 99
    assert notes == ["Learning rate is fixed at 0.1 by the exercise.", "Optimizer is fixed at SGD by the exercise."]
    assert lock.apply(settings) == (settings, [])
    assert lock.describe() == ["fixed: Learning rate 0.1, Optimizer SGD"]


def test_a_lesson_lock_merges_with_the_link_lock_and_the_link_wins():
    lesson = make_lock({**DENSE, "learning_rate": 1.0}, fixed=["lr"], hidden=["presets"])
    link = make_lock(DENSE, hidden=["lr"], pages=["data"])
    both = lesson.merged(link)
    assert both.values["learning_rate"] == 0.1 and both.hides("presets") and both.hides("lr")
    assert both.pages == {"data"}
    assert lesson.merged(None) is lesson


def test_a_lock_survives_json():
    lock = make_lock(recommended_conv_settings(), fixed=["opt"], hidden=["conv", "share"], pages=["data"])
    assert ExerciseLock.from_json(lock.to_json()) == lock


def test_a_lab_keeps_its_lock_in_the_database(board_url):
    store = LockStore(board_url)
    lock = make_lock(DENSE, hidden=["lr"], pages=["weights"])
    assert store.load("lab-1") is None
    store.save("lab-1", lock)
    assert LockStore(board_url).load("lab-1") == lock  # another handle (another process) sees it
    assert store.load("lab-2") is None
    newer = make_lock(DENSE, fixed=["opt"])
    store.save("lab-1", newer)
    assert store.load("lab-1") == newer
    store.save("lab-1", ExerciseLock())  # a signed link that locks nothing lifts it
    assert store.load("lab-1") is None
    with store.database.read() as connection:
        keys = connection.scalars(exercise_lock.exercise_locks.select().with_only_columns(
            exercise_lock.exercise_locks.c.lab_key)).all()
    assert "lab-1" not in keys  # only hashes of lab ids are stored


def test_the_lock_store_is_bounded(board_url):
    store = LockStore(board_url, max_locks=3)
    for index in range(5):
        store.save(f"lab-{index}", make_lock(DENSE, hidden=["lr"]))
    assert [store.load(f"lab-{i}") is not None for i in range(5)] == [False, False, True, True, True]
