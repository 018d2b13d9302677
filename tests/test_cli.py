"""The train.py command line, run as a user would run it."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datasets import load_mnist_test_set
from nn.model_io import load_model
from nn.training import predict_proba

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def reported(stdout: str, what: str) -> float:
    line = next(line for line in stdout.splitlines() if line.startswith(what))
    return float(line.split()[2])


def test_default_run_is_the_classic_setup_and_reaches_89_percent():
    result = run()
    assert result.returncode == 0, result.stderr
    assert "784 → 10 relu → 10 softmax, sgd" in result.stdout and "full batch" in result.stdout
    assert reported(result.stdout, "train accuracy") >= 0.89
    assert "time per epoch" in result.stdout
    assert "epoch  500/500" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--hidden", "abc"], "--hidden"),
    (["--lr", "-1"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--optimizer", "magic"], "--optimizer"),
    (["--data", "no-such-file.csv"], "unknown data source"),
    (["--submission", "x.csv"], "--predict"),
])
def test_bad_arguments_give_one_line_and_exit_2(args, message):
    result = run(*args, "--epochs", "1")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_bad_data_gives_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n"
                   + "3," + ",".join(["0"] * 783) + ",300\n")
    result = run("--data", str(bad), "--epochs", "1")
    assert result.returncode == 2
    assert "300" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    corrupt = tmp_path / "model.npz"
    corrupt.write_bytes(b"garbage")
    result = run("--load", str(corrupt))
    assert result.returncode == 2 and "not a .npz model file" in result.stderr


def test_divergence_is_reported(tmp_path):
    result = run("--lr", "10", "--hidden", "128", "--epochs", "20", "--test", "none")
    assert result.returncode == 1
    assert "diverged" in result.stderr and "learning rate (10)" in result.stderr


def test_save_load_predict_submission(tmp_path):
    test_set = load_mnist_test_set()
    test_csv = tmp_path / "test.csv"
    header = ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(test_csv, test_set.images[:300], fmt="%d", delimiter=",", header=header, comments="")
    model = tmp_path / "model.npz"
    trained = run("--hidden", "64", "--optimizer", "adam", "--batch-size", "64", "--epochs", "3",
                  "--save", str(model), "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert reported(trained.stdout, "test accuracy") >= 0.85
    submission = tmp_path / "submission.csv"
    result = run("--load", str(model), "--predict", str(test_csv), "--submission", str(submission),
                 "--test", "none")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(submission.open()))
    assert rows[0] == ["ImageId", "Label"]
    assert len(rows) == 301
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 301))
    network, meta = load_model(model)
    expected = predict_proba(network, test_set.images[:300]).argmax(axis=1)
    assert [int(r[1]) for r in rows[1:]] == expected.tolist()
    assert meta["config"]["optimizer"] == "adam"
    agreement = np.mean(expected == test_set.labels[:300])
    assert agreement >= 0.85
