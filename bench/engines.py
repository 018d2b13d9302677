"""One function per engine: train a few epochs, return each epoch's wall time.

Every function gets the same uint8 images (n, 784), labels (n,), layer sizes,
optimiser name, batch size (None = full batch) and number of epochs, and returns one
``(wall seconds, CPU seconds)`` pair per epoch (CPU time of the whole process: on a busy
machine it is the steadier measure for single-threaded runs). The caller drops the
first epoch (warm-up: buffers, optimiser state, caches) and sets the BLAS thread count.

Learning rates are the same everywhere (SGD 0.1, Adam 0.001); they do not change the
work done per step.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from nn.speed import used_columns
from nn.training import TrainConfig, build_network, train

LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3}


def clock() -> tuple[float, float]:
    """(wall, process CPU) seconds now."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def tile_bundled(images: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` rows of the bundled images repeated as often as needed."""
    repeats = -(-n // len(images))
    return np.tile(images, (repeats, 1))[:n].copy(), np.tile(labels, repeats)[:n].copy()


def to_float(images: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1], what scikit-learn and PyTorch are given."""
    return np.multiply(images, np.float32(1 / 255), dtype=np.float32)


def batch_sizes(n: int, batch_size: int | None) -> list[int]:
    """Sizes of the batches of one epoch (the last one may be smaller)."""
    size = n if batch_size is None else min(batch_size, n)
    return [min(size, n - start) for start in range(0, n, size)]


# -- the NumPy engine ----------------------------------------------------------
def time_ours(images, labels, layer_sizes, optimizer, batch_size, epochs, *, history=True):
    """``nn.training.train`` as the app calls it.

    history=True: the dashboard's history at its defaults (weight snapshot every
    epoch, per-layer stats about 20 times per epoch). history=False: no snapshots and
    stats only at the first step, to measure what recording costs.
    """
    extra = {} if history else {"snapshot_every": 0, "stats_every": 10**9}
    config = TrainConfig(hidden_sizes=tuple(layer_sizes[1:-1]), optimizer=optimizer,
                         learning_rate=LEARNING_RATES[optimizer], batch_size=batch_size,
                         epochs=epochs, seed=0, **extra)
    network = build_network(config, n_inputs=layer_sizes[0], n_classes=layer_sizes[-1])
    stamps = [clock()]
    # The progress callback runs at the end of every epoch (and never in between).
    train(network, images, labels, config,
          progress=lambda _: stamps.append(clock()), progress_interval=float("inf"))
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:])]


# -- the BLAS floor ------------------------------------------------------------
def time_matmuls(images, labels, layer_sizes, optimizer, batch_size, epochs):
    """Only the matrix products of training, into preallocated arrays: the BLAS floor.

    Per step, as in ``Network.forward`` and ``Network.backward``: ``A[l-1] @ W[l]``
    for every layer, then from the last layer down ``A[l-1].T @ delta[l]``, the bias
    gradient ``1^T delta[l]`` and, above the first layer, ``delta[l] @ W[l].T``. Like
    ``train``, the first layer multiplies only the input columns a batch uses (pixels
    not blank in every image of it; every column when too few are blank), with the
    same shapes and memory layouts; which columns are used is found before the clock
    starts. The optimiser is irrelevant here.

    (Its length is the products of one step written out, layer by layer, as ``train`` does them.)
    """
    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32)
               for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    grads = [np.empty_like(w) for w in weights]
    bias_grads = [np.empty(w.shape[1], np.float32) for w in weights]
    n, n_inputs = images.shape
    sizes = batch_sizes(n, batch_size)
    full = len(sizes) == 1
    kept_weights = weights[0].copy()  # W[1]'s rows of the columns used, as train gathers them
    kept_grad = np.zeros((n_inputs + 1, weights[0].shape[1]), np.float32)
    buffers = {}
    for m in set(sizes):
        outputs = [np.empty((m, w.shape[1]), np.float32) for w in weights]
        errors = [np.empty((m, w.shape[0]), np.float32) for w in weights[1:]]
        buffers[m] = (outputs, errors, np.ones(m, np.float32))
    if full:  # train converts the used columns once, row by row
        used = used_columns(np.bitwise_or.reduce(images, axis=0))
        full_inputs = to_float(images if used is None else images[:, used])
    else:  # a mini-batch's used columns are cast as (k, m) rows and multiplied as their transpose
        pixels = to_float(images[: sizes[0]]).reshape(-1)  # one real batch, reused every step
    times = []
    for _ in range(epochs):
        if full:
            steps = [(sizes[0], full_inputs)]
        else:
            order = rng.permutation(n)
            steps = []
            for m, start in zip(sizes, range(0, n, sizes[0])):
                used = used_columns(np.bitwise_or.reduce(images[order[start : start + m]], axis=0))
                if used is None:
                    steps.append((m, pixels[: m * n_inputs].reshape(m, n_inputs)))
                else:
                    steps.append((m, pixels[: len(used) * m].reshape(len(used), m).T))
        start = clock()
        for m, inputs in steps:
            outputs, errors, ones = buffers[m]
            k = inputs.shape[1]
            first = weights[0] if k == n_inputs else kept_weights[:k]
            activations = [inputs, *outputs]
            for layer, w in enumerate([first, *weights[1:]]):
                np.matmul(activations[layer], w, out=outputs[layer])
            delta = outputs[-1]
            for layer in range(len(weights) - 1, -1, -1):
                out = grads[0] if (layer == 0 and k == n_inputs) else (kept_grad[1 : k + 1] if layer == 0
                                                                       else grads[layer])
                np.matmul(activations[layer].T, delta, out=out)
                np.matmul(ones, delta, out=bias_grads[layer])
                if layer > 0:
                    delta = np.matmul(delta, weights[layer].T, out=errors[layer - 1])
        times.append(since(start))
    return times


# -- scikit-learn ----------------------------------------------------------------
def time_sklearn(images, labels, layer_sizes, optimizer, batch_size, epochs, *, float_images=None):
    """``MLPClassifier.partial_fit``: exactly one epoch per call, float32 input.

    Plain SGD (momentum 0) or Adam, no L2 (alpha=0), shuffled every epoch like ours.
    Input validation's finiteness scan is switched off (``assume_finite``) so only
    training is timed.
    """
    import sklearn
    from sklearn.neural_network import MLPClassifier

    x = to_float(images) if float_images is None else float_images
    model = MLPClassifier(
        hidden_layer_sizes=tuple(layer_sizes[1:-1]), activation="relu", solver=optimizer,
        alpha=0.0, batch_size=len(x) if batch_size is None else batch_size,
        learning_rate_init=LEARNING_RATES[optimizer], momentum=0.0, nesterovs_momentum=False,
        shuffle=True, random_state=0, max_iter=1,
    )
    classes = np.arange(layer_sizes[-1])
    times = []
    with sklearn.config_context(assume_finite=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            start = clock()
            model.partial_fit(x, labels, classes=classes)
            times.append(since(start))
    return times


SKLEARN_HINT = "pip install -r requirements-dev.txt (or pip install scikit-learn)"


def sklearn_available() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


# -- PyTorch -------------------------------------------------------------------
def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def time_torch(images, labels, layer_sizes, optimizer, batch_size, epochs, *, threads=1,
               float_images=None):
    """The plain PyTorch loop: float32 tensors in memory, randperm, index, step.

    No DataLoader (it would only add overhead) and no logging: the fastest ordinary
    way to write it, so the comparison is against PyTorch at its best.
    """
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.from_numpy(to_float(images) if float_images is None else float_images)
    y = torch.from_numpy(labels.astype(np.int64))
    layers = []
    for a, b in zip(layer_sizes[:-1], layer_sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    loss_fn = torch.nn.CrossEntropyLoss()
    make = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = make(model.parameters(), lr=LEARNING_RATES[optimizer])
    n = len(x)
    size = n if batch_size is None else min(batch_size, n)
    times = []
    for _ in range(epochs):
        start = clock()
        if size == n:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        else:
            order = torch.randperm(n)
            for first in range(0, n, size):
                index = order[first : first + size]
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x[index]), y[index]).backward()
                opt.step()
        times.append(since(start))
    return times
