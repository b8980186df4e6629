"""FID in the rows' space (`LowRank` factors): exact to float64 rounding against a 40-digit
evaluation of the definition, equal to the dense path and scipy's sqrtm where those are exact,
and what the bootstrap uses for resamples of fewer distinct images than dimensions."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch

from ganeval.features.stats import FeatureStats, ResampledStats
from ganeval.metrics.fid import LowRank, frechet_distance, frechet_distance_of_stats, trace_sqrt_product

D = 24


def _rows(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal((n, D)) * scale + 0.3, 0)  # ReLU-like, as pool3 features


def _factor(x: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """mu and A with A^T A the (weighted) unbiased covariance, computed directly."""
    w = np.ones(len(x)) if w is None else w
    n = w.sum()
    mu = w @ x / n
    return mu, (x - mu) * np.sqrt(w / (n - 1))[:, None]


def _truth(a1: np.ndarray, a2: np.ndarray) -> float:
    """tr(sqrt(S1 S2)) for S = A^T A at 40 digits: sqrt of the eigenvalues of S1^(1/2) S2 S1^(1/2)
    via (A1 A2^T)(A1 A2^T)^T, whose nonzero eigenvalues are those of S1 S2."""
    mpmath.mp.dps = 40
    m = mpmath.matrix(a1.tolist()) * mpmath.matrix(a2.tolist()).T
    ev = mpmath.eigsy(m * m.T, eigvals_only=True)
    return float(sum(mpmath.sqrt(max(e, 0)) for e in ev))


@pytest.mark.parametrize("n1,n2", [(10, 15), (D, D), (D + 1, 2 * D), (30, 40), (9, 70)])
def test_low_rank_trace_term_is_exact_to_float64_rounding(n1, n2):
    _, a1 = _factor(_rows(n1, 1))
    _, a2 = _factor(_rows(n2, 2, 1.2))
    truth = _truth(a1, a2)
    assert trace_sqrt_product(LowRank(a1), LowRank(a2)) == pytest.approx(truth, rel=1e-13)
    s1, s2 = a1.T @ a1, a2.T @ a2
    if min(n1, n2) > D:  # both covariances nonsingular: every path is exact
        assert trace_sqrt_product(LowRank(a1), s2) == pytest.approx(truth, rel=1e-12)
        assert trace_sqrt_product(s1, LowRank(a2)) == pytest.approx(truth, rel=1e-12)
        assert trace_sqrt_product(s1, s2) == pytest.approx(truth, rel=1e-12)
        assert np.trace(scipy.linalg.sqrtm(s1 @ s2)).real == pytest.approx(truth, rel=1e-10)
    else:  # the dense paths take square roots of eigenvalues that are zero up to rounding
        assert trace_sqrt_product(s1, s2) == pytest.approx(truth, rel=1e-6)
        assert np.trace(scipy.linalg.sqrtm(s1 @ s2)).real == pytest.approx(truth, rel=1e-6)
        if n2 > D:  # one factor, dense S2 positive definite: svd(A1 L2), exact
            assert trace_sqrt_product(LowRank(a1), s2) == pytest.approx(truth, rel=1e-12)
        else:  # singular S2: eigenvalues of A1 S2 A1^T, as accurate as the dense path
            assert trace_sqrt_product(LowRank(a1), s2) == pytest.approx(truth, rel=1e-6)


def test_fid_of_a_scaled_copy_is_the_closed_form():
    """X2 = c X1 + t: S2 = c^2 S1, so FID = |mu2 - mu1|^2 + (1 - c)^2 tr(S1), with 10 images in 24-d."""
    x = _rows(10, 3)
    t = np.linspace(-1, 1, D)
    mu1, a1 = _factor(x)
    mu2, a2 = _factor(1.7 * x + t)
    d = 0.7 * x.mean(0) + t
    expected = d @ d + (1 - 1.7) ** 2 * np.einsum("ij,ij->", a1, a1)
    got = frechet_distance(mu1, LowRank(a1), mu2, LowRank(a2))
    assert got == pytest.approx(expected, rel=1e-13)
    assert frechet_distance(mu1, a1.T @ a1, mu2, a2.T @ a2) == pytest.approx(expected, rel=1e-6)


def _resample(x: np.ndarray, seed: int) -> tuple[ResampledStats, np.ndarray]:
    idx = np.random.default_rng(seed).integers(0, len(x), len(x))
    return ResampledStats(torch.from_numpy(x.astype(np.float32)), None, idx, D), idx


@pytest.mark.parametrize("n1,n2", [(12, 18), (D, D), (30, 200), (200, 300)])
def test_bootstrap_resample_fid_equals_the_fid_of_its_weighted_rows(n1, n2):
    """Resample weights: the factor of `ResampledStats` is that of its rows with multiplicities
    (independent float64 computation), and the result is exact against 40 digits whenever a
    side drew fewer distinct rows than dimensions; otherwise it is the dense path, unchanged."""
    x1, x2 = _rows(n1, 4).astype(np.float32).astype(np.float64), _rows(n2, 5, 0.8).astype(np.float32).astype(np.float64)
    r1, i1 = _resample(x1, 6)
    r2, i2 = _resample(x2, 7)
    (mu1, a1), (mu2, a2) = _factor(x1, np.bincount(i1, minlength=n1)), _factor(x2, np.bincount(i2, minlength=n2))
    got = frechet_distance_of_stats(r1, r2)
    drawn = min(len(np.unique(i1)), len(np.unique(i2)))
    if drawn < D:
        d = mu1 - mu2
        expected = d @ d + np.einsum("ij,ij->", a1, a1) + np.einsum("ij,ij->", a2, a2) - 2 * _truth(a1, a2)
        assert got == pytest.approx(expected, rel=1e-12)
        # and the dense path on the resample's own covariances agrees to its own accuracy
        assert got == pytest.approx(frechet_distance(r1.mu, r1.sigma, r2.mu, r2.sigma), rel=1e-6)
    else:
        assert got == frechet_distance(r1.mu, r1.sigma, r2.mu, r2.sigma)
    np.testing.assert_allclose(r1.factor()[1].T @ r1.factor()[1], r1.sigma, rtol=1e-12, atol=1e-14)


def test_a_resample_against_fixed_mu_sigma_statistics_uses_one_factor():
    """Real side fixed (a .npz of mu and sigma, nonsingular), fake resampled with few images."""
    real = FeatureStats(D)
    real.update(torch.from_numpy(_rows(300, 8).astype(np.float32)))
    x = _rows(15, 9).astype(np.float32).astype(np.float64)
    fake, idx = _resample(x, 10)
    mu, a = _factor(x, np.bincount(idx, minlength=len(x)))
    l_real = np.linalg.cholesky(real.sigma)
    d = real.mu - mu
    mpmath.mp.dps = 40
    m = mpmath.matrix(a.tolist()) * mpmath.matrix(l_real.tolist())
    truth = float(sum(mpmath.sqrt(max(e, 0)) for e in mpmath.eigsy(m * m.T, eigvals_only=True)))
    expected = d @ d + np.trace(real.sigma) + np.einsum("ij,ij->", a, a) - 2 * truth
    assert frechet_distance_of_stats(real, fake) == pytest.approx(expected, rel=1e-12)


def test_measured_values_keep_the_streamed_covariance_path():
    """Only resamples take the factored path: a measured FID is the same number as before, to the bit."""
    a, b = FeatureStats(D, keep_features=True), FeatureStats(D, keep_features=True)
    a.update(torch.from_numpy(_rows(10, 11).astype(np.float32)))
    b.update(torch.from_numpy(_rows(12, 12).astype(np.float32)))
    assert frechet_distance_of_stats(a, b) == frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


@pytest.mark.filterwarnings("ignore:.*rank-deficient")
def test_fid_bootstrap_of_fewer_images_than_dims_never_forms_the_covariance(monkeypatch):
    """The 1000 vs 1000 bootstrap used to build and decompose two dim x dim matrices per replicate."""
    from ganeval.inception.weights import WeightsInfo
    from ganeval.metrics.fid import FID
    from ganeval.metrics.uncertainty import bootstrap_stats

    real, fake = FeatureStats(D, keep_features=True), FeatureStats(D, keep_features=True)
    real.update(torch.from_numpy(_rows(20, 13).astype(np.float32)))
    fake.update(torch.from_numpy(_rows(20, 14, 1.1).astype(np.float32)))
    m = FID.__new__(FID)
    m.info, m.seed = WeightsInfo("t", "t", "0" * 64, True, "t"), 0
    value = m._result(real, fake)

    def dense(*_a, **_k):
        raise AssertionError("a resample formed its dim x dim covariance")

    monkeypatch.setattr(ResampledStats, "_weighted_moments", dense)
    unc = bootstrap_stats(value.values, real, fake, 5, 0, m._result)["FID"]
    assert len(unc["replicates"]) == 5 and np.isfinite(unc["replicates"]).all()

