"""Nothing runs away, through the pages (AppTest): uploads are let go once read and identical
data is shared read-only, hostile uploads are refused with the loaders' messages, a run over
the cost cap cannot start, the facilitator sees and stops any run, a challenge entry needs a
run trained here that passes the verdict, and a link's Markdown stays text."""

import re
import time

import numpy as np
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    open_app,
    open_tab,
    rerun,
    restore_blas_threads,
    run_until_done,
    set_settings,
    trained_run,
)
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit.testing.v1 import AppTest

from bench import hostile_inputs
from lab import config, model_files, settings
from lab.jobs import STOPPED
from ui import facilitator_jobs, resources

TIMEOUT = 60


def uploader(at: AppTest, label: str):
    return next(u for u in at.file_uploader if u.label == label)


def text(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def plain(elements) -> str:
    """What the reader sees: Markdown escapes removed."""
    return re.sub(r"\\(.)", r"\1", text(elements))


def kaggle_csv(images, labels) -> bytes:
    rows = [",".join(map(str, [int(label), *image.tolist()])) for label, image in zip(labels, images)]
    return hostile_inputs.HEADER + ("\n".join(rows) + "\n").encode()


def data_page_source(source: str) -> AppTest:
    at = open_tab(open_app("data.py"), "use_data_tab", "Load data")
    at.radio(key="use_source").set_value(source)
    return rerun(at)


def load_csv(at: AppTest, name: str, raw: bytes) -> AppTest:
    uploader(at, "train.csv").set_value((name, raw, "text/csv"))
    rerun(at)
    at.button(key="use_load_csv").click()
    return rerun(at)


@pytest.fixture
def removed_files(monkeypatch):
    """File ids the pages removed from Streamlit's upload store."""
    removed = []
    original = MemoryUploadedFileManager.remove_file

    def remove_file(self, session_id, file_id):
        removed.append(file_id)
        original(self, session_id, file_id)

    monkeypatch.setattr(MemoryUploadedFileManager, "remove_file", remove_file)
    return removed


def held_bytes(at: AppTest) -> list:
    """Uploaded files and byte strings over 10 KB anywhere in the session's state."""
    found = []
    for key, value in at.session_state.items():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, UploadedFile) or (isinstance(item, bytes) and len(item) > 10_000):
                found.append(key)
    return found


def test_an_upload_is_let_go_once_read_and_identical_data_is_shared(data, removed_files):
    rng = np.random.default_rng(int(time.time()))  # content no other test uploaded
    pick = rng.choice(len(data.train_labels), 200, replace=False)
    raw = kaggle_csv(data.train_images[pick], data.train_labels[pick])
    alice = load_csv(data_page_source("csv"), "alice.csv", raw)
    mine = alice.session_state["session_dataset"]
    assert mine.name == "alice.csv (200 images, Kaggle CSV)" and mine.n_train + mine.n_validation == 200
    assert len(removed_files) == 1  # the file left Streamlit's upload store once read
    assert held_bytes(alice) == []
    bob = load_csv(data_page_source("csv"), "bob.csv", raw)  # another session, the same bytes
    theirs = bob.session_state["session_dataset"]
    assert theirs.name == "bob.csv (200 images, Kaggle CSV)"  # never the other session's file name
    assert theirs.train_images is mine.train_images and theirs.validation_labels is mine.validation_labels
    assert not theirs.train_images.flags.writeable  # shared: read-only
    assert "alice" not in plain(bob.success) + plain(bob.sidebar.caption)
    assert len(removed_files) == 2


def test_a_refused_upload_is_let_go_too(removed_files):
    at = load_csv(data_page_source("csv"), "bad.csv", hostile_inputs.HEADER + b"3,x\n")
    assert "bad.csv: row 1" in plain(at.error) and "upload it again" in plain(at.error)
    assert len(removed_files) == 1 and uploader(at, "train.csv").value is None
    assert "session_dataset" not in at.session_state.keys()


def test_the_hostile_uploads_are_refused_with_the_limits_messages():
    at = load_csv(data_page_source("csv"), "rows.csv.gz", hostile_inputs.csv_million_rows_gz())
    assert "rows.csv.gz: more than 100,000 rows; a CSV may have at most 100,000 rows" in plain(at.error)
    at = load_csv(data_page_source("csv"), "blank.csv", hostile_inputs.csv_blank_bad_last())
    assert "blank.csv: row 10000001, column pixel0: 'x' is not a number" in plain(at.error)
    at = data_page_source("idx")
    images, labels = hostile_inputs.idx_million_images_gz()
    uploader(at, "Images (idx3)").set_value(("images.gz", images, "application/octet-stream"))
    uploader(at, "Labels (idx1)").set_value(("labels.gz", labels, "application/octet-stream"))
    rerun(at)
    at.button(key="use_load_idx").click()
    rerun(at)
    assert "images.gz: the header promises 1,000,000 images; an IDX file may have at most 150,000" in plain(at.error)
    assert "session_dataset" not in at.session_state.keys()


def test_a_small_model_file_of_a_huge_network_is_refused_on_the_models_page(removed_files):
    at = open_app("models.py")
    uploader(at, "A Digit Lab model (.npz)").set_value(("big.npz", hostile_inputs.model_784_80000_10(),
                                                        "application/octet-stream"))
    rerun(at)
    assert ("big.npz: a 784-80000-10 network, 63,600,010 parameters; a model here may have at most "
            f"{model_files.MAX_UPLOAD_PARAMETERS:,}") in plain(at.error)
    assert len(removed_files) == 1 and held_bytes(at) == []
    assert not [b for b in at.button if b.key == "use_install"]


def test_a_model_upload_is_read_once_and_kept_parsed(data, removed_files):
    run = trained_run(data, hidden=(16,), epochs=1)
    at = open_app("models.py")
    uploader(at, "A Digit Lab model (.npz)").set_value(("mine.npz", model_files.model_file_bytes(run),
                                                        "application/octet-stream"))
    rerun(at)
    assert "784-16-10" in text(at.markdown) and len(removed_files) == 1
    assert uploader(at, "A Digit Lab model (.npz)").value is None  # a new, empty uploader
    at.button(key="use_install").click()
    rerun(at)
    assert at.session_state["model"].status == model_files.UPLOADED
    at.button(key="use_forget_upload").click()
    rerun(at)
    assert "use_uploaded_model" not in at.session_state and held_bytes(at) == []


def test_start_is_refused_for_a_run_over_the_cost_cap(monkeypatch):
    monkeypatch.delenv(config.MAX_RUN_COST, raising=False)  # the server's default caps
    monkeypatch.delenv(config.MAX_RUN_SECONDS, raising=False)
    at = open_app("train.py")
    assert "This run costs about 1.0 default runs" in text(at.caption)
    set_settings(at, epochs=500, width=512, layers=4, batch_mode=settings.BATCH_MINI, batch_size=1)
    assert at.button(key="start").disabled  # before: allowed (500 epochs x 4,500 images fit the old cap)
    warning = text(at.warning)
    assert "Run too large" in warning and "2,250,000 steps" in warning and "default runs" in warning
    assert "DIGIT_LAB_MAX_RUN_COST" in warning


def test_the_facilitator_sees_and_stops_any_run(monkeypatch):
    monkeypatch.setenv(config.LEADERBOARD_TOKEN, "s3cret")
    participant = open_app("train.py")
    set_settings(participant, epochs=500, width=256, batch_mode=settings.BATCH_MINI, batch_size=8)
    participant.button(key="start").click().run()
    job = participant.session_state["job"]
    facilitator = open_app("leaderboard.py")
    facilitator.text_input(key="facilitator_jobs_token").input("guess")
    facilitator.button(key="facilitator_jobs_unlock").click().run()
    assert "wrong facilitator token" in text(facilitator.error)
    facilitator.text_input(key="facilitator_jobs_token").input("s3cret")
    facilitator.button(key="facilitator_jobs_unlock").click().run()
    table = facilitator.dataframe[-1].value
    assert "run 1" in list(table["run"]) and "784-256-10" in " ".join(table["settings"])
    assert "run 1" in facilitator.multiselect(key="facilitator_jobs_pick").options
    facilitator.multiselect(key="facilitator_jobs_pick").set_value([facilitator_jobs.job_key(job)]).run()
    facilitator.button(key="facilitator_jobs_stop").click().run()
    assert job.join(TIMEOUT) and job.snapshot().status == STOPPED
    assert "Stopped run 1" in plain(facilitator.success)
    run_until_done(participant)
    assert "Stopped by the facilitator." in text(participant.info)
    assert participant.session_state["model"].status == STOPPED  # what it learned is kept


CHALLENGES = """
[[challenge]]
id = "tiny"
title = "Tiny"
goal = { metric = "test_accuracy", at_least = 0.5 }
limits = { width = { max = 16 }, epochs = { max = 5 } }
locked = { optimizer = "adam", layers = 1 }
"""


def test_an_uploaded_model_cannot_enter_a_challenge(data, tmp_path, monkeypatch):
    path = tmp_path / "challenges.toml"
    path.write_text(CHALLENGES)
    monkeypatch.setenv("DIGIT_LAB_CHALLENGES", str(path))
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_DB", str(tmp_path / "board.sqlite3"))
    resources._leaderboard.clear()
    run = trained_run(data, hidden=(16,), epochs=3)  # within the rules, and its file says so
    at = open_app("train.py", challenge="tiny")
    at.switch_page("pages/models.py")
    rerun(at)
    uploader(at, "A Digit Lab model (.npz)").set_value(("claims.npz", model_files.model_file_bytes(run),
                                                        "application/octet-stream"))
    rerun(at)
    at.button(key="use_install").click()
    rerun(at)
    assert at.session_state["model"].test_accuracy > 0.5  # it would reach the goal
    at.switch_page("pages/leaderboard.py")
    rerun(at)
    at.text_input(key="leaderboard_name").input("mallory").run()
    at.button(key="leaderboard_submit").click().run()
    assert "listed as free training" in plain(at.success) and "uploaded, not trained in this lab" in plain(at.success)
    entries = resources.leaderboard().entries()
    assert [(e.name, e.challenge) for e in entries] == [("mallory", "")]  # before: "tiny"


def test_markdown_in_a_links_parameters_stays_text():
    at = open_app("train.py", act="![x](http://evil.example/a.png)", opt="[live](https://evil.example)",
                  challenge="www.evil.example")
    note = text(at.warning)
    assert "Settings from the link were adjusted" in note
    assert "![x](" not in note and "[live](" not in note  # brackets escaped: no image, no link
    assert "http://" not in note and "https://" not in note and "www.evil" not in note  # no automatic link
    assert "act='!\\[x\\](http:\u200b//evil.example/a.png)'" in note
