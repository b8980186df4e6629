"""The pyramid against scipy.ndimage (the reference's own primitive) and its identities."""
import numpy as np
import scipy.ndimage
import torch

from ganeval.metrics.pyramid import laplacian_pyramid, pyr_down, pyr_up, pyramid_resolutions

KERNEL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0


def _scipy_down(x):
    return scipy.ndimage.convolve(x, KERNEL[None, None], mode="mirror")[:, :, ::2, ::2]


def _scipy_up(x):
    n, c, h, w = x.shape
    z = np.zeros((n, c, 2 * h, 2 * w), x.dtype)
    z[:, :, ::2, ::2] = x
    return scipy.ndimage.convolve(z, KERNEL[None, None] * 4.0, mode="mirror")


def test_pyr_down_and_up_match_scipy_mirror(crops):
    x = crops[0][:4].astype(np.float32)
    down = pyr_down(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(down, _scipy_down(x), atol=2e-4)
    up = pyr_up(torch.from_numpy(down), x.shape[2:]).numpy()
    np.testing.assert_allclose(up, _scipy_up(down), atol=2e-4)


def test_laplacian_levels_reconstruct_the_image(crops):
    x = torch.from_numpy(crops[0][:3]).float()
    levels = laplacian_pyramid(x, 3)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    rec = levels[-1]
    for band in reversed(levels[:-1]):
        rec = band + pyr_up(rec, band.shape[2:])
    torch.testing.assert_close(rec, x, atol=1e-3, rtol=0)


def test_resolutions_run_down_to_16():
    assert pyramid_resolutions(128, 128) == [128, 64, 32, 16]
    assert pyramid_resolutions(64, 64) == [64, 32, 16]
    assert pyramid_resolutions(15, 15) == []


def test_pyr_up_to_odd_sizes_matches_zero_insertion_and_mirror_blur():
    # The reference only handles even sizes; for odd ones the definition is the same
    # zero insertion and mirror-boundary blur, cropped to the target size.
    x = np.random.default_rng(0).random((2, 3, 9, 12)).astype(np.float32) * 255
    for size in [(17, 23), (18, 24)]:
        z = np.zeros((2, 3) + size, np.float32)
        z[:, :, ::2, ::2] = x[:, :, : (size[0] + 1) // 2, : (size[1] + 1) // 2]
        ref = scipy.ndimage.convolve(z, KERNEL[None, None] * 4.0, mode="mirror")
        np.testing.assert_allclose(pyr_up(torch.from_numpy(x), size).numpy(), ref, atol=2e-4)
