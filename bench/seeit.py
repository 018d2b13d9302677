"""The "see it learn" pages' numbers: ``python -m bench.seeit [--repeats N] [--no-tsne]``.

On the bundled digits, one BLAS thread, it trains the Home page's default model (784-128-10
Adam, 15 epochs) and a 512-unit one, then prints:

- Weights: the first layer's mean lag-1 neighbour correlation, raw and as the learned change
  W - W0 (never-inked pixels left out, as the page draws them), and ||W0|| / ||W - W0||;
- Hidden space: median build time (forward pass + PCA + figure) of each layer's map of 1,000
  held-out images, the figure's payload (``len(fig.to_json())``), the replay of every epoch,
  the separation per layer, and t-SNE's time (when scikit-learn is installed);
- Step by step: median time of one watched step and of one plain step (the same loop), and the
  payload of the page's figures for one step.

Times depend on the machine (none is asserted by the tests; the payloads are).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bench.timing import median_seconds
from datasets import load_bundled, load_mnist_test_set
from lab import hidden_space, settings, step_run, weight_views
from lab.data import make_split
from nn.projection import layer_names, layer_outputs, pca
from nn.training import build_network, train, training_steps
from ui.figures import hidden_space as space_figures
from ui.figures import step as step_figures

KIB = 1024


def trained(split, chosen: dict):
    config = settings.to_config(chosen)
    result = train(build_network(config), split.train_images, split.train_labels, config,
                   validation=(split.validation_images, split.validation_labels))
    return result.network, result.history


def weights_report(split, network, history) -> None:
    views = weight_views.weight_views(network, history, split.train_images)
    start = history.snapshots[0].weights[0].astype(np.float64)
    ratio = np.linalg.norm(start) / np.linalg.norm(network.weights[0] - start)
    print(f"Weights, Home default model: neighbour correlation raw {views.correlation['raw']:.2f}, learned "
          f"change {views.correlation['change']:.2f} (default view: {views.default}); ||W0|| / ||W - W0|| = "
          f"{ratio:.2f}")


def space_report(network, history, held_out, label: str, repeats: int) -> None:
    names = layer_names(network)
    for layer, name in enumerate(names):
        def build():
            space_map = hidden_space.layer_map(network, held_out, layer)
            return space_figures.hidden_space_figure(space_map.coordinates, held_out.labels, space_map.predictions)

        seconds = median_seconds(build, repeats)
        payload = len(build().to_json())
        separation = hidden_space.layer_map(network, held_out, layer).separation
        print(f"  {label}, {name}: build {seconds * 1000:.0f} ms, payload {payload / KIB:.0f} KiB, "
              f"classes apart {separation:.0%}")
    outputs = layer_outputs(network, held_out.images)
    print(f"  {label}: forward pass of 1,000 images "
          f"{median_seconds(lambda: layer_outputs(network, held_out.images), repeats) * 1000:.0f} ms, PCA of the "
          f"widest hidden layer {median_seconds(lambda: pca(outputs[-2]), repeats) * 1000:.0f} ms")
    if history is not None:
        seconds = median_seconds(lambda: hidden_space.replay(network, history.snapshots, held_out, len(names) - 2), 1)
        frames = hidden_space.replay(network, history.snapshots, held_out, len(names) - 2)
        print(f"  {label}: replay of {len(frames.epochs)} snapshots {seconds:.2f} s; classes apart by epoch "
              + " ".join(f"{s:.0%}" for s in frames.separation))


def step_report(split, repeats: int) -> None:
    for name, chosen in (("small 784-16-10 SGD batch 32", step_run.SMALL_SETTINGS),
                         ("784-128-10 Adam batch 128", settings.GOOD_DEFAULT)):
        config = step_run.step_config(chosen)
        timings = {}
        for watch in (False, True):
            steps = training_steps(build_network(config), split.train_images, split.train_labels, config,
                                   watch=watch)
            next(steps)  # set-up and the first step
            timings[watch] = median_seconds(lambda: next(steps), max(repeats, 20))
        run = step_run.StepRun(config, split.train_images, split.train_labels)
        run.step(1)
        u = step_run.unit_step(run.last, 0, 0, config.activation)
        figures = [step_figures.input_figure(u.image, "x", u.top_pixels),
                   step_figures.output_figure(u.logits, u.probabilities, u.output_error, u.label),
                   step_figures.step_losses_figure(run.history.step_loss, run.steps_per_epoch, run.last.loss_after)]
        figures += [step_figures.unit_map_figure(values, 0, "t", "v") for values in
                    (u.contributions, u.grad_weights, u.example_share, u.change, u.weights, u.weights_after,
                     *u.state.values())]
        payload = sum(len(fig.to_json()) for fig in figures)
        print(f"Step, {name}: plain step {timings[False] * 1000:.2f} ms, watched step "
              f"{timings[True] * 1000:.2f} ms; the page's {len(figures)} figures {payload / KIB:.0f} KiB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seeit", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-tsne", action="store_true")
    args = parser.parse_args(argv)
    threadpool_limits(1)
    split = make_split(load_bundled(), settings.VALIDATION_FRACTION, "bundled")
    test = load_mnist_test_set()
    held_out = hidden_space.held_out_images(split, (test.images, test.labels, "real MNIST test images"))
    network, history = trained(split, settings.GOOD_DEFAULT)
    weights_report(split, network, history)
    print(f"Hidden space, {held_out.description}:")
    space_report(network, history, held_out, "784-128-10", args.repeats)
    wide, wide_history = trained(split, {**settings.GOOD_DEFAULT, "width": 512, "epochs": 3})
    space_report(wide, None, held_out, "784-512-10", args.repeats)
    if not args.no_tsne and hidden_space.tsne_available():
        start = time.perf_counter()
        tsne = hidden_space.layer_map(network, held_out, 1, "tsne")
        print(f"  t-SNE of hidden layer 1 (1,000 points): {time.perf_counter() - start:.1f} s, classes apart "
              f"{tsne.separation:.0%}")
    step_report(split, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
