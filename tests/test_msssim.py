import numpy as np
import pytest
from skimage.metrics import structural_similarity

from ganeval import DataError, ms_ssim, ms_ssim_pairs, ssim


@pytest.mark.parametrize("key", ["a", "b"])
def test_parity_with_reference(crops, reference, key):
    images = crops[0] if key == "a" else crops[1]
    assert abs(ms_ssim(images).value - reference[f"msssim_{key}"]) < 1e-5


def test_identical_pairs_give_one(crops):
    x = crops[0][:8]
    # Exactly 1 in exact arithmetic; the tolerance is float32 rounding (the reference is float32 too).
    np.testing.assert_allclose(ms_ssim_pairs(x, x).numpy(), 1.0, atol=1e-6)
    assert ms_ssim(np.repeat(x, 2, axis=0)).value == pytest.approx(1.0, abs=1e-6)


def test_single_scale_ssim_matches_scikit_image(crops):
    a, b = crops[0][:4], crops[1][:4]
    ours = ssim(a, b).numpy()
    for i in range(4):
        ref = structural_similarity(a[i], b[i], channel_axis=0, data_range=255, gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False)
        assert ours[i] == pytest.approx(ref, abs=1e-6)


def test_batch_size_and_odd_batches_do_not_change_pairing(crops):
    x = crops[0][:40]
    assert ms_ssim(x, batch_size=7).value == pytest.approx(ms_ssim(x, batch_size=40).value, abs=1e-12)


def test_num_pairs_takes_first_images(crops):
    x = crops[0]
    r = ms_ssim(x, num_pairs=10)
    assert r.num_images["pairs"] == 10
    assert r.value == pytest.approx(float(ms_ssim_pairs(x[0:20:2], x[1:20:2]).mean()), abs=1e-12)


def test_single_image_is_a_data_error(crops):
    with pytest.raises(DataError, match="at least 2 images"):
        ms_ssim(crops[0][:1])


def test_too_small_images_are_a_data_error():
    with pytest.raises(DataError, match="at least 16x16"):
        ms_ssim(np.zeros((2, 3, 8, 8), np.uint8))
