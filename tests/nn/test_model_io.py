"""Model files: round trips, and clear errors for corrupt, pickled and foreign files."""

import io
import json
import pickle

import numpy as np
import pytest

from nn.errors import DataError
from nn.model_io import ModelFileError, load_model, model_to_bytes, save_model
from nn.network import Network


@pytest.fixture
def network():
    return Network((784, 32, 16, 10), "tanh", seed=4)


def test_save_load_gives_identical_predictions(tmp_path, network):
    path = save_model(tmp_path / "model.npz", network, config={"epochs": 3}, note="hi")
    loaded, meta = load_model(path)
    inputs = np.random.default_rng(0).random((20, 784), dtype=np.float32)
    np.testing.assert_array_equal(network.predict_proba(inputs), loaded.predict_proba(inputs))
    assert loaded.activation == "tanh" and loaded.layer_sizes == (784, 32, 16, 10)
    assert meta["config"] == {"epochs": 3} and meta["format_version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left
    # bytes and file objects work too (uploads)
    data = model_to_bytes(network)
    assert load_model(data)[0].layer_sizes == network.layer_sizes
    assert load_model(io.BytesIO(data))[0].layer_sizes == network.layer_sizes


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def meta_array(**overrides):
    meta = {"format": "digit-lab-model", "format_version": 1, "layer_sizes": [784, 10],
            "activation": "relu", **overrides}
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


@pytest.mark.parametrize("make,message", [
    (lambda good: b"", "file is empty"),
    (lambda good: good[: len(good) // 2], "not a .npz model file"),
    (lambda good: b"PK\x03\x04" + b"\x00" * 200, "not a .npz model file|corrupt"),
    (lambda good: pickle.dumps({"W1": np.zeros(3)}), "pickled"),
    (lambda good: npz_bytes(W1=np.array([{"evil": 1}], dtype=object), metadata=meta_array()), "pickled"),
    (lambda good: npz_bytes(W1=np.zeros((784, 9), np.float32), b1=np.zeros(10, np.float32),
                            metadata=meta_array()), r"W1 has shape \(784, 9\), expected \(784, 10\)"),
    (lambda good: npz_bytes(W1=np.zeros((784, 10), np.float32), metadata=meta_array()), "missing"),
    (lambda good: npz_bytes(weights=np.zeros(3)), "no 'metadata'"),
    (lambda good: npz_bytes(W1=np.zeros((784, 10)), b1=np.zeros(10),
                            metadata=meta_array(format="keras")), "not a Digit Lab model"),
    (lambda good: npz_bytes(W1=np.full((784, 10), np.nan, np.float32), b1=np.zeros(10, np.float32),
                            metadata=meta_array()), "NaN"),
    (lambda good: npz_bytes(W1=np.zeros((784, 10), np.float32), b1=np.zeros(10, np.float32),
                            metadata=meta_array(format_version=99)), "newer"),
])
def test_bad_files_raise_clear_errors(network, make, message):
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(make(model_to_bytes(network)))
    assert isinstance(caught.value, DataError)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="cannot be read"):
        load_model(tmp_path / "absent.npz")
