"""``python -m bench.preprocess [--images N] [--seeds S ...] [--quick]``: the Draw page's
preprocessing and the robustness transforms, measured.

1. Round-trip agreement: real MNIST test digits drawn as 280 x 280 canvases
   (``render_digit``, random size 0.5-0.9 of the canvas and offset of up to 40 pixels),
   preprocessed back to 28 x 28 (``preprocess_drawing``), and read by a network trained
   on the bundled 5,000 digits (784 -> 128 ReLU -> 10, Adam, 10 epochs, the test's
   network): the share of digits whose prediction is the same as on the original.  One
   network and one set of random drawings per seed.
2. Time per drawing: ``preprocess_canvas`` on a 280 x 280 RGBA canvas (white pen on
   black, as the Draw page's), the median of many calls, and ``render_digit``'s.
3. The transforms of ``datasets.transforms`` on 10,000 test digits: images per second.

One BLAS thread.  Numbers are noisy on a shared machine; the medians are what to quote.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from datasets import load_bundled, load_mnist_test_set
from datasets.preprocess import preprocess_canvas, preprocess_drawing, render_digit, to_uint8_784
from nn.training import TrainConfig, build_network, predict_proba, train

CANVAS = 280


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.preprocess", description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=2000, help="test digits per seed (default 2000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="network and drawing seeds")
    p.add_argument("--timing-calls", type=int, default=300, help="preprocess_canvas calls timed")
    p.add_argument("--quick", action="store_true", help="200 images, one seed, 50 calls (a smoke test)")
    return p.parse_args(argv)


def trained_network(seed: int):
    config = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3, batch_size=128,
                         epochs=10, snapshot_every=0, seed=seed)
    data = load_bundled()
    network = build_network(config)
    train(network, data.images, data.labels, config)
    return network


def random_drawings(images: np.ndarray, seed: int) -> list[np.ndarray]:
    """Each digit as a 280 x 280 drawing of random size and place (the test's recipe)."""
    rng = np.random.default_rng(seed)
    return [render_digit(image, CANVAS, digit_scale=rng.uniform(0.5, 0.9),
                         shift=tuple(rng.uniform(-40, 40, size=2))) for image in images]


def round_trip(images: np.ndarray, seed: int) -> tuple[float, float]:
    """(agreement, mean absolute pixel difference) for one network and one set of drawings."""
    network = trained_network(seed)
    redrawn = np.array([to_uint8_784(preprocess_drawing(drawing)) for drawing in random_drawings(images, seed)])
    before = predict_proba(network, images).argmax(axis=1)
    after = predict_proba(network, redrawn).argmax(axis=1)
    return float(np.mean(before == after)), float(np.abs(redrawn.astype(int) - images.astype(int)).mean())


def median_seconds(function, arguments: list, calls: int) -> float:
    times = []
    for k in range(calls):
        argument = arguments[k % len(arguments)]
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def as_canvas(drawing: np.ndarray) -> np.ndarray:
    """A drawing as the Draw page's canvas returns it: white pen on opaque black, RGBA uint8."""
    grey = np.rint(drawing * 255).astype(np.uint8)
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def transform_speeds(images: np.ndarray) -> list[tuple[str, float]]:
    try:
        from datasets import transforms
    except ImportError:  # the code before the transforms existed
        return []
    cases = [("rotate 15 degrees", lambda batch: transforms.rotate(batch, 15)),
             ("shift (1.5, -2)", lambda batch: transforms.shift(batch, 1.5, -2)),
             ("shift (2, -1) whole pixels", lambda batch: transforms.shift(batch, 2, -1)),
             ("scale 0.8", lambda batch: transforms.scale(batch, 0.8)),
             ("scale 1.2", lambda batch: transforms.scale(batch, 1.2)),
             ("blur radius 1", lambda batch: transforms.blur(batch, 1.0)),
             ("thicken 1 pixel", lambda batch: transforms.thicken(batch, 1)),
             ("thin 1 pixel", lambda batch: transforms.thin(batch, 1)),
             ("add noise std 40", lambda batch: transforms.add_noise(batch, 40, seed=0))]
    speeds = []
    for name, function in cases:
        seconds = min(_timed(function, images) for _ in range(3))
        speeds.append((name, len(images) / seconds))
    return speeds


def _timed(function, argument) -> float:
    start = time.perf_counter()
    function(argument)
    return time.perf_counter() - start


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.images, args.seeds, args.timing_calls = 200, args.seeds[:1], 50
    test = load_mnist_test_set()
    with threadpool_limits(limits=1, user_api="blas"):
        print(f"Round trip on {args.images:,} real test digits (render 280 x 280 -> preprocess -> predict):")
        agreements = []
        for seed in args.seeds:
            agreement, difference = round_trip(test.images[:args.images], seed)
            agreements.append(agreement)
            print(f"  seed {seed}: agreement {agreement:.2%}, mean |pixel difference| {difference:.2f} of 255")
        print(f"  mean agreement {np.mean(agreements):.2%} over {len(args.seeds)} seed(s)")

        drawings = random_drawings(test.images[:50], 0)
        canvases = [as_canvas(drawing) for drawing in drawings]
        per_drawing = median_seconds(preprocess_canvas, canvases, args.timing_calls)
        print(f"preprocess_canvas, 280 x 280 RGBA: median {per_drawing * 1e3:.2f} ms per drawing "
              f"({args.timing_calls} calls)")
        per_render = median_seconds(lambda image: render_digit(image, CANVAS, digit_scale=0.7),
                                    list(test.images[:50]), max(args.timing_calls // 3, 10))
        print(f"render_digit, 280 x 280: median {per_render * 1e3:.2f} ms per digit")

        speeds = transform_speeds(test.images)
        if speeds:
            print(f"Transforms on {len(test.images):,} test digits (best of 3):")
            for name, per_second in speeds:
                print(f"  {name:28s} {per_second:>10,.0f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
