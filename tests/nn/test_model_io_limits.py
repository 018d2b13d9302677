"""A model file's size is judged from its arrays' headers, before any array is built: a
250 KB ``.npz`` of a 784-80000-10 network (254 MB of zeros) is refused at once with a message
(before: it was unpacked and built, 17.8 s and 2.4 GB on the Weights page)."""

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from bench.hostile_inputs import model_784_80000_10
from nn.model_io import MAX_UNPACKED_BYTES, ModelFileError, archive_headers, load_model, model_to_bytes
from nn.network import Network


@pytest.fixture(scope="module")
def huge_model() -> bytes:
    return model_784_80000_10()


def test_a_small_file_of_a_huge_network_is_refused_before_any_array_is_built(huge_model):
    assert len(huge_model) < 500_000
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as refused:
            load_model(huge_model, max_parameters=2_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(refused.value) == ("model file: a 784-80000-10 network, 63,600,010 parameters; a model here may "
                                  "have at most 2,000,000")
    assert peak < 5_000_000  # W1 alone would be 250 MB


def test_the_headers_give_every_shape_without_reading_the_arrays(huge_model):
    with zipfile.ZipFile(io.BytesIO(huge_model)) as archive:
        headers = archive_headers(archive)
    assert {name: shape for name, (shape, _) in headers.items()} == {
        "W1": (784, 80_000), "b1": (80_000,), "W2": (80_000, 10), "b2": (10,), "metadata": (139,)}
    assert headers["W1"][1] == np.float32


def test_arrays_declared_larger_than_a_model_can_be_are_refused_without_a_parameter_limit():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("W1.npy", "w") as member:  # a header promising 400 MB, then no data
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (784, 64_000)})
    with pytest.raises(ModelFileError, match=r"its arrays hold 383 MiB, more than a model can be \(256 MiB\)"):
        load_model(buffer.getvalue())
    assert 784 * 64_000 * 8 > MAX_UNPACKED_BYTES


def test_an_object_array_header_is_refused_as_pickled():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        with archive.open("W1.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        load_model(buffer.getvalue())


def test_models_within_the_limit_load_as_before():
    network = Network((784, 64, 10), "relu", seed=1)
    loaded, _ = load_model(model_to_bytes(network), max_parameters=network.n_parameters)
    np.testing.assert_array_equal(loaded.weights[0], network.weights[0])
    with pytest.raises(ModelFileError, match=f"a 784-64-10 network, {network.n_parameters:,} parameters"):
        load_model(model_to_bytes(network), max_parameters=network.n_parameters - 1)
