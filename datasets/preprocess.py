"""Turning a drawing into an MNIST digit: the preprocessing behind the Draw page.

A network trained on MNIST has only ever seen digits made one particular way, so a
digit drawn with the mouse must be made the same way before it is shown to it.
LeCun, Cortes and Burges describe the recipe on the MNIST page:

    "The original black and white (bilevel) images from NIST were size normalized
    to fit in a 20x20 pixel box while preserving their aspect ratio. The resulting
    images contain grey levels as a result of the anti-aliasing technique used by
    the normalization algorithm. The images were centered in a 28x28 image by
    computing the center of mass of the pixels, and translating the image so as to
    position this point at the center of the 28x28 field."

This module repeats those steps on a canvas drawing, in NumPy only:

1. **Ink** (:func:`canvas_to_grey`).  The canvas hands back RGBA pixels; we want one
   number per pixel, 0 = paper, 1 = full ink -- the MNIST convention (white digit,
   black background, whatever the page looks like).
2. **Crop** to the ink's bounding box: where on the canvas the digit was drawn, and
   how big, must not matter.
3. **Size-normalise**: scale so the longer side of the box is 20 pixels, the same
   factor on both axes (a "1" stays tall and thin).  The shorter side is centred
   in the 20 x 20 box.  Shrinking a 200-pixel drawing to 20 pixels must *average*
   each 10 x 10 block, not pick one pixel from it: picking would break thin strokes
   into dots (aliasing).  We do exact *area resampling* (:func:`resize_area`):
   every output pixel is the mean of the input area it covers, input pixels cut by
   its border counted by the fraction covered.  This is the "anti-aliasing" that
   gives MNIST its grey edges.
4. **Centre by centre of mass**: place the 20 x 20 box in a blank 28 x 28 image so
   that the ink's centre of mass (the intensity-weighted mean pixel position) lands
   on the centre of the field.

Steps 3 and 4 are done in one go: both are a change of scale and position, so the
drawing is resampled straight into the 28 x 28 field (see :func:`preprocess_drawing`).

Which point is "the centre"?  Pixel positions here are 0-based indices of pixel
*centres*, so the geometric middle of 28 pixels is 13.5.  Measured on the 10,000
real MNIST test images, the mean centre of mass is (13.99, 14.01) (row, column),
with a standard deviation of 0.29 on each axis.  So MNIST put it at **(14, 14)**,
one half pixel below and right of the middle, and the spread, 0.29 = 1/sqrt(12),
is exactly that of a value spread evenly over one pixel: MNIST translated by a
*whole* number of pixels, the one that brings the centre of mass nearest to 14.
We do the same (``subpixel=False``, the default), so our centre of mass lands in
[13.5, 14.5] like MNIST's.  ``subpixel=True`` instead resamples straight into the
28 x 28 grid at the fractional offset that puts the centre of mass at 14.0 (to
within a few hundredths); it is sharper than shifting by bilinear interpolation,
but the grid no longer lines up with the 20 x 20 box, which blurs every edge a
little.

All resampling here is *separable* and linear: resizing an image is the same 1-D
resampling applied to every column, then to every row, i.e. ``R @ image @ C.T``
with two small weight matrices (28 x 280 for a 280-pixel canvas).  That is
vectorised, exact, and fast (about a millisecond for a 280 x 280 canvas).

Drawing advice, from the numbers: MNIST strokes are about 2-3 pixels wide in a
20-pixel-tall digit, roughly a tenth of the digit's height.  On a 280 x 280 canvas,
a digit drawn about 200 pixels tall wants a pen about 18-25 pixels wide.  Much
thinner pens give faint, thin strokes after shrinking; the network has rarely seen
those.

The functions::

    canvas_to_grey(rgba, background)   (H, W, 4) canvas pixels -> (H, W) ink in [0, 1]
    preprocess_drawing(grey)           (H, W) ink -> (28, 28) float32 MNIST digit, or None
                                       (style="emnist": an EMNIST character instead)
    preprocess_canvas(rgba, ...)       both of the above
    to_uint8_784(image28)              (28, 28) -> (784,) uint8, a row like the datasets'
    resize_area(image, out_h, out_w)   exact area (box-filter) resampling
    render_digit(image784, size, ...)  the reverse trip, for tests: MNIST -> a big "drawing"
    centre_of_mass(image)              (row, column) of the intensity-weighted mean

How well does it work?  ``tests/test_preprocess.py`` renders real MNIST test digits
as 280 x 280 drawings (:func:`render_digit`, at random sizes and places), runs them
through :func:`preprocess_drawing` and asks a network trained on MNIST to read both
versions: it gives the same answer for 96-97 % of them (2,000 digits, five
training seeds; 97.0 % on the test's 200).  For scale, shifting an MNIST digit by a
single pixel changes that network's answer for 10-14 % of digits: centring to the
right pixel matters more than anything else, and most disagreements are digits
whose centre of mass sat near the half-pixel rounding boundary.
"""

from __future__ import annotations

import numpy as np

MNIST_SIDE = 28  # the field
BOX_SIDE = 20  # the longer side of the size-normalised digit
CENTRE = 14.0  # where MNIST's centre of mass sits, in 0-based pixel-centre coordinates
# EMNIST's characters fill the field: the longer side of the box is 28 less a thin border.
EMNIST_BOX_SIDE = 26
STYLES = ("mnist", "emnist")
# A canvas whose brightest pixel is fainter than this is empty (no digit).
INK_THRESHOLD = 0.1
# The outline of a stroke, as a fraction of its peak: the bounding box is that of
# the pixels brighter than this (see preprocess_drawing).
EDGE_LEVEL = 0.5
# How much of the drawing around its bounding box is resampled too, in output
# pixels: the faint fringe of anti-aliased strokes (see preprocess_drawing).
FRINGE = 1.0

# ITU-R BT.601 luma weights, the ones PIL uses for mode "L".
_LUMA = np.array([0.299, 0.587, 0.114])


# ---------------------------------------------------------------------------
# 1. From canvas pixels to ink
# ---------------------------------------------------------------------------


def canvas_to_grey(rgba, background: str = "black") -> np.ndarray:
    """Ink intensity of a canvas image: 0.0 = paper, 1.0 = full ink.

    Args:
        rgba: ``(H, W, 4)`` RGBA pixels, as ``st_canvas(..., return_image_data=True)``
            returns them (``.image_data``: uint8, 0-255).  ``(H, W, 3)`` RGB and
            ``(H, W)`` grey are accepted too (fully opaque).  Float input is read as
            0.0-1.0, or as 0-255 when any value exceeds 1.
        background: what the user sees behind the strokes, i.e. what counts as paper.
            ``"black"``: light strokes on a dark page (MNIST's own look).
            ``"white"``: dark strokes on a light page.

    How: each pixel is composited over the page (``alpha * colour + (1 - alpha) *
    page``, as the browser shows it), and its ink is how far its luminance is from
    the page's::

        background="black":  ink = alpha * luminance
        background="white":  ink = alpha * (1 - luminance)

    So a transparent pixel (alpha 0) is paper whatever its RGB, and an opaque
    background colour baked into the image (the canvas' ``background_color``) is
    paper too.  This covers both usual set-ups: white strokes on a black (or
    transparent) canvas with ``"black"``, black strokes on a white (or transparent)
    canvas with ``"white"``.  Assumption: the strokes contrast with the page in
    luminance; a coloured pen counts by its luminance (pure red on black is 0.3 ink).
    """
    if background not in ("black", "white"):
        raise ValueError(f"background must be 'black' or 'white', got {background!r}")
    pixels = np.asarray(rgba)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an (H, W, 4) RGBA image, got shape {np.shape(rgba)}")
    if pixels.dtype.kind == "b" or not (np.issubdtype(pixels.dtype, np.integer)
                                        or np.issubdtype(pixels.dtype, np.floating)):
        raise ValueError(f"expected uint8 or float pixels, got {pixels.dtype}")
    values = pixels.astype(np.float64)
    if np.issubdtype(pixels.dtype, np.integer) or (values.size and np.nanmax(values) > 1.0):
        values /= 255.0
    if not np.all(np.isfinite(values)):
        raise ValueError("the image contains NaN or infinite values")
    values = np.clip(values, 0.0, 1.0)
    if background == "white":
        values[:, :, :3] = 1.0 - values[:, :, :3]  # darkness; (1 - rgb) @ luma is exactly 0 for white
    channels = values.shape[2]
    if channels == 1:
        ink = values[:, :, 0]
    else:
        ink = values[:, :, :3] @ _LUMA
        if channels == 4:
            ink *= values[:, :, 3]
    return np.clip(ink, 0.0, 1.0)


# ---------------------------------------------------------------------------
# Resampling: 1-D weight matrices, applied along each axis
# ---------------------------------------------------------------------------


def _area_weights(n_in: int, n_out: int, scale: float, offset: float = 0.0) -> np.ndarray:
    """``(n_out, n_in)`` matrix of exact area-resampling weights along one axis.

    Coordinates are pixel *edges*: input pixel ``i`` covers ``[i, i + 1)``.  An input
    position ``x`` lands at ``x * scale + offset`` in the output, so output pixel
    ``j``, covering ``[j, j + 1)``, sees the input interval
    ``[(j - offset) / scale, (j + 1 - offset) / scale)``.  Its weight on input pixel
    ``i`` is the length of the overlap divided by the interval's length (``1/scale``);
    the weights of a fully covered output pixel sum to 1 (a mean), and what falls
    outside the input counts as paper (0).
    """
    j = np.arange(n_out, dtype=np.float64)[:, None]
    i = np.arange(n_in, dtype=np.float64)[None, :]
    low = (j - offset) / scale
    high = (j + 1.0 - offset) / scale
    overlap = np.minimum(high, i + 1.0) - np.maximum(low, i)
    return np.clip(overlap, 0.0, None) * scale


def _linear_weights(n_in: int, n_out: int, scale: float, offset: float = 0.0) -> np.ndarray:
    """``(n_out, n_in)`` matrix of bilinear (tent-filter) interpolation weights.

    Same mapping as :func:`_area_weights`: input edge coordinate ``x`` goes to
    ``x * scale + offset``.  The centre of output pixel ``j`` (at ``j + 0.5``) comes
    from input index position ``t = (j + 0.5 - offset) / scale - 0.5`` (pixel centres
    at integers), interpolated between its two neighbours; beyond the edges is 0.
    Meant for enlarging (``scale >= 1``); shrinking this way would alias.
    """
    j = np.arange(n_out, dtype=np.float64)[:, None]
    i = np.arange(n_in, dtype=np.float64)[None, :]
    t = (j + 0.5 - offset) / scale - 0.5
    return np.clip(1.0 - np.abs(t - i), 0.0, None)


def _gaussian_weights(n: int, sigma: float) -> np.ndarray:
    """``(n, n)`` Gaussian blur matrix along one axis (beyond the edges is 0)."""
    d = np.arange(n, dtype=np.float64)
    kernel = np.exp(-0.5 * ((d[:, None] - d[None, :]) / sigma) ** 2)
    reach = np.arange(-int(6 * sigma) - 1, int(6 * sigma) + 2)
    return kernel / np.exp(-0.5 * (reach / sigma) ** 2).sum()  # rows away from the edges sum to 1


def _as_image(image, name: str = "image") -> np.ndarray:
    """A 2-D float64 copy of ``image`` (uint8 is scaled to 0-1), checked."""
    array = np.asarray(image)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array / 255.0
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)) \
            or array.dtype.kind == "b":
        raise ValueError(f"{name} must hold numbers, got {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def resize_area(image, out_h: int, out_w: int) -> np.ndarray:
    """Resize a 2-D image to ``(out_h, out_w)`` by exact area averaging (box filter).

    Every output pixel is the mean of the part of the input it covers, partial
    input pixels weighted by the fraction covered -- the same as OpenCV's
    ``INTER_AREA`` or PIL's ``Image.BOX`` when shrinking.  The image is stretched to
    fill the output exactly (no aspect ratio kept here; choose the sizes for that).
    Shrinking by a whole factor ``k`` gives the mean of each ``k x k`` block;
    the average intensity is always preserved.

    Args:
        image: ``(H, W)`` numbers (uint8 is read as 0-255 -> 0.0-1.0).
        out_h, out_w: the output size, each >= 1.

    Returns:
        ``(out_h, out_w)`` float64.
    """
    source = _as_image(image)
    out_h, out_w = int(out_h), int(out_w)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be at least 1 x 1, got {out_h} x {out_w}")
    h, w = source.shape
    rows = _area_weights(h, out_h, out_h / h)
    columns = _area_weights(w, out_w, out_w / w)
    return rows @ source @ columns.T


def centre_of_mass(image) -> tuple[float, float]:
    """``(row, column)`` of the intensity-weighted mean pixel position.

    0-based pixel-centre coordinates: the top-left pixel is at (0, 0) and the
    middle of a 28 x 28 image at (13.5, 13.5).  MNIST digits have theirs at about
    (14, 14).  Raises ValueError for an image with no ink (total intensity 0).
    """
    array = _as_image(image)
    total = array.sum()
    if total <= 0:
        raise ValueError("centre of mass of an empty image")
    rows = array.sum(axis=1) @ np.arange(array.shape[0]) / total
    columns = array.sum(axis=0) @ np.arange(array.shape[1]) / total
    return float(rows), float(columns)


# ---------------------------------------------------------------------------
# 2-4. Crop, size-normalise, centre
# ---------------------------------------------------------------------------


def ink_bounding_box(grey, level: float = EDGE_LEVEL) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` (bottom and right exclusive) of the pixels
    whose ink exceeds ``level``, or None when there are none."""
    ink = _as_image(grey, "grey") > level
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(ink.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1


def preprocess_drawing(grey, *, ink_threshold: float = INK_THRESHOLD,
                       subpixel: bool = False, style: str = "mnist") -> np.ndarray | None:
    """Make a drawing into an MNIST digit: crop, fit 20 x 20, centre by mass in 28 x 28.

    Args:
        grey: ``(H, W)`` ink intensity, 0.0 = paper to 1.0 = full ink (e.g. from
            :func:`canvas_to_grey`; uint8 0-255 is accepted too).  Any size; the
            Draw page's canvas is 280 x 280.
        ink_threshold: when no pixel exceeds this, the canvas counts as empty.
        subpixel: False (default, as MNIST): translate by whole pixels, so the
            centre of mass ends within half a pixel of (14, 14).  True: resample at
            the exact fractional offset so it lands on (14, 14).
        style: "mnist" (the recipe above) or "emnist", the way EMNIST (Cohen et al.,
            2017) made its letters and digits from the same NIST forms: the
            character's box, centred in a square with a 2-pixel border, resized to
            28 x 28 -- so the longer side spans about 26 pixels
            (:data:`EMNIST_BOX_SIDE`) and the *box*, not the centre of mass, is centred.
            A network trained on EMNIST has seen only characters that fill the field;
            an MNIST-style 20-pixel letter looks small and off-centre to it.  (EMNIST
            also blurred the bilevel scans, sigma = 1 pixel at 128 x 128, before
            shrinking; our area resampling gives the drawing's edges their grey
            already, so that step is left out.)

    Returns:
        ``(28, 28)`` float32 in [0, 1], white digit on black, or None when no pixel
        exceeds ``ink_threshold`` (an empty canvas).

    Three details the MNIST recipe leaves open, because NIST's images were
    bilevel (each pixel ink or paper) while a canvas drawing has grey edges and
    perhaps a grey or coloured pen:

    * *Ink is ink.*  The drawing is first divided by its brightest pixel, so its
      strokes peak at 1.0 like MNIST's: every one of the 10,000 test digits peaks at
      254 or 255.  A dim pen then gives the same digit as a bright one.
    * *Where is the edge?*  The bounding box is that of the pixels more than half as
      bright as the peak (:data:`EDGE_LEVEL`): where a stroke's anti-aliased edge is
      half on, half off is where the bilevel outline runs.  Boxing every faint
      pixel would make the box too big, and the digit too small after shrinking.
    * *The fringe.*  The fainter pixels just outside the box (up to
      :data:`FRINGE` = 1 output pixel away) are resampled too rather than cut off,
      so they land, faintly, just outside the 20 x 20 box.  Cutting them would
      shift the centre of mass by up to a few tenths of a pixel, enough to move the
      whole digit by a pixel after rounding.  Ink further away (stray specks) is
      ignored.

    How steps 3 and 4 become one: a canvas position ``y`` (pixel edges) maps to
    ``(y - top) * scale + offset`` in the 28 x 28 field, where ``scale = 20 /
    longer side`` and ``offset`` first puts the 20 x 20 box in the middle (from 4 to
    24, the shorter side centred in it).  After measuring the centre of mass
    there, the drawing is resampled again with ``offset`` moved by the whole number
    of pixels (rounded) that brings it to (14, 14) -- exactly the same as pasting
    the first result shifted by that many pixels.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    image = np.clip(_as_image(grey, "grey"), 0.0, 1.0)
    peak = image.max()
    if not peak > ink_threshold:
        return None
    image /= peak
    top, bottom, left, right = ink_bounding_box(image)
    h, w = bottom - top, right - left
    box_side = BOX_SIDE if style == "mnist" else EMNIST_BOX_SIDE
    scale = box_side / max(h, w)  # one scale for both axes: the aspect ratio is kept
    # The window resampled: the box plus the fringe, in canvas pixels.
    pad = int(np.ceil(FRINGE / scale))
    t0, b0 = max(top - pad, 0), min(bottom + pad, image.shape[0])
    l0, r0 = max(left - pad, 0), min(right + pad, image.shape[1])
    window = image[t0:b0, l0:r0]
    box_start = (MNIST_SIDE - box_side) / 2  # 4 (MNIST): the box in the middle of the field
    row_offset = box_start + (box_side - h * scale) / 2 + (t0 - top) * scale
    column_offset = box_start + (box_side - w * scale) / 2 + (l0 - left) * scale

    def resample(dy: float, dx: float) -> np.ndarray:
        """The window in the 28 x 28 field, the box moved by (dy, dx) from the middle."""
        return (_area_weights(window.shape[0], MNIST_SIDE, scale, row_offset + dy) @ window
                @ _area_weights(window.shape[1], MNIST_SIDE, scale, column_offset + dx).T)

    out = resample(0.0, 0.0)
    if style == "emnist":
        return np.clip(out, 0.0, 1.0).astype(np.float32)  # centred by its box: done
    cy, cx = centre_of_mass(out)
    if subpixel:
        # Averaging over a shifted grid moves the discrete centre of mass by a few
        # hundredths of a pixel; a second round corrects most of that.
        dy, dx = CENTRE - cy, CENTRE - cx
        for _ in range(2):
            out = resample(dy, dx)
            my, mx = centre_of_mass(out)
            dy, dx = dy + CENTRE - my, dx + CENTRE - mx
    else:
        # MNIST's way: move by the whole number of pixels nearest to the offset
        # (halves round up), which leaves the centre of mass within half a pixel.
        dy, dx = np.floor(CENTRE - cy + 0.5), np.floor(CENTRE - cx + 0.5)
        if dy or dx:
            out = resample(dy, dx)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def preprocess_canvas(rgba, background: str = "black", **options) -> np.ndarray | None:
    """:func:`canvas_to_grey` then :func:`preprocess_drawing`: canvas pixels -> 28 x 28."""
    return preprocess_drawing(canvas_to_grey(rgba, background), **options)


def to_uint8_784(image28) -> np.ndarray:
    """A ``(28, 28)`` image in [0, 1] as one ``(784,)`` uint8 row, 0-255.

    This is exactly how the datasets store digits (see ``datasets.dataset``), so the network
    sees a drawing through the same ``pixel / 255`` conversion as its training data:
    ``predict_proba(network, to_uint8_784(image)[None])``.  Rounded to nearest.
    """
    image = _as_image(image28, "image28")
    if image.shape != (MNIST_SIDE, MNIST_SIDE):
        raise ValueError(f"expected a (28, 28) image, got shape {image.shape}")
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8).reshape(-1)


# ---------------------------------------------------------------------------
# The reverse trip, for tests: an MNIST digit as a big drawing
# ---------------------------------------------------------------------------


def render_digit(image784, size: int = 280, *, stroke_blur: float = 1.0, digit_scale: float = 1.0,
                 shift: tuple[float, float] = (0.0, 0.0), pen: float | None = None) -> np.ndarray:
    """Draw an MNIST digit on a ``size x size`` canvas, as if a user had drawn it.

    The 28 x 28 image is enlarged by bilinear interpolation so that it spans
    ``size * digit_scale`` pixels, placed in the middle of the canvas moved by
    ``shift = (down, right)`` canvas pixels, then softened by a Gaussian blur of
    ``stroke_blur`` canvas pixels (0 = none), like a browser's anti-aliased pen.
    ``pen`` (e.g. 0.5) first makes the strokes solid: every pixel above it becomes
    full ink, the rest paper, which is closer to a mouse drawing than MNIST's grey
    levels.  Ink pushed off the canvas is lost; keep ``digit_scale`` and ``shift``
    modest.

    Args:
        image784: ``(784,)`` or ``(28, 28)`` uint8 (0-255) or float (0-1).

    Returns:
        ``(size, size)`` float64 ink in [0, 1], ready for :func:`preprocess_drawing`.
    """
    image = _as_image(np.asarray(image784).reshape(MNIST_SIDE, MNIST_SIDE), "image784")
    if size < 1 or digit_scale <= 0:
        raise ValueError("size and digit_scale must be positive")
    scale = size * digit_scale / MNIST_SIDE
    row_offset = (size - MNIST_SIDE * scale) / 2 + shift[0]
    column_offset = (size - MNIST_SIDE * scale) / 2 + shift[1]
    rows = _linear_weights(MNIST_SIDE, size, scale, row_offset)
    columns = _linear_weights(MNIST_SIDE, size, scale, column_offset)
    blur = _gaussian_weights(size, stroke_blur) if stroke_blur > 0 else None
    if pen is None:
        if blur is not None:  # blur the (size x 28) weights, not the (size x size) canvas
            rows, columns = blur @ rows, blur @ columns
        canvas = rows @ image @ columns.T
    else:
        canvas = (rows @ image @ columns.T > pen).astype(np.float64)
        if blur is not None:
            canvas = blur @ canvas @ blur.T
    return np.clip(canvas, 0.0, 1.0)
