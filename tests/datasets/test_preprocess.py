"""The Draw page's preprocessing: drawings must come out looking like MNIST digits."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from datasets import load_bundled
from datasets.preprocess import (
    BOX_SIDE,
    CENTRE,
    canvas_to_grey,
    centre_of_mass,
    preprocess_canvas,
    preprocess_drawing,
    render_digit,
    resize_area,
    to_uint8_784,
)
from nn.training import TrainConfig, build_network, predict_proba, train

CANVAS = 280


# ---------------------------------------------------------------------------
# Drawing helpers: anti-aliased thick strokes, as a browser draws them
# ---------------------------------------------------------------------------


def stroke(points, width=20.0, size=CANVAS):
    """A thick polyline through ``points`` ((row, col) pairs) on a blank canvas.

    Each pixel's ink is 1 within ``width / 2`` of the line, fading to 0 over one
    pixel at the edge (anti-aliased, like a canvas pen).
    """
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    distance = np.full((size, size), np.inf)
    for (r0, c0), (r1, c1) in zip(points[:-1], points[1:]):
        dr, dc = r1 - r0, c1 - c0
        t = np.clip(((rows - r0) * dr + (cols - c0) * dc) / max(dr * dr + dc * dc, 1e-12), 0, 1)
        distance = np.minimum(distance, np.hypot(rows - r0 - t * dr, cols - c0 - t * dc))
    return np.clip(width / 2 - distance + 0.5, 0.0, 1.0)


def ellipse_ring(centre, radii, width=20.0, size=CANVAS):
    """A thick ellipse outline (a drawn "0"), ``radii`` = (vertical, horizontal)."""
    angles = np.linspace(0, 2 * np.pi, 200)
    points = np.stack([centre[0] + radii[0] * np.sin(angles),
                       centre[1] + radii[1] * np.cos(angles)], axis=1)
    return stroke(points, width, size)


def ink_box(image, level):
    """(height, width) of the box around pixels brighter than ``level``."""
    ink = np.asarray(image) > level
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


# A "7" drawn too big and far from the middle: its bounding box is 230 x 150
# canvas pixels, spanning rows 20-250 and columns 110-260.
SEVEN = [(30, 120), (30, 250), (140, 190), (240, 160)]


# ---------------------------------------------------------------------------
# 1. Centred by centre of mass, fitted to 20 x 20
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, drawing", [
    ("seven", stroke(SEVEN)),
    ("ring", ellipse_ring((180, 90), (90, 60))),
    ("small corner scribble", stroke([(10, 10), (40, 60), (15, 70)], width=6)),
])
def test_off_centre_oversized_drawing_is_centred_and_fits_20x20(name, drawing):
    before = centre_of_mass(drawing)
    assert max(abs(before[0] - CANVAS / 2), abs(before[1] - CANVAS / 2)) > 40  # really off-centre

    digit = preprocess_drawing(drawing)

    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0
    row, col = centre_of_mass(digit)
    # MNIST's convention (checked on the real test set below): within half a pixel
    # of (14, 14), 0-based pixel centres.
    assert 13.5 <= row <= 14.5 and 13.5 <= col <= 14.5, (row, col)
    # The stroke's outline (its half-ink level) spans 20 pixels on the longer side.
    height, width = ink_box(digit, 0.5)
    assert max(height, width) in (19, 20, 21), (height, width)
    # Everything fits in 20 x 20 plus the one-pixel anti-aliased fringe.
    assert max(ink_box(digit, 0.0)) <= BOX_SIDE + 2
    assert digit.max() > 0.9  # strokes reach full ink, like MNIST's (254-255)


def test_position_on_the_canvas_does_not_matter():
    here = preprocess_drawing(stroke(SEVEN))
    moved = [(r - 15, c - 100) for r, c in SEVEN]  # whole canvas pixels up and left
    there = preprocess_drawing(stroke(moved))
    np.testing.assert_allclose(here, there, atol=1e-6)


def test_size_on_the_canvas_barely_matters():
    big = preprocess_drawing(stroke(SEVEN, width=20))
    half = [(r / 2, c / 2) for r, c in SEVEN]
    small = preprocess_drawing(stroke(half, width=10, size=CANVAS // 2))
    assert np.abs(big - small).mean() < 0.02
    assert np.abs(big - small).max() < 0.25


def test_subpixel_centring_puts_the_centre_of_mass_on_14_14():
    digit = preprocess_drawing(stroke(SEVEN), subpixel=True)
    row, col = centre_of_mass(digit)
    assert abs(row - CENTRE) < 0.02 and abs(col - CENTRE) < 0.02, (row, col)
    assert max(ink_box(digit, 0.5)) in (19, 20, 21)


def test_centre_convention_matches_real_mnist(mnist_test_set):
    images = mnist_test_set.images.reshape(-1, 28, 28).astype(np.float64)
    grid = np.arange(28)
    mass = images.sum(axis=(1, 2))
    rows = images.sum(axis=2) @ grid / mass
    cols = images.sum(axis=1) @ grid / mass
    # MNIST puts the centre of mass at (14, 14), moved by whole pixels: every digit
    # lies within half a pixel of it, spread evenly (std 1/sqrt(12) = 0.289).
    assert abs(rows.mean() - CENTRE) < 0.02 and abs(cols.mean() - CENTRE) < 0.02
    assert np.all(np.abs(rows - CENTRE) <= 0.5 + 1e-9) and np.all(np.abs(cols - CENTRE) <= 0.5 + 1e-9)
    assert abs(rows.std() - 12 ** -0.5) < 0.01 and abs(cols.std() - 12 ** -0.5) < 0.01
    # ... and the 20 x 20 fit: the longer side of every digit's ink is 20 pixels.
    longer = [max(ink_box(image, 0)) for image in images[:500]]
    assert np.mean(np.array(longer) == 20) > 0.99


def test_a_real_mnist_digit_is_almost_a_fixed_point(mnist_test_set):
    images = mnist_test_set.images[:200]
    again = np.array([to_uint8_784(preprocess_drawing(image.reshape(28, 28) / 255)) for image in images])
    difference = np.abs(again.astype(int) - images.astype(int))
    assert difference.mean() < 4  # of 255; measured 2.5
    # Almost no digit moved by a pixel (a move shows as a large difference somewhere).
    assert np.mean(difference.max(axis=1) <= 128) > 0.95  # measured 98.5%


# ---------------------------------------------------------------------------
# 2. Aspect ratio
# ---------------------------------------------------------------------------


def test_tall_thin_stroke_stays_tall_and_thin():
    one = stroke([(40, 150), (240, 150)], width=16)  # 216 tall, 16 wide on the canvas
    digit = preprocess_drawing(one)
    height, width = ink_box(digit, 0.5)
    assert height in (19, 20, 21)
    assert width <= 3  # 16 * 20 / 216 = 1.5 px, not stretched to 20
    assert abs(digit.sum() - (216 * 16 * (20 / 216) ** 2)) < 0.1 * digit.sum()  # ink area scaled, not more


def test_wide_ellipse_keeps_its_proportions():
    ring = ellipse_ring((140, 140), (50, 110), width=14)  # 114 tall, 234 wide
    height, width = ink_box(preprocess_drawing(ring), 0.5)
    assert width in (19, 20, 21)
    assert abs(height - 20 * 114 / 234) <= 1.5, (height, width)


# ---------------------------------------------------------------------------
# 3. No ink
# ---------------------------------------------------------------------------


def test_no_ink_gives_none():
    assert preprocess_drawing(np.zeros((CANVAS, CANVAS))) is None
    assert preprocess_drawing(np.full((CANVAS, CANVAS), 0.05)) is None  # below the threshold
    assert preprocess_canvas(np.zeros((CANVAS, CANVAS, 4), np.uint8), "black") is None
    blank_white = np.full((CANVAS, CANVAS, 4), 255, np.uint8)
    assert preprocess_canvas(blank_white, "white") is None
    assert preprocess_drawing(stroke(SEVEN)) is not None


def test_faint_pen_counts_like_a_full_one():
    full = preprocess_drawing(stroke(SEVEN))
    faint = preprocess_drawing(0.3 * stroke(SEVEN))
    np.testing.assert_allclose(full, faint, atol=1e-5)


# ---------------------------------------------------------------------------
# 4. Canvas pixels to ink
# ---------------------------------------------------------------------------


def rgba(ink, stroke_rgb, background_rgb, background_alpha):
    """An RGBA canvas image: ``ink`` (0-1) of ``stroke_rgb`` over the background."""
    ink = ink[:, :, None]
    stroke_rgba = np.array([*stroke_rgb, 255], np.float64)
    paper = np.array([*background_rgb, background_alpha], np.float64)
    if background_alpha == 0:
        # Transparent paper: the browser keeps the stroke colour and puts the
        # coverage in alpha.
        pixels = np.concatenate([np.broadcast_to(stroke_rgba[:3], ink.shape[:2] + (3,)),
                                 255 * ink], axis=2)
    else:
        pixels = ink * stroke_rgba + (1 - ink) * paper
    return np.rint(pixels).astype(np.uint8)


@pytest.mark.parametrize("stroke_rgb, background_rgb, alpha, background", [
    ((255, 255, 255), (0, 0, 0), 255, "black"),  # white on black
    ((255, 255, 255), (0, 0, 0), 0, "black"),  # white on transparent
    ((0, 0, 0), (0, 0, 0), 0, "white"),  # black on transparent
    ((0, 0, 0), (255, 255, 255), 255, "white"),  # black on white
])
def test_canvas_to_grey_reads_both_conventions(stroke_rgb, background_rgb, alpha, background):
    ink = stroke(SEVEN)
    grey = canvas_to_grey(rgba(ink, stroke_rgb, background_rgb, alpha), background)
    assert grey.shape == ink.shape and grey.dtype == np.float64
    np.testing.assert_allclose(grey, ink, atol=1 / 255)
    assert grey[ink == 0].max() == 0.0  # paper is exactly no ink
    np.testing.assert_allclose(
        preprocess_canvas(rgba(ink, stroke_rgb, background_rgb, alpha), background),
        preprocess_drawing(ink), atol=0.01)


def test_canvas_to_grey_details():
    pixel = np.array([[[255, 255, 255, 128]]], np.uint8)  # half-transparent white
    assert canvas_to_grey(pixel, "black")[0, 0] == pytest.approx(128 / 255)
    assert canvas_to_grey(pixel, "white")[0, 0] == 0.0
    red = np.array([[[255, 0, 0, 255]]], np.uint8)
    assert canvas_to_grey(red, "black")[0, 0] == pytest.approx(0.299)
    as_float = np.array([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(canvas_to_grey(as_float, "black"), [[1.0, 0.0]])
    np.testing.assert_allclose(canvas_to_grey(as_float * 255, "black"), [[1.0, 0.0]])
    rgb = np.zeros((2, 2, 3), np.uint8)
    np.testing.assert_allclose(canvas_to_grey(rgb, "white"), 1.0)  # opaque black everywhere = all ink
    with pytest.raises(ValueError, match="background"):
        canvas_to_grey(pixel, "grey")
    with pytest.raises(ValueError, match="RGBA"):
        canvas_to_grey(np.zeros((4, 4, 2)), "black")


# ---------------------------------------------------------------------------
# Area resampling
# ---------------------------------------------------------------------------


def test_resize_area_shrinking_by_whole_factors_averages_blocks():
    image = np.random.default_rng(0).random((280, 140))
    blocks = image.reshape(28, 10, 14, 10).mean(axis=(1, 3))
    np.testing.assert_allclose(resize_area(image, 28, 14), blocks, atol=1e-12)


@pytest.mark.parametrize("n_in, n_out", [(7, 3), (29, 11), (280, 20), (5, 2)])
def test_resize_area_averages_the_pixels_each_output_pixel_covers(n_in, n_out):
    # Pillow's box filter, read off by resizing one lit pixel at a time: every input
    # pixel counts toward exactly one output pixel, the output pixels take runs of
    # neighbouring input pixels (as many as fit, n_in / n_out rounded either way),
    # and each output pixel is the plain mean of its run.
    weights = np.array([resize_area(np.eye(n_in)[i][None, :], 1, n_out)[0] for i in range(n_in)]).T
    assert np.all(np.count_nonzero(weights, axis=0) == 1)
    runs = [np.flatnonzero(row) for row in weights]
    assert np.array_equal(np.concatenate(runs), np.arange(n_in))
    assert {len(run) for run in runs} <= {n_in // n_out, -(-n_in // n_out)}
    for row, run in zip(weights, runs):
        np.testing.assert_allclose(row[run], 1 / len(run), rtol=1e-6)
    image = np.random.default_rng(1).random((9, n_in))
    np.testing.assert_allclose(resize_area(image, 9, n_out), image @ weights.T, rtol=1e-6)


def test_resize_area_anti_aliases_thin_lines():
    # A one-pixel line shrunk 10x: averaging gives a 0.1 grey line in every
    # column.  Picking pixels would give nothing or a full-ink line.
    image = np.zeros((280, 280))
    image[133, :] = 1.0
    small = resize_area(image, 28, 28)
    np.testing.assert_allclose(small[13], 0.1)
    assert np.count_nonzero(small) == 28
    np.testing.assert_allclose(resize_area(np.full((280, 190), 0.7), 20, 13), 0.7)


def test_resize_area_rejects_bad_sizes():
    with pytest.raises(ValueError):
        resize_area(np.ones((4, 4)), 0, 3)
    with pytest.raises(ValueError):
        resize_area(np.ones(4), 2, 2)


# ---------------------------------------------------------------------------
# Feeding the network, and the round trip
# ---------------------------------------------------------------------------


def test_to_uint8_784_matches_the_dataset_encoding():
    data = load_bundled()
    image = data.images[0]
    again = to_uint8_784(image.reshape(28, 28) / 255.0)
    assert again.shape == (784,) and again.dtype == np.uint8
    np.testing.assert_array_equal(again, image)
    assert to_uint8_784(np.full((28, 28), 1.7))[0] == 255
    with pytest.raises(ValueError, match="28, 28"):
        to_uint8_784(np.zeros((20, 20)))


def test_render_digit_draws_a_big_version():
    image = load_bundled().images[0]
    drawing = render_digit(image, 280, digit_scale=0.6, shift=(30, -50))
    assert drawing.shape == (280, 280) and drawing.min() >= 0 and drawing.max() <= 1
    row, col = centre_of_mass(drawing)
    original = centre_of_mass(image.reshape(28, 28))
    scale = 280 * 0.6 / 28
    # Pixel centre c (edge coordinate c + 0.5) lands at canvas edge coordinate
    # 140 + shift + (c + 0.5 - 14) * scale, i.e. canvas pixel index 0.5 less.
    assert row == pytest.approx(140 + 30 + (original[0] + 0.5 - 14) * scale - 0.5, abs=0.05)
    assert col == pytest.approx(140 - 50 + (original[1] + 0.5 - 14) * scale - 0.5, abs=0.05)


@pytest.fixture(scope="module")
def network():
    """784 -> 128 -> 10, Adam, 10 epochs on the bundled 5,000 digits: ~91% on the test set.

    One BLAS thread: these matrices are small, and on a busy 2-core machine
    threaded BLAS made this 11 s instead of 0.4 s.
    """
    data = load_bundled()
    config = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3, batch_size=128,
                         epochs=10, snapshot_every=0)
    net = build_network(config)
    with threadpool_limits(limits=1, user_api="blas"):
        assert train(net, data.images, data.labels, config).status == "completed"
    return net


def test_rendered_and_preprocessed_real_digits_keep_their_prediction(mnist_test_set, network):
    """Render 200 real test digits as 280 x 280 drawings, of random size and place,
    preprocess them back to 28 x 28: the network must read >= 95% the same."""
    images = mnist_test_set.images[:200]
    rng = np.random.default_rng(0)
    redrawn = np.empty_like(images)
    with threadpool_limits(limits=1, user_api="blas"):
        for k, image in enumerate(images):
            drawing = render_digit(image, CANVAS, digit_scale=rng.uniform(0.5, 0.9),
                                   shift=tuple(rng.uniform(-40, 40, size=2)))
            redrawn[k] = to_uint8_784(preprocess_drawing(drawing))
        before = predict_proba(network, images).argmax(axis=1)
        after = predict_proba(network, redrawn).argmax(axis=1)
    agreement = float(np.mean(before == after))
    print(f"round-trip agreement: {agreement:.1%} of {len(images)} real test digits")
    assert agreement >= 0.95, f"only {agreement:.1%} of predictions survived render -> preprocess"
    # The redrawn digits look like the originals, pixel for pixel.
    assert np.abs(redrawn.astype(int) - images.astype(int)).mean() < 12


def test_emnist_style_fills_the_field_centred_by_its_box():
    """EMNIST's recipe: the character's box, aspect kept, its longer side 26 of 28 pixels,
    centred by the box (not by the centre of mass as MNIST)."""
    from datasets.preprocess import EMNIST_BOX_SIDE

    drawing = np.zeros((CANVAS, CANVAS))
    drawing[30:250, 60:115] = 1.0  # a tall bar, 220 x 55: aspect 4
    drawing[30:60, 60:200] = 1.0  # with a flag to the right: the ink's mass sits left of its box
    digit = preprocess_drawing(drawing, style="emnist")
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    height, width = ink_box(digit, 0.5)
    assert height == EMNIST_BOX_SIDE == 26
    assert abs(width - 26 * 140 / 220) <= 1  # 16.5: the aspect ratio is kept
    rows, columns = np.nonzero(digit >= 0.5)
    assert (rows.min() + rows.max()) / 2 == 13.5  # the box, not the mass, is centred
    assert abs((columns.min() + columns.max()) / 2 - 13.5) <= 0.5
    assert centre_of_mass(digit)[1] < 12.5  # the mass stays left of the middle
    mnist = preprocess_drawing(drawing)
    assert ink_box(mnist, 0.5)[0] == 20 and abs(centre_of_mass(mnist)[1] - 14) <= 0.5


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown style 'kmnist'"):
        preprocess_drawing(stroke(SEVEN), style="kmnist")
