"""How robust is a model: its accuracy on test images rotated, shifted, resized, blurred,
thinned or thickened, and noised (no Streamlit).

The perturbations are ``datasets/transforms.py``'s (Pillow) on ``(n, 784)`` uint8 batches;
each :class:`Perturbation` names one, its unit, the strengths its curve is measured at
and the range of the Probe page's slider. :func:`robustness_curves` measures a network's
accuracy at every strength of every perturbation: the curves show why a drawn digit a
little off centre, tilted or thin is sometimes misread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from datasets import transforms
from nn.training import evaluate

# The Probe page measures its curves on this many test images (about 10 s for a small CNN).
CURVE_IMAGES = 1000
NOISE_SEED = 0


def _stroke(images, pixels: float):
    pixels = int(round(pixels))
    return transforms.thicken(images, pixels) if pixels > 0 else transforms.thin(images, -pixels)


@dataclass(frozen=True)
class Perturbation:
    """One way of changing test images: ``apply(images, value)``, the unchanged image at
    ``neutral``; ``values``: the strengths its curve is measured at; ``slider``: (low,
    high, step) of the page's slider; ``axis``: the curve's x axis title."""

    key: str
    label: str
    axis: str
    unit: str
    apply: Callable[[np.ndarray, float], np.ndarray]
    values: tuple[float, ...]
    slider: tuple[float, float, float]
    neutral: float = 0.0

    def describe(self, value: float) -> str:
        """e.g. "rotated 20°", "shifted 3 px right", "stroke thinned by 1 px"."""
        if value == self.neutral:
            return "unchanged"
        return _DESCRIPTIONS[self.key](value)


_DESCRIPTIONS = {
    "rotate": lambda v: f"rotated {abs(v):g}° {'counter-clockwise' if v > 0 else 'clockwise'}",
    "shift_x": lambda v: f"shifted {abs(v):g} px {'right' if v > 0 else 'left'}",
    "shift_y": lambda v: f"shifted {abs(v):g} px {'down' if v > 0 else 'up'}",
    "scale": lambda v: f"{'enlarged' if v > 1 else 'shrunk'} to {v:.0%}",
    "blur": lambda v: f"blurred (radius {v:g} px)",
    "stroke": lambda v: f"strokes {'thickened' if v > 0 else 'thinned'} by {abs(v):g} px",
    "noise": lambda v: f"noise of {v:g} grey levels added",
}

PERTURBATIONS: dict[str, Perturbation] = {p.key: p for p in (
    Perturbation("rotate", "Rotation", "rotation (degrees, + = counter-clockwise)", "°",
                 lambda images, v: transforms.rotate(images, v),
                 (-30, -20, -10, 0, 10, 20, 30), (-30, 30, 5)),
    Perturbation("shift_x", "Shift left / right", "shift (pixels, + = right)", "px",
                 lambda images, v: transforms.shift(images, v, 0),
                 (-4, -3, -2, -1, 0, 1, 2, 3, 4), (-4, 4, 1)),
    Perturbation("shift_y", "Shift up / down", "shift (pixels, + = down)", "px",
                 lambda images, v: transforms.shift(images, 0, v),
                 (-4, -3, -2, -1, 0, 1, 2, 3, 4), (-4, 4, 1)),
    Perturbation("scale", "Size", "size (factor, 1 = as drawn)", "×",
                 lambda images, v: transforms.scale(images, v),
                 (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4), (0.5, 1.5, 0.05), neutral=1.0),
    Perturbation("blur", "Blur", "blur radius (pixels)", "px",
                 lambda images, v: transforms.blur(images, v),
                 (0, 0.5, 1, 1.5, 2), (0, 3, 0.25)),
    Perturbation("stroke", "Thin / thick strokes", "stroke change (pixels, − = thinner, + = thicker)", "px",
                 _stroke, (-1, 0, 1, 2), (-1, 2, 1)),
    Perturbation("noise", "Noise", "noise (standard deviation, grey levels of 255)", "",
                 lambda images, v: transforms.add_noise(images, v, seed=NOISE_SEED),
                 (0, 32, 64, 96, 128), (0, 160, 8)),
)}


def perturb(images: np.ndarray, key: str, value: float) -> np.ndarray:
    """``images`` (n, 784) uint8 changed by perturbation ``key`` at strength ``value``."""
    if key not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {key!r}; choose from {', '.join(PERTURBATIONS)}")
    perturbation = PERTURBATIONS[key]
    if value == perturbation.neutral:
        return np.array(images, dtype=np.uint8)
    return perturbation.apply(images, value)


def accuracy_under(network, images: np.ndarray, labels: np.ndarray, key: str, value: float) -> float:
    """The network's accuracy on ``images`` changed by ``key`` at ``value``."""
    return float(evaluate(network, perturb(images, key, value), labels)[1])


@dataclass
class RobustnessCurve:
    """Accuracy (k,) at each strength ``values`` (k,) of perturbation ``key``."""

    key: str
    values: np.ndarray
    accuracies: np.ndarray

    @property
    def worst(self) -> tuple[float, float]:
        """(strength, accuracy) where the network does worst."""
        i = int(np.argmin(self.accuracies))
        return float(self.values[i]), float(self.accuracies[i])


def robustness_curves(network, images: np.ndarray, labels: np.ndarray, keys=None,
                      progress: Callable[[float], None] | None = None) -> dict[str, RobustnessCurve]:
    """Per perturbation of ``keys`` (default all), the accuracy at each of its ``values``.
    The unchanged images are evaluated once and shared by every curve."""
    keys = list(PERTURBATIONS) if keys is None else list(keys)
    clean = float(evaluate(network, images, labels)[1])
    total = sum(len(PERTURBATIONS[key].values) for key in keys)
    done, curves = 0, {}
    for key in keys:
        perturbation = PERTURBATIONS[key]
        accuracies = []
        for value in perturbation.values:
            accuracies.append(clean if value == perturbation.neutral else accuracy_under(network, images, labels,
                                                                                          key, value))
            done += 1
            if progress is not None:
                progress(done / total)
        curves[key] = RobustnessCurve(key, np.asarray(perturbation.values, np.float64), np.asarray(accuracies))
    return curves
