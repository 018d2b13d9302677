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

This module repeats those steps on a canvas drawing.  Pillow resamples (it is the
standard, tested way to resize and blur an image); NumPy reads the canvas, finds the
ink's box and its centre of mass, and moves the result by whole pixels:

1. **Ink** (:func:`canvas_to_grey`).  The canvas hands back RGBA pixels; we want one
   number per pixel, 0 = paper, 1 = full ink -- the MNIST convention (white digit,
   black background, whatever the page looks like).
2. **Crop** to the ink's bounding box: where on the canvas the digit was drawn, and
   how big, must not matter.
3. **Size-normalise**: scale so the longer side of the box is 20 pixels, the same
   factor on both axes (a "1" stays tall and thin).  The shorter side is centred
   in the 20 x 20 box.  Shrinking a 200-pixel drawing to 20 pixels must *average*
   each 10 x 10 block, not pick one pixel from it: picking would break thin strokes
   into dots (aliasing).  Pillow's box filter (``Image.resize(..., Image.BOX)``,
   :func:`resize_area`) does that: every output pixel is the mean of the input
   pixels it covers.  This is the "anti-aliasing" that gives MNIST its grey edges.
4. **Centre by centre of mass**: place the 20 x 20 box in a blank 28 x 28 image so
   that the ink's centre of mass (the intensity-weighted mean pixel position) lands
   on the centre of the field.

Steps 3 and 4 are one resize: Pillow resamples the part of the canvas that the
28 x 28 field covers (``resize``'s ``box``), with the digit's box in the middle of
the field; the result is then moved by whole pixels to bring its centre of mass to
the centre (see :func:`preprocess_drawing`).

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

Three details the MNIST recipe leaves open, because NIST's images were bilevel
(each pixel ink or paper) while a canvas drawing has grey edges and perhaps a grey
or coloured pen:

* *Ink is ink.*  The drawing is first divided by its brightest pixel, so its
  strokes peak at 1.0 like MNIST's: every one of the 10,000 test digits peaks at
  254 or 255.  A dim pen then gives the same digit as a bright one.
* *Where is the edge?*  The bounding box is that of the pixels more than half as
  bright as the peak (:data:`EDGE_LEVEL`): where a stroke's anti-aliased edge is
  half on, half off is where the bilevel outline runs.  Boxing every faint pixel
  would make the box too big, and the digit too small after shrinking.
* *The fringe.*  The fainter pixels just outside the box (up to :data:`FRINGE` = 1
  output pixel away) are resampled too rather than cut off, so they land, faintly,
  just outside the 20 x 20 box.  Cutting them would shift the centre of mass by up
  to a few tenths of a pixel, enough to move the whole digit by a pixel after
  rounding.  Ink further away (stray specks) is ignored.

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
    resize_area(image, out_h, out_w)   area averaging (Pillow's box filter)
    render_digit(image784, size, ...)  the reverse trip, for tests: MNIST -> a big "drawing"
    centre_of_mass(image)              (row, column) of the intensity-weighted mean

How well it works is measured by ``tests/datasets/test_preprocess.py`` and
``python -m bench.preprocess``: real MNIST test digits are drawn as 280 x 280
canvases (:func:`render_digit`, at random sizes and places), run through
:func:`preprocess_drawing`, and a network trained on MNIST reads both versions; the
README gives the share of digits it reads the same way.  Most disagreements are
digits whose centre of mass sat near the half-pixel rounding boundary: centring to
the right pixel matters more than anything else.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

MNIST_SIDE = 28  # the field
BOX_SIDE = 20  # the longer side of the size-normalised digit
CENTRE = 14.0  # where MNIST's centre of mass sits, in 0-based pixel-centre coordinates
# EMNIST's characters fill the field: the longer side of the box is 28 less a thin border.
EMNIST_BOX_SIDE = 26
STYLES = ("mnist", "emnist")
# A canvas whose brightest pixel is fainter than this is empty (no digit).
INK_THRESHOLD = 0.1
# The outline of a stroke, as a fraction of its peak: the bounding box is that of
# the pixels brighter than this (see "Where is the edge?" above).
EDGE_LEVEL = 0.5
# How much of the drawing around its bounding box is resampled too, in output
# pixels: the faint fringe of anti-aliased strokes (see "The fringe" above).
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
    if pixels.dtype != np.uint8:  # uint8 (what a canvas gives) is finite and in 0-1 by now
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
# Resampling, by Pillow
# ---------------------------------------------------------------------------


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


def _resize(array: np.ndarray, out_h: int, out_w: int, resample: Image.Resampling,
            box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Pillow's ``Image.resize`` on a 2-D float array (as a 32-bit float image, mode "F").

    ``box`` = ``(left, top, right, bottom)`` is the part of ``array`` to resample, in pixel
    *edge* coordinates (fractions allowed; it must lie inside the array); by default all
    of it.  Returns ``(out_h, out_w)`` float64.
    """
    picture = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32))
    return np.asarray(picture.resize((out_w, out_h), resample, box=box), dtype=np.float64)


def _paste(target: np.ndarray, array: np.ndarray, row: int, column: int) -> np.ndarray:
    """Copy ``array`` into ``target`` with its top-left pixel at ``(row, column)``
    (may be negative); whatever falls outside ``target`` is cut off.  Returns ``target``."""
    top, left = max(row, 0), max(column, 0)
    bottom = min(row + array.shape[0], target.shape[0])
    right = min(column + array.shape[1], target.shape[1])
    if top < bottom and left < right:
        target[top:bottom, left:right] = array[top - row:bottom - row, left - column:right - column]
    return target


def resize_area(image, out_h: int, out_w: int) -> np.ndarray:
    """Resize a 2-D image to ``(out_h, out_w)`` by area averaging: Pillow's box filter.

    Every output pixel is the mean of the input pixels whose centres fall inside it
    (``Image.resize(..., Image.Resampling.BOX)``), so shrinking by a whole factor ``k``
    gives the mean of each ``k x k`` block, a thin line turns into a faint grey one
    instead of vanishing, and an even grey stays the same grey.  The image is
    stretched to fill the output (no aspect ratio kept here; choose the sizes for that).

    Args:
        image: ``(H, W)`` numbers (uint8 is read as 0-255 -> 0.0-1.0).
        out_h, out_w: the output size, each >= 1.

    Returns:
        ``(out_h, out_w)`` float64, computed in 32-bit floats.
    """
    source = _as_image(image)
    out_h, out_w = int(out_h), int(out_w)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be at least 1 x 1, got {out_h} x {out_w}")
    return _resize(source, out_h, out_w, Image.Resampling.BOX)


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
            shrinking; averaging while shrinking gives the drawing's edges their grey
            already, so that step is left out.)

    Returns:
        ``(28, 28)`` float32 in [0, 1], white digit on black, or None when no pixel
        exceeds ``ink_threshold`` (an empty canvas).

    The three details the MNIST recipe leaves open (ink is ink, where the edge is,
    the fringe) are described in the module's docstring.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    image = np.clip(_as_image(grey, "grey"), 0.0, 1.0)
    peak = image.max()
    if not peak > ink_threshold:
        return None
    image /= peak  # ink is ink: a faint pen gives the same digit as a full one
    top, bottom, left, right = ink_bounding_box(image)
    box_side = BOX_SIDE if style == "mnist" else EMNIST_BOX_SIDE
    scale = box_side / max(bottom - top, right - left)  # one scale for both axes: the aspect ratio is kept
    pad = int(np.ceil(FRINGE / scale))  # the fringe, in canvas pixels; ink further out is cut off
    window_top, window_left = max(top - pad, 0), max(left - pad, 0)
    window = image[window_top:bottom + pad, window_left:right + pad]
    box_centre = ((top + bottom) / 2, (left + right) / 2)

    def field(dy: float = 0.0, dx: float = 0.0) -> np.ndarray:
        """The window in the 28 x 28 field, its box centred there and then moved by (dy, dx)."""
        return _field_from_window(window, (window_top, window_left), box_centre, scale, (dy, dx))

    out = field()
    if style == "mnist":
        out = _centred_by_mass(out, field if subpixel else None)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _field_from_window(window: np.ndarray, origin: tuple[int, int], box_centre: tuple[float, float],
                       scale: float, move: tuple[float, float]) -> np.ndarray:
    """Resample a piece of the drawing into the 28 x 28 field with Pillow's box filter.

    ``window`` is the piece (its pixel [0, 0] is canvas pixel ``origin``); the rest of
    the canvas counts as paper.  The canvas is shrunk (or enlarged) by ``scale``, and
    canvas point ``box_centre`` (pixel-edge coordinates) lands on the middle of the field
    (edge coordinate 14, between pixels 13 and 14) moved by ``move = (dy, dx)`` field
    pixels.  Returns ``(28, 28)`` float64.

    Pillow wants the resampled area inside the image, so the window is first pasted
    into a blank square just big enough to hold the area the field covers.
    """
    span = MNIST_SIDE / scale  # canvas pixels the field covers, along each axis
    starts = [centre - (MNIST_SIDE / 2 + step) / scale for centre, step in zip(box_centre, move)]
    corner = [int(np.floor(start)) - 1 for start in starts]  # the blank square's top-left, on the canvas
    side = int(np.ceil(span)) + 3
    source = _paste(np.zeros((side, side), np.float32), window, origin[0] - corner[0], origin[1] - corner[1])
    top, left = starts[0] - corner[0], starts[1] - corner[1]
    return _resize(source, MNIST_SIDE, MNIST_SIDE, Image.Resampling.BOX, box=(left, top, left + span, top + span))


def _centred_by_mass(field: np.ndarray, resample=None) -> np.ndarray:
    """``field`` (28 x 28) moved so that its centre of mass lands on (14, 14).

    MNIST's way (``resample=None``): move by the whole number of pixels nearest to
    the offset (halves round up), which leaves the centre of mass within half a pixel.
    The pixels are moved as they are; ink moved off the field is lost, as it would be
    when resampling again.  With ``resample(dy, dx)`` (the field resampled with the box
    moved by a fraction of a pixel) the offset is exact instead: averaging over a
    shifted grid moves the discrete centre of mass by a few hundredths of a pixel, and
    a second round corrects most of that.
    """
    row, column = centre_of_mass(field)
    if resample is None:
        dy, dx = int(np.floor(CENTRE - row + 0.5)), int(np.floor(CENTRE - column + 0.5))
        return _paste(np.zeros_like(field), field, dy, dx)
    dy, dx = CENTRE - row, CENTRE - column
    for _ in range(2):
        field = resample(dy, dx)
        row, column = centre_of_mass(field)
        dy, dx = dy + CENTRE - row, dx + CENTRE - column
    return field


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

    The 28 x 28 image is enlarged by bilinear interpolation (Pillow) so that it spans
    ``size * digit_scale`` pixels, placed in the middle of the canvas moved by
    ``shift = (down, right)`` canvas pixels, then softened by a Gaussian blur of
    ``stroke_blur`` canvas pixels (Pillow's ``GaussianBlur``, its standard deviation; 0 =
    none), like a browser's anti-aliased pen.  ``pen`` (e.g. 0.5) first makes the strokes
    solid: every pixel above it becomes full ink, the rest paper, which is closer to a
    mouse drawing than MNIST's grey levels.  Ink pushed off the canvas is lost; keep
    ``digit_scale`` and ``shift`` modest.  The blur works in 8 bits, so the canvas comes
    in steps of 1/255, as a real canvas's pixels do.

    Args:
        image784: ``(784,)`` or ``(28, 28)`` uint8 (0-255) or float (0-1).

    Returns:
        ``(size, size)`` float64 ink in [0, 1], ready for :func:`preprocess_drawing`.
    """
    image = _as_image(np.asarray(image784).reshape(MNIST_SIDE, MNIST_SIDE), "image784")
    if size < 1 or digit_scale <= 0:
        raise ValueError("size and digit_scale must be positive")
    scale = size * digit_scale / MNIST_SIDE
    span = size / scale  # digit pixels the canvas covers
    # Where the canvas's top-left corner falls on the digit, in its pixel-edge coordinates.
    starts = [-((size - MNIST_SIDE * scale) / 2 + step) / scale for step in shift]
    # Pillow wants the resampled area inside the image: put the digit on enough paper.
    margin = int(np.ceil(max(0.0, -min(starts), max(starts) + span - MNIST_SIDE))) + 2
    source = np.zeros((MNIST_SIDE + 2 * margin,) * 2)
    source[margin:margin + MNIST_SIDE, margin:margin + MNIST_SIDE] = image
    top, left = starts[0] + margin, starts[1] + margin
    canvas = _resize(source, size, size, Image.Resampling.BILINEAR, box=(left, top, left + span, top + span))
    if pen is not None:
        canvas = (canvas > pen).astype(np.float64)
    if stroke_blur > 0:
        grey = Image.fromarray(np.rint(np.clip(canvas, 0.0, 1.0) * 255).astype(np.uint8))
        canvas = np.asarray(grey.filter(ImageFilter.GaussianBlur(stroke_blur)), dtype=np.float64) / 255.0
    return np.clip(canvas, 0.0, 1.0)
