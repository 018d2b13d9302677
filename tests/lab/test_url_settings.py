"""Settings in the address: round trips, clamping with notes (no Streamlit)."""

import pytest

from lab import settings, url_settings
from lab.presets import PRESETS, options


def test_url_settings_url_round_trip():
    query = {"ep": "7", "lr": "0.01", "w": "32", "hl": "2", "act": "tanh", "opt": "sgd",
             "bs": "64", "l2": "0.001", "seed": "42"}
    values, notes = url_settings.from_params(query)
    assert notes == []
    assert values == {"epochs": 7, "learning_rate": 0.01, "width": 32, "layers": 2,
                        "activation": "tanh", "optimizer": "sgd", "batch_mode": settings.BATCH_MINI,
                        "batch_size": 64, "l2": 0.001, "seed": 42}
    assert url_settings.to_params(values) == query


@pytest.mark.parametrize("preset", [s for p in PRESETS for _, s in p.variants])
def test_settings_url_settings_round_trip_for_every_preset(preset):
    back, notes = url_settings.from_params(url_settings.to_params(preset))
    assert notes == []
    if preset["batch_mode"] == settings.BATCH_FULL:  # the URL says bs=full; the size is not needed
        back["batch_size"] = preset["batch_size"]
    assert back == preset


def test_full_batch_and_partial_links():
    values, notes = url_settings.from_params({"bs": "full", "ep": "3"})
    assert values["batch_mode"] == settings.BATCH_FULL and values["epochs"] == 3 and notes == []
    assert values["width"] == settings.DEFAULT_SETTINGS["width"]  # absent: unchanged
    assert url_settings.to_params(values)["bs"] == "full"
    assert not url_settings.has_settings({"lab": "x"}) and url_settings.has_settings({"lab": "x", "w": "1"})


def test_invalid_values_are_clamped_with_notes():
    values, notes = url_settings.from_params({"ep": "9999", "lr": "0.03", "w": "-5", "hl": "7",
                                     "act": "<b>swish</b>", "opt": "lion", "bs": "abc",
                                     "l2": "nan", "seed": "1e30"})
    assert values["epochs"] == settings.MAX_EPOCHS
    assert values["learning_rate"] in (0.02, 0.05)  # nearest on the log scale
    assert values["width"] == 1 and values["layers"] == settings.MAX_LAYERS
    assert values["activation"] == settings.DEFAULT_SETTINGS["activation"]
    assert values["optimizer"] == settings.DEFAULT_SETTINGS["optimizer"]
    assert values["batch_size"] == settings.DEFAULT_SETTINGS["batch_size"]
    assert values["l2"] == settings.DEFAULT_SETTINGS["l2"]
    assert values["seed"] == settings.MAX_SEED
    joined = "\n".join(notes)
    for short in ("ep=", "lr=", "w=", "hl=", "act=", "opt=", "bs=", "l2=", "seed="):
        assert short in joined, short
    assert len(notes) == 9
    # whatever came in, the result is a valid configuration
    settings.to_config(values)


def test_learning_rate_snaps_on_a_log_scale():
    assert url_settings.from_params({"lr": "0.0004"})[0]["learning_rate"] == 0.0005
    assert url_settings.from_params({"lr": "100"})[0]["learning_rate"] == 10.0
    assert url_settings.from_params({"lr": "-1"})[0]["learning_rate"] == 0.0001
    assert url_settings.from_params({"ep": "7.6"})[0]["epochs"] == 8


def test_share_link_never_carries_the_lab():
    link = url_settings.share_link(settings.DEFAULT_SETTINGS, "http://h:1", extra={"lab": "secret", "challenge": "c"})
    assert link.startswith("http://h:1/train?ep=15&lr=0.001&w=128")
    assert "secret" not in link and "challenge=c" in link


def test_presets_are_valid_and_explained():
    assert 5 <= len(PRESETS) <= 7 and len(options()) > len(PRESETS)  # 7: with the small CNN
    for preset in PRESETS:
        assert preset.look_for.endswith(".") and preset.page
        for _, values in preset.variants:
            settings.to_config(values)
            for name, value in values.items():
                assert settings.clamp_setting(name, value) == (value, None), (preset.id, name)
