import numpy as np
import pytest
import scipy.ndimage
import torch

from ganeval import DataError, swd
from ganeval.metrics.swd import wasserstein_1d_sorted

SEEDS = range(5)


@pytest.fixture(scope="module")
def runs(crops):
    a, b = crops
    return np.array([list(swd(a, b, seed=s, device="cpu").values.values()) for s in SEEDS])


def test_parity_with_reference_within_seed_spread(runs, reference):
    # Two-sample comparison of means: ours over 5 seeds, the reference's over its 5 seeds.
    mean, ref_mean, ref_std = runs.mean(0), np.array(reference["swd_mean"]), np.array(reference["swd_std"])
    se = ref_std * np.sqrt(1 / len(SEEDS) + 1 / len(reference["swd_runs"]))
    assert np.all(np.abs(mean - ref_mean) < 4 * se), (mean, ref_mean, se)


def test_names_and_average(crops):
    r = swd(crops[0][:32], crops[1][:32], seed=0)
    assert list(r.values) == ["SWDx1e3_64", "SWDx1e3_32", "SWDx1e3_16", "SWDx1e3_avg"]
    assert r.value == pytest.approx(np.mean([r["SWDx1e3_64"], r["SWDx1e3_32"], r["SWDx1e3_16"]]))
    assert r.num_images == {"real": 32, "fake": 32}


def test_deterministic_under_seed(crops):
    a, b = crops[0][:48], crops[1][:48]
    assert swd(a, b, seed=3).values == swd(a, b, seed=3).values
    assert swd(a, b, seed=3).values != swd(a, b, seed=4).values


def test_batch_size_independent(crops):
    a, b = crops[0][:64], crops[1][:64]
    r1 = swd(a, b, seed=1, batch_size=7).values
    r2 = swd(a, b, seed=1, batch_size=64).values
    for k in r1:
        assert r1[k] == pytest.approx(r2[k], rel=1e-5)


def test_float16_storage_is_far_inside_the_seed_spread(crops, reference):
    a, b = crops
    half = swd(a, b, seed=0).values
    full = swd(a, b, seed=0, descriptor_dtype=torch.float32).values
    for k, std in zip(half, reference["swd_std"]):
        assert abs(half[k] - full[k]) < 0.02 * std


def _blur(x, sigma):
    return np.clip(np.round(scipy.ndimage.gaussian_filter(x.astype(np.float64), (0, 0, sigma, sigma))), 0, 255).astype(np.uint8)


def _noise(x, sigma, seed=0):
    n = np.random.default_rng(seed).normal(0, sigma, x.shape)
    return np.clip(np.round(x + n), 0, 255).astype(np.uint8)


def test_disjoint_halves_far_closer_than_degraded_copy():
    from ganeval.io.samples import photo_crops
    a, b = photo_crops(1024, 32, seed=1), photo_crops(1024, 32, seed=2)
    same = swd(a, b, seed=0).value
    assert same * 3 < swd(a, _blur(b, 1.0), seed=0).value
    assert same * 3 < swd(a, _noise(b, 8), seed=0).value


@pytest.mark.parametrize("degrade,steps", [(_blur, [0.5, 1.0, 1.5, 2.0, 3.0]), (_noise, [2, 4, 8, 16, 32])])
def test_grows_monotonically_with_degradation(crops, degrade, steps):
    a = crops[0]
    vals = [swd(a[:128], degrade(a[128:], s), seed=0).value for s in steps]
    assert all(x < y for x, y in zip(vals, vals[1:])), vals


def test_w1_unequal_sizes_closed_form():
    a = torch.tensor([[0.0, 1.0]])
    b = torch.tensor([[0.0, 0.5, 1.0]])
    # Quantile functions differ by 0.5 on (1/3, 2/3]: integral 1/6.
    assert float(wasserstein_1d_sorted(a, b)[0]) == pytest.approx(1 / 6)
    x = torch.sort(torch.randn(2, 50), dim=1).values
    assert torch.allclose(wasserstein_1d_sorted(x, x.repeat_interleave(2, dim=1)), torch.zeros(2), atol=1e-6)
    y = torch.sort(torch.randn(2, 50), dim=1).values
    assert torch.allclose(wasserstein_1d_sorted(x, y), (x - y).abs().mean(1))


def test_unequal_set_sizes_work(crops):
    a, b = crops
    r = swd(a[:200], b, seed=0)
    assert r.num_images == {"real": 200, "fake": 256}
    assert np.isfinite(r.value)


def test_too_small_images_are_a_data_error():
    x = np.zeros((4, 3, 8, 8), np.uint8)
    with pytest.raises(DataError, match="at least 16x16"):
        swd(x, x)


def test_different_resolutions_are_a_data_error(crops):
    small = crops[0][:8, :, :32, :32]
    with pytest.raises(DataError, match="one resolution"):
        swd(crops[0][:8], small)


def test_constant_images_are_a_data_error():
    x = np.full((4, 3, 16, 16), 7, np.uint8)
    with pytest.raises(DataError, match="zero variance"):
        swd(x, x)
