"""Model files: round trips, and clear errors for corrupt, pickled and foreign files."""

import io
import json
import pickle
from pathlib import Path

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


# -- files written by earlier versions of the engine ------------------------------------
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name, version, weight_shapes", [
    ("dense_v1", 1, [(784, 8), (8, 10)]),
    ("conv_v2", 2, [(3, 3, 1, 2), (338, 10)]),
])
def test_model_files_saved_by_the_earlier_engine_still_load_and_predict_the_same(name, version, weight_shapes):
    """Two small trained models saved by the engine before its layers were split out
    (784-8-10, and conv 2@3x3 -> pool -> 10), with the probabilities that engine gave on
    the first 5 bundled images: the files must load and give exactly those numbers."""
    from datasets import load_bundled

    network, meta = load_model(FIXTURES / f"{name}.npz")
    assert meta["format_version"] == version
    assert [w.shape for w in network.weights] == weight_shapes
    images = load_bundled().images[:5].astype(np.float32) / np.float32(255)
    expected = np.load(FIXTURES / f"{name}_probabilities.npy", allow_pickle=False)
    assert expected.shape == (5, 10) and expected.dtype == np.float32
    np.testing.assert_array_equal(network.predict_proba(images), expected)
    # and the same file written again by this engine reads back to the same numbers
    again, _ = load_model(model_to_bytes(network))
    np.testing.assert_array_equal(again.predict_proba(images), expected)
