"""The robustness transforms: each does exactly what its name says, on real digits."""

import numpy as np
import pytest

from datasets.transforms import add_noise, blur, rotate, scale, shift, thicken, thin

MIDDLE = 13.5  # the centre of rotation and scaling, in 0-based pixel-centre coordinates


@pytest.fixture(scope="module")
def digits(mnist_test_set):
    """200 real MNIST test digits, (200, 784) uint8."""
    return mnist_test_set.images[:200].copy()


def squares(batch):
    return batch.reshape(-1, 28, 28).astype(np.float64)


def centres_of_mass(batch):
    """(rows, columns): each image's centre of mass, pixel-centre coordinates."""
    images = squares(batch)
    grid = np.arange(28)
    mass = images.sum(axis=(1, 2))
    return images.sum(axis=2) @ grid / mass, images.sum(axis=1) @ grid / mass


def ink_ratio(after, before):
    """Each image's total ink after a transform, as a fraction of before."""
    return after.astype(np.float64).sum(axis=1) / before.astype(np.float64).sum(axis=1)


def with_paper_border(batch, width=3):
    """The images whose ink keeps ``width`` pixels away from every edge."""
    ink = squares(batch) > 0
    edges = ink[:, :width].any(axis=(1, 2)) | ink[:, -width:].any(axis=(1, 2)) \
        | ink[:, :, :width].any(axis=(1, 2)) | ink[:, :, -width:].any(axis=(1, 2))
    return batch[~edges]


def one_pixel(row=14, column=14):
    image = np.zeros((1, 784), np.uint8)
    image[0, 28 * row + column] = 255
    return image


ALL = [lambda batch: rotate(batch, 15), lambda batch: shift(batch, 1.5, -2), lambda batch: scale(batch, 0.8),
       lambda batch: blur(batch, 1.0), lambda batch: thicken(batch, 1), lambda batch: thin(batch, 1),
       lambda batch: add_noise(batch, 20, seed=0)]
NAMES = ["rotate", "shift", "scale", "blur", "thicken", "thin", "add_noise"]


@pytest.mark.parametrize("transform", ALL, ids=NAMES)
def test_every_transform_keeps_shape_and_dtype_and_leaves_its_input_alone(transform, digits):
    before = digits.copy()
    out = transform(digits)
    assert out.shape == digits.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(digits, before)
    assert not np.shares_memory(out, digits)
    assert transform(digits[:0]).shape == (0, 784)
    assert not np.array_equal(out, digits)  # and it did something


@pytest.mark.parametrize("identity", [
    lambda batch: rotate(batch, 0), lambda batch: rotate(batch, 360), lambda batch: shift(batch, 0, 0),
    lambda batch: scale(batch, 1), lambda batch: blur(batch, 0), lambda batch: thicken(batch, 0),
    lambda batch: thin(batch, 0), lambda batch: add_noise(batch, 0, seed=5),
], ids=["rotate 0", "rotate 360", "shift 0", "scale 1", "blur 0", "thicken 0", "thin 0", "noise 0"])
def test_zero_strength_is_the_identity(identity, digits):
    np.testing.assert_array_equal(identity(digits), digits)


# ---------------------------------------------------------------------------
# Shift
# ---------------------------------------------------------------------------


def test_shift_by_one_column_moves_every_pixel_one_column_right(digits):
    moved, original = squares(shift(digits, 1, 0)), squares(digits)
    np.testing.assert_array_equal(moved[:, :, 1:], original[:, :, :-1])
    assert np.all(moved[:, :, 0] == 0)  # paper comes in from the left


def test_shift_left_and_down_by_whole_pixels(digits):
    moved, original = squares(shift(digits, -3, 2)), squares(digits)
    np.testing.assert_array_equal(moved[:, 2:, :-3], original[:, :-2, 3:])
    assert np.all(moved[:, :2, :] == 0) and np.all(moved[:, :, -3:] == 0)
    assert np.all(shift(digits, 28, 0) == 0) and np.all(shift(digits, 0, -40) == 0)  # off the field


def test_half_a_pixel_right_is_the_mean_of_each_pixel_and_its_left_neighbour(digits):
    moved, original = squares(shift(digits, 0.5, 0)), squares(digits)
    left = np.concatenate([np.zeros((len(original), 28, 1)), original[:, :, :-1]], axis=2)
    assert np.abs(moved - (original + left) / 2).max() <= 0.5  # rounded to the nearest level


# ---------------------------------------------------------------------------
# Rotate
# ---------------------------------------------------------------------------


def test_rotate_90_turns_counter_clockwise_and_four_turns_are_the_identity(digits):
    turned = rotate(digits, 90)
    np.testing.assert_array_equal(squares(turned), np.rot90(squares(digits), axes=(1, 2)))  # as on screen
    np.testing.assert_array_equal(rotate(rotate(rotate(turned, 90), 90), 90), digits)
    np.testing.assert_array_equal(squares(rotate(digits, 180)), squares(digits)[:, ::-1, ::-1])


def test_rotate_turns_the_centre_of_mass_about_the_middle_and_keeps_the_ink(digits):
    angle = np.radians(15)
    rows, columns = centres_of_mass(digits)
    turned_rows, turned_columns = centres_of_mass(rotate(digits, 15))
    # Counter-clockwise on screen, rows pointing down.
    dx, dy = columns - MIDDLE, rows - MIDDLE
    np.testing.assert_allclose(turned_columns, MIDDLE + np.cos(angle) * dx + np.sin(angle) * dy, atol=0.1)
    np.testing.assert_allclose(turned_rows, MIDDLE - np.sin(angle) * dx + np.cos(angle) * dy, atol=0.1)
    ratio = ink_ratio(rotate(digits, 15), digits)
    assert ratio.min() > 0.98 and ratio.max() < 1.02


def test_rotating_back_nearly_restores_the_digit(digits):
    back = rotate(rotate(digits, 30), -30)
    assert np.abs(back.astype(int) - digits.astype(int)).mean() < 10  # of 255: bilinear twice softens edges


# ---------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.5, 0.8])
def test_shrinking_scales_positions_about_the_middle_and_ink_by_the_area(factor, digits):
    shrunk = scale(digits, factor)
    rows, columns = centres_of_mass(digits)
    new_rows, new_columns = centres_of_mass(shrunk)
    np.testing.assert_allclose(new_rows, MIDDLE + factor * (rows - MIDDLE), atol=0.15)
    np.testing.assert_allclose(new_columns, MIDDLE + factor * (columns - MIDDLE), atol=0.15)
    ratio = ink_ratio(shrunk, digits) / factor ** 2
    assert ratio.min() > 0.95 and ratio.max() < 1.05


def test_enlarging_a_digit_that_stays_in_the_field(digits):
    fits = with_paper_border(digits, 3)  # ink within pixels 3-24: 1.25 x keeps it within 0-27
    assert len(fits) > 50
    grown = scale(fits, 1.25)
    rows, columns = centres_of_mass(fits)
    new_rows, new_columns = centres_of_mass(grown)
    # Looser than shrinking: interpolating at 0.8-pixel steps gives each source pixel
    # a little more or less weight depending on where it falls between the steps.
    np.testing.assert_allclose(new_rows, MIDDLE + 1.25 * (rows - MIDDLE), atol=0.25)
    np.testing.assert_allclose(new_columns, MIDDLE + 1.25 * (columns - MIDDLE), atol=0.25)
    ratio = ink_ratio(grown, fits) / 1.25 ** 2
    assert ratio.min() > 0.95 and ratio.max() < 1.05


# ---------------------------------------------------------------------------
# Blur, thicken, thin
# ---------------------------------------------------------------------------


def test_blur_keeps_the_ink_and_spreads_it(digits):
    blurred = blur(digits, 1.0)
    ratio = ink_ratio(blurred, digits)
    assert ratio.min() > 0.97 and ratio.max() < 1.01  # rounding to levels loses a little
    assert np.all(np.count_nonzero(blurred, axis=1) > np.count_nonzero(digits, axis=1))
    assert blurred.max(axis=1).mean() < digits.max(axis=1).mean()
    inside = with_paper_border(digits, 3)  # no ink blurred off the field
    np.testing.assert_allclose(centres_of_mass(blur(inside, 1.0)), centres_of_mass(inside), atol=0.05)


@pytest.mark.parametrize("radius", [1.0, 2.0])
def test_blur_radius_is_the_gaussians_standard_deviation(radius):
    spot = squares(blur(one_pixel(), radius))[0]
    grid = np.arange(28)
    profile = spot.sum(axis=0) / spot.sum()
    assert profile @ grid == pytest.approx(14, abs=1e-9)
    spread = np.sqrt(profile @ (grid - 14.0) ** 2)
    assert spread == pytest.approx(radius, rel=0.1)  # Pillow: three box blurs, close to a Gaussian


def test_thicken_and_thin_grow_and_shrink_strokes(digits):
    thick, thinned = thicken(digits, 1), thin(digits, 1)
    assert np.all(thick >= digits) and np.all(thinned <= digits)
    assert ink_ratio(thick, digits).min() > 1.2
    assert ink_ratio(thinned, digits).max() < 0.8
    # One lit pixel grows into a 3 x 3 (then 5 x 5) square, and thinning takes it back.
    for pixels, side in [(1, 3), (2, 5)]:
        grown = squares(thicken(one_pixel(), pixels))[0]
        lit = np.argwhere(grown == 255)
        assert len(lit) == side * side == np.count_nonzero(grown)
        assert lit.min(axis=0).tolist() == [14 - pixels] * 2 and lit.max(axis=0).tolist() == [14 + pixels] * 2
        np.testing.assert_array_equal(thin(thicken(one_pixel(), pixels), pixels), one_pixel())
    assert np.all(thin(one_pixel(), 1) == 0)  # a stroke thinner than 3 pixels vanishes


def test_ink_at_the_border_meets_paper_beyond_it():
    corner = one_pixel(0, 0)
    assert np.count_nonzero(thicken(corner, 1)) == 4  # 2 x 2: the rest is off the field
    assert np.all(thin(np.full((1, 784), 200, np.uint8), 1).reshape(28, 28)[0] == 0)  # paper eats the edge


# ---------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------


def test_noise_with_a_seed_is_reproducible(digits):
    first, again = add_noise(digits, 30, seed=7), add_noise(digits, 30, seed=7)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, add_noise(digits, 30, seed=8))


def test_noise_has_the_asked_standard_deviation():
    grey = np.full((100, 784), 128, np.uint8)  # mid-grey: nothing clipped
    noise = add_noise(grey, 20, seed=3).astype(np.float64) - 128
    assert abs(noise.mean()) < 0.2
    assert noise.std() == pytest.approx(20, rel=0.02)
    assert add_noise(np.full((1, 784), 250, np.uint8), 50).max() == 255  # clipped to 0-255


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_bad_input_gets_a_clear_message(digits):
    with pytest.raises(ValueError, match=r"\(n, 784\) batch.*images\[None\]"):
        rotate(digits[0], 10)
    with pytest.raises(ValueError, match=r"\(n, 784\) batch"):
        blur(digits.reshape(-1, 28, 28), 1)
    with pytest.raises(ValueError, match="uint8"):
        shift(digits / 255, 1, 0)
    with pytest.raises(ValueError, match="factor must be more than 0"):
        scale(digits, 0)
    with pytest.raises(ValueError, match="radius must be at least 0"):
        blur(digits, -1)
    with pytest.raises(ValueError, match="degrees must be finite"):
        rotate(digits, float("nan"))
    with pytest.raises(ValueError, match="dx must be a number"):
        shift(digits, "left", 0)
    with pytest.raises(ValueError, match="whole number"):
        thicken(digits, 1.5)
    with pytest.raises(ValueError, match="std must be at least 0"):
        add_noise(digits, -3)
