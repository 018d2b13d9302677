"""The lab store (lab/lab_store.py) on SQLite and PostgreSQL: labs in the database, runs
numbered there, checkpoints, interrupted runs, the per-lab bounds, the cache, expiry."""

import os
import threading
import time

import numpy as np
import pytest
from sqlalchemy import select, update

from lab import lab_records, lab_store, processes, storage
from lab.jobs import COMPLETED, INTERRUPTED, RUNNING, STOPPED, TrainingJob
from lab.lab_store import Checkpoints, LabStore, is_lab_id, new_lab_id
from lab.model_files import UPLOADED
from lab.runs import Run
from lab.schema import lab_runs, labs
from nn.training import History, TrainConfig, build_network

TIMEOUT = 60


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def job_for(data, epochs=3, hidden=(8,), batch=50):
    config = TrainConfig(hidden_sizes=hidden, epochs=epochs, batch_size=batch, optimizer="adam",
                         learning_rate=1e-3, snapshot_every=0)
    return TrainingJob(config, *data, validation=(data[0][:50], data[1][:50]))


def trained(store, lab, data, **kwargs):
    job = job_for(data, **kwargs)
    number = store.start_run(lab, job, dataset="tiny", settings={"epochs": job.config.epochs}).number
    job.start()
    assert job.join(TIMEOUT)
    return number, job


def uploaded(number: int, hidden=(8,)) -> Run:
    config = TrainConfig(hidden_sizes=hidden, epochs=1)
    history = History(epoch=[1], train_loss=[1.0], train_accuracy=[0.5], validation_loss=[1.1],
                      validation_accuracy=[0.4])
    return Run(number, config, UPLOADED, "Loaded from x.npz.", build_network(config), history, "x", 0.0)


def elsewhere(url, **kwargs) -> LabStore:
    """The store of another server process of this machine (a live one: this test's parent)."""
    return LabStore(url=url, process=processes.identity(os.getppid()), **kwargs)


def rows(url, *columns, **where):
    table = columns[0].table
    query = select(*columns)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with storage.database(url).read() as connection:
        return connection.execute(query).all()


# -- ids ----------------------------------------------------------------------------------


def test_ids_are_unguessable_tokens():
    ids = {new_lab_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_lab_id(i) for i in ids)
    assert all(len(i) == 22 for i in ids)  # 16 random bytes


@pytest.mark.parametrize("forged", [None, "", "abc", "A" * 21, "A" * 23, "../../etc/passwd",
                                    "A" * 21 + "/", "A" * 21 + ".", "A" * 21 + " ", 12345,
                                    "Ä" * 22, ["A" * 22]])
def test_forged_ids_are_refused_before_any_lookup(forged, tmp_path, data):
    store = LabStore(url=str(tmp_path / "x.sqlite3"))
    assert not is_lab_id(forged)
    assert store.load(forged) is None and forged not in store
    for write in (lambda: store.save_settings(forged, {}), lambda: store.set_current(forged, 1),
                  lambda: store.start_run(forged, job_for(data), dataset="x")):
        with pytest.raises(ValueError):
            write()


def test_the_store_never_shows_ids(tmp_path):
    store, lab = LabStore(url=str(tmp_path / "x.sqlite3")), new_lab_id()
    store.save_settings(lab, {"epochs": 3})
    assert lab not in repr(store)
    assert not any(callable(getattr(store, name, None)) for name in ("keys", "ids", "items", "__iter__"))


def test_state_keys_match_the_session_state_keys():
    from ui import state

    assert (lab_store.DATASET, lab_store.SETTINGS, lab_store.JOB, lab_store.COLLECTED,
            lab_store.MODEL, lab_store.RUNS, lab_store.NEXT_RUN, lab_store.SESSION_DATA,
            lab_store.DATA_NOTE) == \
        (state.DATASET, state.SETTINGS, state.JOB, state.COLLECTED, state.MODEL, state.RUNS,
         state.NEXT_RUN, state.SESSION_DATA, state.DATA_NOTE)


# -- a lab in the database ------------------------------------------------------------------


def test_a_lab_comes_back_in_another_process_with_its_runs_model_and_settings(database_url, data):
    store, lab = LabStore(url=database_url), new_lab_id()
    first, job1 = trained(store, lab, data, epochs=2, hidden=(8,))
    second, job2 = trained(store, lab, data, epochs=3, hidden=(12,))
    store.save_settings(lab, {"epochs": 7, "width": 12})
    other = elsewhere(database_url)  # another process: nothing in its memory
    restored = other.load(lab)
    assert (first, second) == (1, 2) and restored["next_run"] == 3
    assert [r.number for r in restored["runs"]] == [1, 2]
    assert [r.status for r in restored["runs"]] == [COMPLETED, COMPLETED]
    assert restored["settings"] == {"epochs": 7, "width": 12}
    assert restored["model"].number == 2 and restored["live_jobs"] == []
    for run, job in zip(restored["runs"], (job1, job2)):
        assert run.config == job.config and run.dataset == "tiny"
        np.testing.assert_array_equal(run.network.weights[0], job.network.weights[0])
        np.testing.assert_array_equal(run.network.biases[-1], job.network.biases[-1])
        assert run.history.epoch == job.history.epoch
        np.testing.assert_allclose(run.history.validation_accuracy, job.history.validation_accuracy)
        np.testing.assert_allclose(run.history.step_loss, job.history.step_loss)
    # The current model keeps its per-layer statistics; an older run only what a history draws.
    np.testing.assert_allclose(restored["model"].history.layer_grad_norm, job2.history.layer_grad_norm)
    assert restored["runs"][0].history.layer_grad_norm == []
    # only the hash of the id is stored, nowhere the id itself
    everything = repr(rows(database_url, *labs.c)) + repr(rows(database_url, *lab_runs.c))
    assert lab not in everything and lab_records.lab_key(lab) in everything


def test_a_page_load_stores_nothing(database_url):
    store = LabStore(url=database_url)
    for _ in range(5):
        assert store.load(new_lab_id()) is None
    assert rows(database_url, labs.c.lab_key) == [] and len(store) == 0


def test_run_numbers_are_unique_across_processes_and_tabs(database_url, data):
    lab = new_lab_id()
    stores = [LabStore(url=database_url), elsewhere(database_url)]  # two processes
    numbers, errors = [], []

    def tab(store):
        try:
            for _ in range(5):
                numbers.append(store.start_run(lab, job_for(data), dataset="x").number)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=tab, args=(stores[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(numbers) == list(range(1, 21))
    assert stores[0].start_run(lab, job_for(data), dataset="x", at_least=40).number == 40


def test_settings_dataset_and_current_model_are_written_when_they_change(database_url, data):
    store, lab = LabStore(url=database_url), new_lab_id()
    number, _ = trained(store, lab, data)
    store.set_current(lab, None)  # Reset
    assert elsewhere(database_url).load(lab)["model"] is None
    store.set_current(lab, number)
    assert elsewhere(database_url).load(lab)["model"].number == number
    store.save_dataset(lab, "bundled", None)
    restored = elsewhere(database_url).load(lab)
    assert restored["dataset"] == "bundled" and restored["session_dataset"] is None
    assert restored["lab_data_note"] is None


def test_an_upload_restored_elsewhere_asks_for_its_data_and_keeps_the_runs(database_url, data):
    from lab.data import SplitData

    rng = np.random.default_rng(1)
    own = SplitData("csv:0123456789ab@0.1", "mine.csv (60 images, Kaggle CSV)", rng.random((50, 784)),
                    rng.integers(0, 10, 50), rng.random((10, 784)), rng.integers(0, 10, 10), 10)
    store, lab = LabStore(url=database_url), new_lab_id()
    trained(store, lab, data)
    store.save_dataset(lab, "bundled", own)
    assert store.load(lab)["session_dataset"] is own  # this process still has the arrays
    restored = elsewhere(database_url).load(lab)
    assert restored["session_dataset"] is None and restored["dataset"] == "bundled"
    assert "mine.csv (60 images, Kaggle CSV)" in restored["lab_data_note"]
    assert "load it again on the Data page" in restored["lab_data_note"]
    assert [r.number for r in restored["runs"]] == [1] and restored["model"] is not None
    # the bundled images with another validation share: made again, no note
    store.save_dataset(lab, "bundled", SplitData("bundled@0.2", "b", *[np.zeros(1)] * 4, 10))
    restored = elsewhere(database_url).load(lab)
    assert restored["session_dataset"].key == "bundled@0.2" and restored["lab_data_note"] is None
    assert restored["session_dataset"].n_validation == 1000  # 20% of the 5,000 bundled images


# -- runs while they train, and runs whose process died ----------------------------------------


def test_a_running_job_saves_checkpoints_and_other_processes_see_it_running(database_url, data):
    store, lab = LabStore(url=database_url, checkpoint_seconds=0), new_lab_id()
    job = job_for(data, epochs=100_000, batch=1)  # trains until stopped
    started = store.start_run(lab, job, dataset="tiny")
    job.start()
    deadline = time.monotonic() + TIMEOUT
    while not rows(database_url, lab_runs.c.epochs_done, number=started.number)[0].epochs_done:
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)
    (run,) = elsewhere(database_url).load(lab)["runs"]  # another process of this machine
    assert run.status == RUNNING and run.epochs_done >= 1 and run.network is not None
    assert store.load(lab)["live_jobs"] == [job] and store.load(lab)["runs"] == []  # here: the job itself
    job.stop()
    assert job.join(TIMEOUT)
    assert started.checkpoints.count >= 1
    (run,) = elsewhere(database_url).load(lab)["runs"]
    assert run.status == STOPPED and run.network is not None


def test_checkpoints_take_at_most_five_percent_of_the_training_time():
    clock, written = Clock(0.0), []

    def write(job, network, history):
        written.append(clock.now)
        clock.now += 1.0  # a checkpoint that costs 1 s

    checkpoints = Checkpoints(write, min_seconds=2.0, clock=clock)
    history = History(epoch_seconds=[0.5])
    for _ in range(100):  # an epoch every 0.5 s of training
        clock.now += 0.5
        checkpoints(None, None, history)
    assert written[0] == pytest.approx(2.0)  # not before 2 s of training
    gaps = np.diff(written)
    assert np.all(gaps >= 19.0 + 1.0)  # 19 s of training per 1 s of writing: 5%
    assert checkpoints.count == len(written) and checkpoints.seconds == pytest.approx(len(written))


def _die(database_url, lab, number, process):
    with storage.database(database_url).write() as connection:
        connection.execute(update(lab_runs).where(lab_runs.c.lab_key == lab_records.lab_key(lab),
                                                  lab_runs.c.number == number).values(process=process))


def test_a_run_whose_process_died_comes_back_interrupted_with_its_last_weights(database_url, data):
    store, lab = LabStore(url=database_url, checkpoint_seconds=0), new_lab_id()
    job = job_for(data, epochs=100_000, batch=1)
    number = store.start_run(lab, job, dataset="tiny").number
    job.start()
    deadline = time.monotonic() + TIMEOUT
    while rows(database_url, lab_runs.c.epochs_done, number=number)[0].epochs_done < 2:
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)
    saved = rows(database_url, lab_runs.c.weights, lab_runs.c.epochs_done, number=number)[0]
    # the process is killed: its row now names a process of this machine that is gone
    dead = f"{processes.MACHINE}|{2**22 + 7}|1"
    job.stop()
    job.join(TIMEOUT)
    _die(database_url, lab, number, dead)
    with storage.database(database_url).write() as connection:  # as the dead process left it
        connection.execute(update(lab_runs).where(lab_runs.c.number == number).values(
            status=RUNNING, weights=saved.weights, epochs_done=saved.epochs_done))
    restored = elsewhere(database_url).load(lab)
    (run,) = restored["runs"]
    assert run.status == INTERRUPTED and run.epochs_done == saved.epochs_done
    assert f"Interrupted at epoch {saved.epochs_done}" in run.message
    np.testing.assert_array_equal(run.network.weights[0], lab_records.network_from_bytes(saved.weights).weights[0])
    assert rows(database_url, lab_runs.c.status, lab_runs.c.process, number=number)[0] == (INTERRUPTED, None)


def test_another_machines_run_is_judged_by_its_heartbeat(database_url, data):
    clock = Clock(time.time())
    store, lab = LabStore(url=database_url, clock=clock), new_lab_id()
    fresh = store.start_run(lab, job_for(data), dataset="x").number
    stale = store.start_run(lab, job_for(data), dataset="x").number
    _die(database_url, lab, fresh, "other-machine/abc|123|456")
    _die(database_url, lab, stale, "other-machine/abc|124|456")
    with storage.database(database_url).write() as connection:
        connection.execute(update(lab_runs).where(lab_runs.c.number == stale).values(
            heartbeat=clock.now - lab_store.STALE_SECONDS - 1))
    runs = LabStore(url=database_url, clock=clock).load(lab)["runs"]
    assert [(r.number, r.status) for r in runs] == [(fresh, "queued"), (stale, INTERRUPTED)]
    assert "before its first checkpoint" in runs[1].message


# -- bounds, cache, expiry --------------------------------------------------------------------------


def test_a_lab_keeps_the_weights_of_its_last_runs_and_its_current_model(database_url):
    store, lab = LabStore(url=database_url, keep_runs=2), new_lab_id()
    for number in range(1, 6):
        store.add_run(lab, uploaded(number), current=number == 2)
    kept = {r.number for r in rows(database_url, lab_runs.c.number, lab_runs.c.weights.is_not(None).label("w"))
            if r.w}
    assert kept == {2, 4, 5}  # the current model, and the last two
    runs = elsewhere(database_url).load(lab)["runs"]
    assert [r.network is not None for r in runs] == [False, True, False, True, True]
    assert all(r.history.epoch == [1] and r.config.epochs == 1 for r in runs)  # curves and settings stay


def test_a_lab_keeps_weights_within_its_byte_budget(database_url):
    one = len(lab_records.weights_bytes(uploaded(1, hidden=(64,)).network))
    store, lab = LabStore(url=database_url, keep_runs=10, max_bytes=int(2.5 * one)), new_lab_id()
    for number in range(1, 6):
        store.add_run(lab, uploaded(number, hidden=(64,)), current=number == 1)
    kept = sorted(n for n, size in rows(database_url, lab_runs.c.number, lab_runs.c.weights_bytes) if size)
    assert kept == [1, 5]  # the current model, then the newest while they fit
    total = sum(size for _, size in rows(database_url, lab_runs.c.number, lab_runs.c.weights_bytes))
    assert total <= 2.5 * one


def test_bounds_in_memory_match_the_database():
    runs = [uploaded(n) for n in range(1, 6)]
    bounded = lab_records.bound_runs(runs, current=1, keep_runs=2, max_bytes=10**9)
    assert [r.network is not None for r in bounded] == [True, False, False, True, True]
    assert [r.history.epoch for r in bounded] == [[1]] * 5
    assert lab_records.weights_to_keep({1: 10, 2: 10, 3: 10}, None, 5, 25) == {3, 2}
    assert lab_records.weights_to_keep({1: 30}, 1, 5, 25) == {1}  # the current model, whatever its size


def test_one_lab_in_the_cache_keeps_the_same_bounds_as_the_database(database_url, data):
    """The most recent lab never leaves the cache, so its cached runs must drop their
    networks too: else a scripted session grows the process by a network per run."""
    store, lab = LabStore(url=database_url, keep_runs=2), new_lab_id()
    for number in range(1, 5):
        store.add_run(lab, uploaded(number), current=number == 1)
    for _ in range(3):
        trained(store, lab, data, epochs=1)
    entry = store._cache[lab_records.lab_key(lab)]
    cached = {number: run.network is not None for number, (_, run) in sorted(entry.runs.items())}
    # run 7 is the current model (a completed run becomes it), 5 and 6 the last two others
    assert cached == {1: False, 2: False, 3: False, 4: False, 5: True, 6: True, 7: True}
    assert [r.network is not None for r in elsewhere(database_url).load(lab)["runs"]] == list(cached.values())


def test_leaving_the_memory_cache_never_loses_a_lab(database_url):
    store = LabStore(url=database_url, max_labs=2)
    labs_ = [new_lab_id() for _ in range(6)]
    for number, lab in enumerate(labs_, start=1):
        store.add_run(lab, uploaded(number))
    assert len(store) == 2
    for number, lab in enumerate(labs_, start=1):
        restored = store.load(lab)
        assert [r.number for r in restored["runs"]] == [number] and restored["model"].number == number


def test_labs_expire_after_the_ttl(database_url, data):
    clock = Clock(time.time())
    store = LabStore(url=database_url, ttl_seconds=60, clock=clock)
    old, fresh = new_lab_id(), new_lab_id()
    store.add_run(old, uploaded(1))
    clock.now += 40
    store.add_run(fresh, uploaded(1))
    clock.now += 30  # old: 70 s unused, fresh: 30 s
    assert store.load(old) is None and store.load(fresh) is not None  # a load deletes expired labs
    assert len(rows(database_url, labs.c.lab_key)) == 1 and len(rows(database_url, lab_runs.c.number)) == 1
    clock.now += 59  # loading counted as a use
    assert store.load(fresh) is not None
    clock.now += 61
    assert store.load(fresh) is None and store.expire() == 1 and rows(database_url, labs.c.lab_key) == []


def test_bounds_from_the_environment(monkeypatch):
    monkeypatch.setenv(lab_store.MAX_LABS_ENV, "7")
    monkeypatch.setenv(lab_store.TTL_ENV, "nonsense")
    monkeypatch.setenv("DIGIT_LAB_LAB_WEIGHT_RUNS", "3")
    monkeypatch.setenv("DIGIT_LAB_LAB_MAX_BYTES", "2000000")
    monkeypatch.setenv("DIGIT_LAB_CHECKPOINT_SECONDS", "0.5")
    store = LabStore()
    assert store.max_labs == 7 and store.ttl_seconds == lab_store.DEFAULT_TTL_SECONDS
    assert (store.keep_runs, store.max_bytes, store.checkpoint_seconds) == (3, 2_000_000, 0.5)


def test_long_curves_are_stored_sampled():
    steps = 25_000
    history = History(step_loss=list(np.linspace(3, 0.1, steps)), epoch=[1, 2], train_loss=[2.0, float("nan")],
                      train_accuracy=[0.5, 0.6], validation_loss=[1.0, 0.9], validation_accuracy=[0.4, 0.5])
    back = lab_records.history_from_json(lab_records.history_json(history))
    assert len(back.step_loss) == lab_records.MAX_STORED_POINTS
    assert back.step_loss[0] == 3.0 and back.step_loss[-1] == pytest.approx(0.1)
    assert back.epoch == [1, 2] and np.isnan(back.train_loss[1]) and back.validation_accuracy == [0.4, 0.5]
