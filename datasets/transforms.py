"""Image transforms for robustness experiments: how well does a network read a digit
that is rotated, moved, resized, blurred, thickened, thinned or noisy?

Every function takes a batch as the datasets store it -- ``(n, 784)`` uint8, one
28 x 28 image per row, 0 = paper, 255 = full ink -- and returns a new batch of the
same shape and dtype; the input is never changed.  Pillow does the image work
(``Image.rotate``, ``Image.transform``, ``Image.resize`` one image at a time;
``ImageFilter`` on all of them at once, stacked into one tall picture); NumPy adds the
noise::

    rotate(images, degrees)          about the centre, counter-clockwise (as on screen)
    shift(images, dx, dy)            dx pixels right, dy pixels down
    scale(images, factor)            about the centre: < 1 shrinks, > 1 enlarges
    blur(images, radius)             Gaussian, radius = its standard deviation in pixels
    thicken(images, pixels=1)        strokes grow by ``pixels`` on every side (MaxFilter)
    thin(images, pixels=1)           strokes shrink by ``pixels`` on every side (MinFilter)
    add_noise(images, std, seed=0)   Gaussian noise of ``std`` grey levels, reproducible

Conventions:

* Geometry: x runs right (columns), y down (rows).  "The centre" is the middle of the
  field, the corner shared by pixels (13, 13) and (14, 14) -- Pillow's centre of
  rotation; MNIST's centre of mass is half a pixel below and right of it.  So a
  rotation by a multiple of 90 degrees only moves pixels, exactly.
* Outside the field is paper: whatever a transform brings in from outside is 0, ink
  moved or blurred out of the field is lost.  Each image is put on a margin of paper
  before Pillow sees it, so that interpolation and filters at the border see paper
  too, not copies of the border pixels (and, stacked, never each other's ink).
* Rotate, shift and scale interpolate bilinearly in 32-bit floats and round to the
  nearest grey level (Pillow's 8-bit bilinear rounds down, which would lose about
  half a level on every inked pixel).  Whole-pixel shifts, rotations by multiples of
  90 degrees and ``scale(images, 1)`` are exact.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from .dataset import IMAGE_SIDE, PIXELS_PER_IMAGE

__all__ = ["add_noise", "blur", "rotate", "scale", "shift", "thicken", "thin"]

_BILINEAR = Image.Resampling.BILINEAR
# Paper around each image while Pillow works on it: wide enough for bilinear
# interpolation's reach (one pixel) with a pixel to spare.
_MARGIN = 2


def _checked_batch(images) -> np.ndarray:
    """``images`` as a C-contiguous ``(n, 784)`` uint8 array, or a clear ValueError."""
    batch = np.asarray(images)
    if batch.ndim != 2 or batch.shape[1] != PIXELS_PER_IMAGE:
        hint = " (one image? pass images[None])" if batch.shape == (PIXELS_PER_IMAGE,) else ""
        raise ValueError(f"images must be an (n, {PIXELS_PER_IMAGE}) batch, got shape {batch.shape}{hint}")
    if batch.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0-255) as the datasets store them, got {batch.dtype}")
    return np.ascontiguousarray(batch)


def _checked_number(value, name: str, minimum: float | None = None, above: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, got {value!r}")
    if above is not None and number <= above:
        raise ValueError(f"{name} must be more than {above:g}, got {value!r}")
    return number


def _on_paper(batch: np.ndarray, margin: int) -> np.ndarray:
    """``(n, 784)`` -> ``(n, 28 + 2 * margin, 28 + 2 * margin)``: each image on a margin of paper."""
    squares = batch.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return np.pad(squares, ((0, 0), (margin, margin), (margin, margin)))


def _each_image(images, transform, *, margin: int = _MARGIN) -> np.ndarray:
    """Apply ``transform`` (a Pillow image -> a Pillow image of the same size) to every
    image, each put on ``margin`` pixels of paper first and cut out after.

    Pillow works on 32-bit float images (mode "F"); the results are rounded to the
    nearest level.  Returns ``(n, 784)`` uint8.
    """
    squares = _on_paper(_checked_batch(images), margin).astype(np.float32)
    field = slice(margin, margin + IMAGE_SIDE)
    out = np.empty((len(squares), IMAGE_SIDE, IMAGE_SIDE), np.float32)
    for k, square in enumerate(squares):
        out[k] = np.asarray(transform(Image.fromarray(square)))[field, field]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(-1, PIXELS_PER_IMAGE)


def _filtered(images, image_filter: ImageFilter.Filter, margin: int) -> np.ndarray:
    """Apply a Pillow filter to every image at once: the images, each on ``margin``
    pixels of paper, stacked into one tall 8-bit picture (mode "L", the only one
    Pillow's blur takes).  ``margin`` must exceed half the filter's reach, so that no
    image's ink reaches another's field.  Returns ``(n, 784)`` uint8.
    """
    batch = _checked_batch(images)
    if len(batch) == 0:
        return batch.copy()
    squares = _on_paper(batch, margin)
    side = squares.shape[1]
    picture = Image.fromarray(np.ascontiguousarray(squares.reshape(-1, side)))
    result = np.asarray(picture.filter(image_filter)).reshape(-1, side, side)
    field = slice(margin, margin + IMAGE_SIDE)
    return np.ascontiguousarray(result[:, field, field]).reshape(-1, PIXELS_PER_IMAGE)


def rotate(images, degrees: float) -> np.ndarray:
    """Each image turned by ``degrees`` about the centre, counter-clockwise for positive
    angles (as it looks on screen); bilinear.  ``(n, 784)`` uint8 -> ``(n, 784)`` uint8.

    A digit's corners may leave the field (a 28 x 28 square turned by 45 degrees
    needs 40 x 40); MNIST digits keep 4 pixels of paper around their 20 x 20 box, so
    turns up to about 30 degrees lose next to no ink.
    """
    angle = _checked_number(degrees, "degrees")
    return _each_image(images, lambda picture: picture.rotate(angle, resample=_BILINEAR))


def shift(images, dx: float, dy: float) -> np.ndarray:
    """Each image moved ``dx`` pixels right and ``dy`` pixels down (negative: left, up).

    Whole pixels move exactly; fractions interpolate bilinearly.  What moves out of
    the field is lost, what comes in is paper.  ``(n, 784)`` uint8 -> ``(n, 784)`` uint8.
    """
    right, down = _checked_number(dx, "dx"), _checked_number(dy, "dy")
    # Pillow's affine maps each output pixel back to where it comes from in the input.
    matrix = (1.0, 0.0, -right, 0.0, 1.0, -down)
    # Enough paper that a whole-field move still reads paper, not the clamped border.
    margin = _MARGIN + min(int(math.ceil(max(abs(right), abs(down)))), IMAGE_SIDE)
    return _each_image(images, lambda picture: picture.transform(
        picture.size, Image.Transform.AFFINE, matrix, resample=_BILINEAR), margin=margin)


def scale(images, factor: float) -> np.ndarray:
    """Each image resized by ``factor`` about the centre: 0.8 shrinks the digit to 80 %,
    1.25 enlarges it (ink beyond the field is lost).  ``(n, 784)`` uint8 -> same.

    Pillow's ``resize`` with a ``box``: the field is resampled from the square of side
    ``28 / factor`` around the centre, with the bilinear filter, which averages the
    pixels it drops when shrinking (no aliasing) and interpolates when enlarging.
    """
    factor = _checked_number(factor, "factor", above=0.0)
    # The source square may reach beyond the image when shrinking: enough paper for it.
    reach = IMAGE_SIDE / 2 / factor
    margin = _MARGIN + int(math.ceil(max(0.0, reach - IMAGE_SIDE / 2)))
    middle = margin + IMAGE_SIDE / 2
    box = (middle - reach, middle - reach, middle + reach, middle + reach)

    def resized(picture: Image.Image) -> Image.Image:
        field = picture.resize((IMAGE_SIDE, IMAGE_SIDE), _BILINEAR, box=box)
        paper = Image.new("F", picture.size)
        paper.paste(field, (margin, margin))
        return paper

    return _each_image(images, resized, margin=margin)


def blur(images, radius: float) -> np.ndarray:
    """Each image blurred by a Gaussian of standard deviation ``radius`` pixels
    (Pillow's ``GaussianBlur``, three box blurs in 8 bits; 0 = unchanged).

    Total ink is kept up to rounding and what spreads beyond the field: within a
    few percent for MNIST digits and radii up to 2.  ``(n, 784)`` uint8 -> same.
    """
    radius = _checked_number(radius, "radius", minimum=0.0)
    margin = _MARGIN + int(math.ceil(3 * radius))
    return _filtered(images, ImageFilter.GaussianBlur(radius), margin)


def _rank_filtered(images, pixels: int, rank_filter, name: str) -> np.ndarray:
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 0:
        raise ValueError(f"{name}: pixels must be a whole number >= 0, got {pixels!r}")
    return _filtered(images, rank_filter(2 * int(pixels) + 1), _MARGIN + int(pixels))


def thicken(images, pixels: int = 1) -> np.ndarray:
    """Strokes grown by ``pixels`` on every side: each pixel becomes the brightest in
    the ``(2 * pixels + 1)`` square around it (Pillow's ``MaxFilter``).  0 = unchanged.
    ``(n, 784)`` uint8 -> same."""
    return _rank_filtered(images, pixels, ImageFilter.MaxFilter, "thicken")


def thin(images, pixels: int = 1) -> np.ndarray:
    """Strokes shrunk by ``pixels`` on every side: each pixel becomes the darkest in
    the ``(2 * pixels + 1)`` square around it (Pillow's ``MinFilter``); strokes thinner
    than ``2 * pixels + 1`` vanish.  0 = unchanged.  ``(n, 784)`` uint8 -> same."""
    return _rank_filtered(images, pixels, ImageFilter.MinFilter, "thin")


def add_noise(images, std: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise of standard deviation ``std`` grey levels (of 255) added to every
    pixel, paper included, then clipped to 0-255 and rounded.

    The same ``seed`` and the same batch give the same result; each image gets its
    own noise.  ``(n, 784)`` uint8 -> same.
    """
    batch = _checked_batch(images)
    std = _checked_number(std, "std", minimum=0.0)
    noise = np.random.default_rng(seed).normal(0.0, std, size=batch.shape)
    return np.clip(np.rint(batch + noise), 0, 255).astype(np.uint8)
