"""train.py's --preset (the accuracy goals' settings) and --augment options."""

import pytest

import train
from nn.model_io import load_model


def saved_config(tmp_path, *args):
    path = tmp_path / "model.npz"
    assert train.main([*args, "--test", "none", "--quiet", "--save", str(path)]) == 0
    network, metadata = load_model(path)
    return network, metadata["config"]


def test_the_mlp_preset_fills_every_option_it_names(tmp_path):
    network, config = saved_config(tmp_path, "--preset", "mlp", "--epochs", "1")
    assert network.hidden_sizes == (512, 512) and not network.conv_specs
    assert (config["optimizer"], config["learning_rate"], config["batch_size"]) == ("adam", 1e-3, 128)
    assert config["schedule"] == "cosine" and config["augment"] is True and config["epochs"] == 1
    assert (config["augment_shift"], config["augment_degrees"]) == (2.0, 15.0)
    assert train.TRAIN_PRESETS["mlp"]["epochs"] == 80  # --epochs 1 won over it


def test_the_cnn_preset_and_options_that_win_over_it(tmp_path):
    network, config = saved_config(tmp_path, "--preset", "cnn", "--epochs", "1", "--hidden", "32",
                                   "--augment-degrees", "10", "--validation", "0.9")
    assert [(s.filters, s.kernel) for s in network.conv_specs] == [(32, 3), (64, 3)]
    assert network.hidden_sizes == (32,)
    assert (config["optimizer"], config["learning_rate"], config["batch_size"]) == ("adam", 2e-3, 64)
    assert config["augment"] is True and config["augment_degrees"] == 10.0


def test_augment_options_and_their_errors(tmp_path, capsys):
    _, config = saved_config(tmp_path, "--hidden", "16", "--epochs", "1", "--batch-size", "64", "--augment",
                             "--augment-shift", "3")
    assert config["augment"] is True and config["augment_shift"] == 3.0
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--augment-shift", "3"])
    assert exit_info.value.code == 2 and "need --augment" in capsys.readouterr().err
    assert train.main(["--augment", "--augment-shift", "9", "--epochs", "1", "--test", "none", "--quiet"]) == 2
    assert "augment shift must be 0..8 pixels" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--preset", "mlp", "--load", "x.npz"])
    assert "--preset builds a new network" in capsys.readouterr().err
