"""A lab's runs as database rows and back (no Streamlit, no SQL).

- the lab id: 128 random bits (:func:`new_lab_id`); the database knows the lab by its
  SHA-256 only (:func:`lab_key`);
- settings and the training config: JSON;
- curves (:class:`nn.training.History`'s lists): JSON, each list at most
  :data:`MAX_STORED_POINTS` long (the step losses are kept that short by the History
  itself, each point the mean of ``step_loss_every`` steps; a longer list is sampled evenly,
  the last point kept), so a stored run costs the same after 10 steps or 10 million; the
  weight snapshots and the last gradients are not stored (they stay in the server's memory
  while it runs);
- weights: the ``.npz`` bytes of :mod:`nn.model_io` (plain arrays, read back with
  ``allow_pickle=False`` and checked), never a pickle;
- the dataset: a reference (its key, name, sizes and class names), never the images;
- which runs keep their weights: :func:`weights_to_keep` (the per-lab bounds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import secrets

import numpy as np

from datasets import load_bundled
from nn.model_io import load_model, model_to_bytes
from nn.network import Network
from nn.training import History, TrainConfig

from .data import SplitData, make_split
from .runs import Run, default_class_names

MAX_STORED_POINTS = 10_000
# History's per-epoch lists (what a checkpoint stores, with the step losses). The weight
# snapshots and the last gradients are arrays, kept in memory only.
EPOCH_FIELDS = ("epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy",
                "epoch_seconds", "learning_rate")
NOT_STORED = ("snapshots", "last_grad_weights")
# The step losses and what their points stand for (steps per point, steps trained).
STEP_FIELDS = ("step_loss", "step_loss_every", "steps")
SHARED_DATASET = "bundled"  # the bundled split every session shares


TOKEN_BYTES = 16
# secrets.token_urlsafe(16): 16 bytes -> 22 URL-safe base64 characters, no padding.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def new_lab_id() -> str:
    """A fresh, unguessable lab id (128 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_lab_id(value: object) -> bool:
    """True when ``value`` has the exact shape of an id :func:`new_lab_id` makes."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def checked_key(lab_id: object) -> str:
    """The :func:`lab_key` of a lab id; ValueError for anything that is not one."""
    if not is_lab_id(lab_id):
        raise ValueError("not a lab id")
    return lab_key(lab_id)


def lab_key(lab_id: str) -> str:
    """What the database knows a lab by: the SHA-256 of its id (the id is a capability, and
    is never stored)."""
    return hashlib.sha256(lab_id.encode()).hexdigest()


# -- JSON --------------------------------------------------------------------------------


def _clean(value):
    """``value`` with NaN and infinities as None (JSON has neither), numbers as floats."""
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _restore(value):
    """The inverse of :func:`_clean` for curves: None back to NaN."""
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return float("nan") if value is None else value


def sample_indices(length: int, limit: int = MAX_STORED_POINTS) -> np.ndarray | None:
    """Evenly spread indices of at most ``limit`` of ``length`` items, first and last
    included; None when all of them fit."""
    if length <= limit:
        return None
    return np.unique(np.linspace(0, length - 1, limit).round().astype(np.int64))


def history_json(history: History, epochs_only: bool = False) -> str:
    """The curves of ``history`` as JSON (``epochs_only``: the per-epoch lists and the step
    losses, what a checkpoint of a running job needs). Lists of equal length are sampled at
    the same indices, so the per-epoch (and per-stats-record) lists stay aligned."""
    stored: dict[str, list] = {}
    for name in (f.name for f in dataclasses.fields(history)):
        if name in NOT_STORED or (epochs_only and name not in EPOCH_FIELDS and name not in STEP_FIELDS):
            continue
        values = getattr(history, name)
        if not isinstance(values, list):  # a count (step_loss_every, steps)
            stored[name] = values
            continue
        keep = sample_indices(len(values))
        stored[name] = _clean(values if keep is None else [values[i] for i in keep])
    return json.dumps(stored, separators=(",", ":"))


def history_from_json(text: str) -> History:
    """A History with the stored curves (lists the History does not have are ignored)."""
    history = History()
    known = {f.name for f in dataclasses.fields(history)} - set(NOT_STORED)
    stored = json.loads(text or "{}")
    for name, values in stored.items():
        if name in known and isinstance(values, list):
            setattr(history, name, [int(v) for v in values] if name in ("epoch", "stats_step")
                    else _restore(values))
    every, steps = stored.get("step_loss_every"), stored.get("steps")
    if (isinstance(every, int) and isinstance(steps, int) and every >= 1
            and len(history.step_loss) == -(-steps // every)):  # what the points stand for
        history.step_loss_every, history.steps = every, steps
    return history


def config_json(config: TrainConfig) -> str:
    return json.dumps(config.to_dict(), separators=(",", ":"))


def config_from_json(text: str) -> TrainConfig:
    """The TrainConfig stored as JSON (settings it does not know are ignored)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in json.loads(text).items() if k in known})


def settings_json(settings: dict | None) -> str:
    """Settings as JSON with sorted keys: equal settings give equal text."""
    return json.dumps(settings or {}, sort_keys=True, default=str, separators=(",", ":"))


# -- weights -------------------------------------------------------------------------------


def weights_bytes(network: Network) -> bytes:
    """A network's weights as an nn.model_io ``.npz`` (the run's details are in its row),
    not compressed: a running job writes these, and weights hardly compress."""
    return model_to_bytes(network, compress=False)


def network_from_bytes(raw: bytes) -> Network:
    """The network of :func:`weights_bytes` (checked by nn.model_io, never unpickled)."""
    return load_model(bytes(raw))[0]


def network_nbytes(network: Network | None) -> int:
    """Bytes of a network's weights and biases in memory."""
    if network is None:
        return 0
    return sum(int(a.nbytes) for a in (*network.weights, *network.biases))


def weights_to_keep(sizes: dict[int, int], current: int | None, keep_runs: int, max_bytes: int) -> set[int]:
    """Which runs keep their weights: ``sizes`` maps the number of each run that has weights
    to their bytes. The current model always keeps its weights; then the newest
    ``keep_runs`` others, newest first, while all of them together fit in ``max_bytes``.
    """
    keep = {current} if current in sizes else set()
    total = sizes[current] if current in sizes else 0
    for number in sorted((n for n in sizes if n != current), reverse=True)[:keep_runs]:
        if total + sizes[number] > max_bytes:
            break  # the older ones would not fit either: their weights go first
        keep.add(number)
        total += sizes[number]
    return keep


def bound_runs(runs: list[Run], current: int | None, keep_runs: int, max_bytes: int) -> list[Run]:
    """``runs`` with the networks of the runs :func:`weights_to_keep` drops removed (their
    settings and curves stay): the same bounds in a session's memory as in the database."""
    sizes = {run.number: network_nbytes(run.network) for run in runs if run.network is not None}
    keep = weights_to_keep(sizes, current, keep_runs, max_bytes)
    return [run if run.network is None or run.number in keep else dataclasses.replace(run, network=None)
            for run in runs]


# -- runs ----------------------------------------------------------------------------------


def run_values(run: Run, epochs_only: bool = False) -> dict:
    """The ``lab_runs`` columns describing ``run`` (not its key, revision or process)."""
    weights = weights_bytes(run.network) if run.network is not None else None
    return {
        "status": run.status,
        "message": run.message,
        "config": config_json(run.config),
        "dataset": run.dataset,
        "class_names": json.dumps(list(run.class_names)),
        "seconds": float(run.seconds) if math.isfinite(run.seconds) else 0.0,
        "test_accuracy": _clean(run.test_accuracy),
        "epochs_done": run.epochs_done,
        "history": history_json(run.history, epochs_only),
        "weights": weights,
        "weights_bytes": len(weights) if weights is not None else 0,
    }


def run_from_row(row) -> Run:
    """The Run a ``lab_runs`` row describes (its network when the row kept weights)."""
    network = network_from_bytes(row.weights) if row.weights is not None else None
    names = json.loads(row.class_names)
    if network is not None and len(names) != network.layer_sizes[-1]:
        names = list(default_class_names(network.layer_sizes[-1]))
    return Run(
        number=row.number,
        config=config_from_json(row.config),
        status=row.status,
        message=row.message,
        network=network,
        history=history_from_json(row.history),
        dataset=row.dataset,
        seconds=row.seconds,
        test_accuracy=row.test_accuracy,
        class_names=tuple(names),
    )


# -- the dataset ---------------------------------------------------------------------------


def dataset_reference(key: str, split: SplitData | None) -> dict:
    """What the database keeps of a lab's data: the shared dataset's key, or for a session's
    own data its key (with a content hash for an upload), name, sizes and class names."""
    if split is None:
        return {"key": key}
    return {"key": split.key, "name": split.name, "n_train": split.n_train,
            "n_validation": split.n_validation, "class_names": list(split.class_names)}


def rebuild_dataset(reference: dict) -> SplitData | None:
    """The data a reference names when the server can make it again without the user (the
    bundled images with another validation share), else None."""
    key = str(reference.get("key", ""))
    if not key.startswith(SHARED_DATASET + "@"):
        return None
    try:
        fraction = float(key.split("@", 1)[1])
    except ValueError:
        return None
    if not 0 < fraction < 1:
        return None
    return make_split(load_bundled(), fraction, key)
