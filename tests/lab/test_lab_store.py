"""The lab store (lab/lab_store.py): restore, LRU bound, TTL, forged ids, job collection."""

import threading

import numpy as np
import pytest

from lab import lab_store
from lab.jobs import COMPLETED, STOPPED, TrainingJob
from lab.lab_store import LabStore, is_lab_id, new_lab_id
from nn.training import TrainConfig


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def lab_state(**extra):
    state = {"dataset": "bundled", "session_dataset": None, "settings": {"epochs": 3},
             "job": None, "job_collected": True, "model": "model-1", "runs": ["run-1"],
             "next_run": 2, "dataset_name": "tiny"}
    state.update(extra)
    return state


def test_ids_are_unguessable_tokens():
    ids = {new_lab_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_lab_id(i) for i in ids)
    assert all(len(i) == 22 for i in ids)  # 16 random bytes


@pytest.mark.parametrize("forged", [None, "", "abc", "A" * 21, "A" * 23, "../../etc/passwd",
                                    "A" * 21 + "/", "A" * 21 + ".", "A" * 21 + " ", 12345,
                                    "Ä" * 22, ["A" * 22]])
def test_forged_ids_are_rejected(forged):
    store = LabStore()
    assert not is_lab_id(forged)
    assert store.load(forged) is None and forged not in store
    assert store.collect(forged, object()) is False
    with pytest.raises(ValueError):
        store.save(forged, lab_state())
    assert len(store) == 0


def test_unknown_but_well_formed_id_is_not_found():
    store = LabStore()
    store.save(new_lab_id(), lab_state())
    assert store.load(new_lab_id()) is None


def test_save_then_load_restores_a_copy():
    store, lab = LabStore(), new_lab_id()
    state = lab_state(unrelated_widget=5)
    store.save(lab, state)
    state["runs"].append("run-2")  # later changes in the session do not leak in
    state["settings"]["epochs"] = 99
    restored = store.load(lab)
    assert restored["runs"] == ["run-1"] and restored["model"] == "model-1"
    assert restored["settings"] == {"epochs": 3} and restored["next_run"] == 2
    assert "unrelated_widget" not in restored  # only the named keys are kept
    restored["runs"].append("x")
    assert store.load(lab)["runs"] == ["run-1"]


def test_least_recently_used_lab_is_evicted():
    store = LabStore(max_labs=3)
    labs = [new_lab_id() for _ in range(4)]
    for lab in labs[:3]:
        store.save(lab, lab_state())
    assert store.load(labs[0]) is not None  # labs[0] used: labs[1] is now the oldest
    store.save(labs[3], lab_state())
    assert len(store) == 3
    assert store.load(labs[1]) is None
    assert all(store.load(lab) is not None for lab in (labs[0], labs[2], labs[3]))


def test_labs_expire_after_the_ttl():
    clock = Clock()
    store = LabStore(ttl_seconds=60, clock=clock)
    old, fresh = new_lab_id(), new_lab_id()
    store.save(old, lab_state())
    clock.now += 40
    store.save(fresh, lab_state())
    clock.now += 30  # old: 70 s unused, fresh: 30 s
    assert store.load(old) is None and store.load(fresh) is not None
    clock.now += 59  # loading counted as a use
    assert store.load(fresh) is not None
    clock.now += 61
    assert store.load(fresh) is None and len(store) == 0


def test_bounds_from_the_environment(monkeypatch):
    monkeypatch.setenv(lab_store.MAX_LABS_ENV, "7")
    monkeypatch.setenv(lab_store.TTL_ENV, "nonsense")
    store = LabStore()
    assert store.max_labs == 7 and store.ttl_seconds == lab_store.DEFAULT_TTL_SECONDS


def test_the_store_never_shows_ids():
    store, lab = LabStore(), new_lab_id()
    store.save(lab, lab_state())
    assert lab not in repr(store)
    assert not any(callable(getattr(store, name, None)) for name in ("keys", "ids", "items", "__iter__"))


def test_state_keys_match_the_session_state_keys():
    from ui import state

    assert (lab_store.DATASET, lab_store.SETTINGS, lab_store.JOB, lab_store.COLLECTED,
            lab_store.MODEL, lab_store.RUNS, lab_store.NEXT_RUN, lab_store.SESSION_DATA) == \
        (state.DATASET, state.SETTINGS, state.JOB, state.COLLECTED, state.MODEL, state.RUNS,
         state.NEXT_RUN, state.SESSION_DATA)


def test_thread_safe_under_concurrent_saves():
    store = LabStore(max_labs=50)
    labs = [new_lab_id() for _ in range(200)]

    def work(chunk):
        for lab in chunk:
            store.save(lab, lab_state())
            store.load(lab)

    threads = [threading.Thread(target=work, args=(labs[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) == 50


# -- a job that ends after its session is gone --------------------------------------


def tiny_job(epochs=3, **kwargs):
    rng = np.random.default_rng(0)
    images = rng.random((200, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 200)
    config = TrainConfig(hidden_sizes=(8,), epochs=epochs, batch_size=50, learning_rate=0.01)
    return TrainingJob(config, images, labels, name="tiny", **kwargs)


def test_a_finished_job_is_collected_by_its_completion_callback():
    store, lab = LabStore(), new_lab_id()
    job = tiny_job(epochs=2000)
    store.save(lab, lab_state(job=job, job_collected=False, runs=[], model=None, next_run=4))
    job.add_done_callback(lambda j: store.collect(lab, j))
    job.start()
    job.stop()  # what on_release does when the session ends
    assert job.join(10)
    restored = store.load(lab)
    assert restored["job_collected"] is True
    assert len(restored["runs"]) == 1 and restored["runs"][0].number == 3
    assert restored["runs"][0].status in (STOPPED, COMPLETED)
    assert restored["runs"][0].dataset == "tiny"


def test_a_job_is_collected_once_whatever_the_order():
    store, lab = LabStore(), new_lab_id()
    job = tiny_job(epochs=2)
    job.start()
    assert job.join(10)
    # saved after it finished: the save collects it, the callback then finds nothing to do
    store.save(lab, lab_state(job=job, job_collected=False, runs=[], model=None, next_run=2))
    assert store.collect(lab, job) is False
    restored = store.load(lab)
    assert len(restored["runs"]) == 1 and restored["model"].number == 1
    assert restored["model"].status == COMPLETED


def test_collect_ignores_another_job():
    store, lab = LabStore(), new_lab_id()
    job, other = tiny_job(epochs=1), tiny_job(epochs=1)
    other.start()
    assert other.join(10)
    store.save(lab, lab_state(job=job, job_collected=False, runs=[]))
    assert store.collect(lab, other) is False
    assert store.load(lab)["runs"] == []


def test_done_callback_runs_at_once_on_a_finished_job_and_survives_errors():
    job = tiny_job(epochs=1).start()
    assert job.join(10)
    seen = []
    job.add_done_callback(seen.append)
    assert seen == [job]
    job2 = tiny_job(epochs=1)
    job2.add_done_callback(lambda j: 1 / 0)  # logged, does not break the job
    job2.add_done_callback(seen.append)
    job2.start()
    assert job2.join(10)
    for _ in range(100):
        if len(seen) == 2:
            break
        threading.Event().wait(0.01)
    assert seen == [job, job2]
