"""The room's handwriting (lab/handwriting.py): many writers, bounds, the facilitator's token,
and the Kaggle CSV that loads back. Every database test runs on SQLite and PostgreSQL
(``board_url``, see conftest.py)."""

import io
import threading

import numpy as np
import pytest

from datasets import load_kaggle_csv
from lab import handwriting
from lab.data import training_set_from_csv
from lab.handwriting import HandwritingError, RoomHandwriting, drawing_key, participant_key

TOKEN = "s3cret"


def digit(seed: int) -> np.ndarray:
    """A distinct (784,) uint8 'drawing': a few random strokes of ink."""
    rng = np.random.default_rng(seed)
    image = np.zeros(784, dtype=np.uint8)
    image[rng.choice(784, size=80, replace=False)] = rng.integers(1, 256, size=80, dtype=np.uint8)
    return image


def test_twenty_sessions_adding_drawings_at_once_land_exactly_once_each(board_url):
    """20 sessions, each with its own handle (its own pool, as separate server processes
    have), add one drawing at the same moment and then send the same drawing again (a
    double click, a retry): every drawing is in the set exactly once, intact."""
    sessions = 20
    start = threading.Barrier(sessions)
    results, errors = {}, []

    def session(index: int) -> None:
        room = RoomHandwriting(board_url, per_person=5, max_total=100)
        lab = f"lab-{index}"
        try:
            start.wait()
            first = room.add(drawing_key(lab, 1), participant_key(lab), index % 10, digit(index))
            again = room.add(drawing_key(lab, 1), participant_key(lab), index % 10, digit(index))
            results[index] = (first.added, again.added, again.yours)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {i: (True, False, 1) for i in range(sessions)}
    room = RoomHandwriting(board_url)
    assert room.count() == sessions
    images, labels = room.images()
    stored = sorted((int(label), image.tobytes()) for image, label in zip(images, labels))
    assert stored == sorted((i % 10, digit(i).tobytes()) for i in range(sessions))
    assert room.label_counts().tolist() == [2] * 10


def _add_at_once(url: str, who: list[str], attempts: int, per_person: int, max_total: int):
    """One thread per entry of ``who`` (a participant's lab id), each adding ``attempts``
    distinct drawings at the same moment; returns the refusals' messages."""
    start = threading.Barrier(len(who))
    refusals, errors = [], []

    def session(index: int, lab: str) -> None:
        room = RoomHandwriting(url, per_person=per_person, max_total=max_total)
        start.wait()
        for canvas in range(attempts):
            try:
                room.add(drawing_key(f"{lab}-{index}", canvas), participant_key(lab), canvas % 10,
                         digit(1000 * index + canvas))
            except HandwritingError as error:
                refusals.append(str(error))
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                errors.append(error)

    threads = [threading.Thread(target=session, args=(i, lab)) for i, lab in enumerate(who)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return refusals


def test_one_participant_in_many_tabs_adds_at_most_their_bound(board_url):
    refusals = _add_at_once(board_url, ["lab-a"] * 6, attempts=2, per_person=5, max_total=100)
    room = RoomHandwriting(board_url)
    assert room.count() == room.count(participant_key("lab-a")) == 5
    assert len(refusals) == 12 - 5
    assert all("you have added 5 drawings, the most one participant may add" in r for r in refusals)


def test_the_room_holds_at_most_its_bound_with_many_writers(board_url):
    refusals = _add_at_once(board_url, [f"lab-{i}" for i in range(8)], attempts=3, per_person=100, max_total=10)
    assert RoomHandwriting(board_url).count() == 10
    assert len(refusals) == 8 * 3 - 10
    assert all("the room's handwriting is full (10 drawings)" in r for r in refusals)


def test_the_exported_csv_loads_back_through_the_kaggle_loader(board_url, mnist_test_set):
    room = RoomHandwriting(board_url, per_person=100)
    images, labels = mnist_test_set.images[:30], mnist_test_set.labels[:30]
    for index, (image, label) in enumerate(zip(images, labels)):
        room.add(drawing_key("lab", index), participant_key("lab"), int(label), image)
    csv = room.export_csv(TOKEN, expected_token=TOKEN)
    assert csv.startswith(b"label,pixel0,pixel1,") and csv.count(b"\n") == 31
    loaded = load_kaggle_csv(io.BytesIO(csv), name="room-handwriting.csv")
    np.testing.assert_array_equal(loaded.images, images)  # in the order they were added
    np.testing.assert_array_equal(loaded.labels, labels)
    # the Data page's own reader of a Kaggle train.csv takes it too
    dataset = training_set_from_csv(csv, "room-handwriting.csv")
    assert dataset.n_samples == 30 and "Kaggle CSV" in dataset.name


def test_facilitator_actions_need_the_token(board_url):
    room = RoomHandwriting(board_url)
    room.add("d1", "p1", 3, digit(1))
    with pytest.raises(HandwritingError, match="disabled"):
        room.export_csv("anything", expected_token="")
    with pytest.raises(HandwritingError, match="wrong facilitator token"):
        room.export_csv("guess", expected_token=TOKEN)
    with pytest.raises(HandwritingError, match="wrong facilitator token"):
        room.clear("guess", expected_token=TOKEN)
    assert room.count() == 1
    assert room.clear(TOKEN, expected_token=TOKEN) == 1
    assert room.count() == 0 and room.version() == (0, 0)
    room.add("d2", "p1", 4, digit(2))
    assert room.version()[0] == 1 and room.version()[1] > 1  # ids are never reused: the version moves on


@pytest.mark.parametrize(("label", "pixels", "message"), [
    (10, digit(0), "label must be a digit 0-9"),
    (True, digit(0), "label must be a digit 0-9"),
    ("7", digit(0), "label must be a digit 0-9"),
    (7, np.zeros(784, dtype=np.uint8), "empty"),
    (7, np.ones(783, dtype=np.uint8), "784 pixels"),
    (7, np.full(784, 300.0), "0 to 255"),
    (7, np.full(784, np.nan), "0 to 255"),
])
def test_a_drawing_that_is_not_one_is_refused_with_a_message(label, pixels, message):
    with pytest.raises(HandwritingError, match=message):
        handwriting.check_drawing(label, pixels)


def test_a_28_by_28_float_drawing_is_stored_as_its_bytes():
    image = digit(5).reshape(28, 28).astype(np.float32)
    label, raw = handwriting.check_drawing(np.int64(5), image)
    assert label == 5 and raw == digit(5).tobytes()


def test_participants_and_drawings_are_named_by_hashes_of_the_lab_id():
    assert participant_key("secret-lab") != "secret-lab" and "secret" not in participant_key("secret-lab")
    assert drawing_key("lab", 1) == drawing_key("lab", 1) != drawing_key("lab", 2)
