"""datasets/load.py: one string names any data source (the command line's ``--data``)."""

import gzip

import pytest
from data_files import csv_bytes, good_row, idx_bytes

from datasets import load_bundled, load_data
from nn.errors import DataError


def test_load_data_dispatches_on_spec(small_images, small_labels, tmp_path):
    assert load_data("bundled") is load_bundled()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(small_images)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(small_labels)))
    assert load_data(str(tmp_path)).n_samples == 12
    csv_path = tmp_path / "train.csv"
    csv_path.write_bytes(csv_bytes([good_row(label=6)]))
    assert load_data(str(csv_path)).labels.tolist() == [6]
    with pytest.raises(DataError, match="unknown data source 'nowhere'"):
        load_data("nowhere")
