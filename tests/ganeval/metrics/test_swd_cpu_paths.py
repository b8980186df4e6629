"""The CPU fast paths of SWD against the device-generic ones and against scipy.ndimage: the
(H, N, C, W) pyramid of banded GEMMs, the flat numpy patch gather, the column-first float64
statistics and the numpy projection."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.ndimage
import torch

from ganeval.metrics.pyramid import (band_matrices, laplacian_pyramid, laplacian_pyramid_rows, pyr_down, pyr_up,
                                     pyramid_resolutions)
from ganeval.metrics.swd import SWDDescriptors, _gather_rows, _project

swd_mod = importlib.import_module("ganeval.metrics.swd")  # the module; ganeval.metrics.swd is also a function

TAPS = np.array([1, 4, 6, 4, 1], np.float64) / 16


@pytest.mark.parametrize("n", [16, 17, 32, 33, 50, 128])
def test_band_matrices_are_scipy_mirror_filtering(n):
    x = np.random.default_rng(n).random(n) * 255
    down, up = band_matrices(n)
    np.testing.assert_allclose(down @ x, scipy.ndimage.correlate1d(x, TAPS, mode="mirror")[::2], rtol=1e-6)
    c = np.random.default_rng(n + 1).random((n + 1) // 2) * 255
    z = np.zeros(n)
    z[::2] = c
    np.testing.assert_allclose(up @ c, scipy.ndimage.correlate1d(z, 2 * TAPS, mode="mirror"), rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 3, 128, 128), (2, 3, 37, 50), (2, 3, 64, 33), (1, 3, 16, 16)])
def test_rows_pyramid_equals_the_nchw_pyramid(shape):
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    num = len(pyramid_resolutions(*shape[2:]))
    for a, b in zip(laplacian_pyramid(x, num), laplacian_pyramid_rows(x, num), strict=True):
        assert b.flags.c_contiguous and b.dtype == np.float32
        np.testing.assert_allclose(b.transpose(1, 2, 0, 3), a.numpy(), rtol=0, atol=2e-4)


def test_rows_pyramid_equals_scipy_convolve_of_the_reference(crops):
    """The reference's own primitive: 2-D 5x5 convolve, mirror, on even sizes."""
    x = crops[0][:2].astype(np.float32)
    kernel = np.outer(TAPS, TAPS).astype(np.float32)[None, None]
    g, expected = x, []
    for _ in range(2):
        d = scipy.ndimage.convolve(g, kernel, mode="mirror")[:, :, ::2, ::2]
        z = np.zeros_like(g)
        z[:, :, ::2, ::2] = d
        expected.append(g - scipy.ndimage.convolve(z, kernel * 4, mode="mirror"))
        g = d
    expected.append(g)
    for e, b in zip(expected, laplacian_pyramid_rows(torch.from_numpy(crops[0][:2]), 3), strict=True):
        np.testing.assert_allclose(b.transpose(1, 2, 0, 3), e, rtol=0, atol=2e-4)


def test_flat_gather_takes_the_same_patches_as_the_unfold_view():
    rng = np.random.default_rng(1)
    level = torch.from_numpy(rng.random((4, 3, 20, 27)).astype(np.float32))
    y0 = torch.from_numpy(rng.integers(0, 20 - 6, (4, 5)))
    x0 = torch.from_numpy(rng.integers(0, 27 - 6, (4, 5)))
    windows = level.unfold(2, 7, 1).unfold(3, 7, 1)
    expected = windows[torch.arange(4).view(4, 1), :, y0, x0].reshape(20, 147)
    got = _gather_rows(np.ascontiguousarray(level.numpy().transpose(2, 0, 1, 3)), y0.numpy(), x0.numpy())
    assert torch.equal(got, expected)


def _stores(images: torch.Tensor, rows: bool) -> SWDDescriptors:
    store = SWDDescriptors(3, 0, torch.float32)
    store.reserve(images.shape[0])
    num = len(pyramid_resolutions(*images.shape[2:]))
    for s in range(0, images.shape[0], 8):
        part = images[s:s + 8]
        levels = laplacian_pyramid_rows(part, num) if rows else laplacian_pyramid(part, num)
        store._add(levels, s, part.shape[0], *images.shape[2:])
    return store


def test_rows_path_gives_the_descriptors_and_statistics_of_the_nchw_path(crops):
    images = torch.from_numpy(crops[0][:12])
    a, b = _stores(images, rows=False), _stores(images, rows=True)
    for li in range(len(a.levels)):
        torch.testing.assert_close(b.descriptors(li), a.descriptors(li), rtol=0, atol=2e-4)
        # the pyramids differ by float32 rounding (<= 3e-5 on values up to 255)
        for pa, pb in zip(a.norm_params(li), b.norm_params(li)):
            torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-5)
        assert torch.equal(a.sums[li][0], b.sums[li][0])


def test_numpy_projection_equals_a_float64_projection_of_the_normalized_descriptors(crops):
    store = _stores(torch.from_numpy(crops[0][:8]), rows=True)
    dirs = torch.nn.functional.normalize(torch.randn(147, 24, generator=torch.Generator().manual_seed(0)), dim=0)
    proj, offset = _project(store, 1, dirs)
    mean, std = store.norm_params(1)
    d = store.descriptors(1).double().view(-1, 3, 49)
    expected = (((d - mean.view(1, 3, 1)) / std.view(1, 3, 1)).view(-1, 147) @ dirs.double()).T
    np.testing.assert_allclose((proj - offset[:, None]).double().numpy(), expected.numpy(), rtol=0, atol=1e-4)


def test_cpu_swd_equals_the_nchw_pipeline_to_float_rounding(crops, monkeypatch):
    """The whole CPU path against the device-generic one (slice-sum pyramid, unfold gather)
    on the same images and seed."""
    real, fake = torch.from_numpy(crops[0][:32]), torch.from_numpy(crops[1][:32])
    fast = swd_mod.swd(real, fake, num_images=None).values
    monkeypatch.setattr(swd_mod, "laplacian_pyramid_rows", lambda x, n: laplacian_pyramid(x, n))
    slow = swd_mod.swd(real, fake, num_images=None).values
    assert fast == pytest.approx(slow, rel=1e-5)
