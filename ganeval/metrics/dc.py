"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models") on Inception pool3 features.

Around each real feature is a ball whose radius is the distance to its k-th nearest other
real feature (k = 5).  With N reals and M fakes,

    density  = 1/(k M) * sum_j sum_i 1[fake_j inside ball(real_i)]      (fidelity; may exceed 1)
    coverage = 1/N     * sum_i 1[some fake_j inside ball(real_i)]       (diversity; in [0, 1])

"inside" is strict (distance < radius), as in the authors' ``prdc`` package, whose values
these match.  Unlike improved precision/recall, nothing is computed around the fakes.

Memory: distances are computed one block of real rows at a time (never an N x N or N x M
matrix, only rows x max(N, M) with rows x max(N, M) x 8 bytes <= `_BLOCK_BYTES`), on the
features' device, from squared norms and one matrix product per block (torch.cdist would
copy the whole other set per block).  Both sets are held once in float64, filled from the
kept float32 features chunk by chunk: 50k x 50k peaks at 3.0 GB of RSS on the CPU, kept
features and torch included (benchmarks/bench_dc.py).

Precision: float64 throughout.  One boundary decision changes density by 1/(k M) (4e-6 at
M = 50k, k = 5), so a 1e-6 agreement with ``prdc`` (sklearn computes its distances in
float64, upcasting float32 inputs) needs every comparison right.  Float32 distances from
the matrix-product expansion put the radii ~3e-7 (relative) off on 2048-d features, enough
to flip a pair that close to a ball's boundary; float64 costs about 1.7x the float32 time on
the CPU and the 1.5 GiB of float64 copies at 50k.  (MPS has no float64: features there are
computed on the CPU.)

The registry holds two entries, ``density`` and ``coverage``, each with its own headline
value; both are one computation, remembered for the last pair of statistics objects, so
``evaluate(..., ["density", "coverage"])`` computes it once.  The real side's radii are
remembered per statistics object, so a training-loop `Evaluator` (fixed reals) computes them
once.  ``density_coverage`` (and ``ganeval dc``) reports both values in one ``dc`` result.
"""
from __future__ import annotations

import weakref
from typing import Any

import torch

from ..errors import DataError
from ..features.stats import FeatureStats
from ..features.extractor import WeightsInfo
from ..results import MetricResult
from ._inception import InceptionMetric, protocol_settings

__all__ = ["knn_radii2", "density_coverage_from_features", "density_coverage", "dc_from_stats",
           "density_from_stats", "coverage_from_stats", "DensityCoverage", "Density", "Coverage",
           "run_density", "run_coverage"]

_BLOCK = 1024                 # at most this many real rows per block
_BLOCK_BYTES = 256 * 2 ** 20  # and at most this many bytes of float64 distances per block

# Which values each result reports; the first is its headline.
_VALUES = {"dc": ("density", "coverage"), "density": ("density",), "coverage": ("coverage",)}


def _rows(width: int) -> int:
    """Rows per block so that one rows x `width` float64 block stays within the budget."""
    return max(1, min(_BLOCK, _BLOCK_BYTES // (8 * max(width, 1))))


def _compute_device(*xs: torch.Tensor) -> torch.device:
    """The features' device: a CUDA one when either set is there, the CPU otherwise (MPS
    cannot hold float64)."""
    for x in xs:
        if x.device.type == "cuda":
            return x.device
    return torch.device("cpu")


def _float64_rows(st: FeatureStats, device: torch.device) -> torch.Tensor:
    """A set's kept features as one float64 matrix on `device`, filled chunk by chunk, so no
    other whole-set copy (``all_features()``'s float32 one) is ever made.  The rows keep their
    stored order, which density and coverage do not depend on."""
    out = torch.empty(sum(f.shape[0] for f in st.features), st.features[0].shape[1], dtype=torch.float64,
                      device=device)
    s = 0
    for f in st.features:
        out[s:s + f.shape[0]].copy_(f)
        s += f.shape[0]
    return out


def _sqnorms(x: torch.Tensor) -> torch.Tensor:
    """Squared row norms, a block at a time (``x * x`` of the whole set would copy it)."""
    return torch.cat([(c * c).sum(1) for c in x.split(_BLOCK)]) if x.shape[0] else x.new_zeros(0)


def _sqdist(xb: torch.Tensor, xxb: torch.Tensor, y: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
    """Squared distances of the rows of `xb` to the rows of `y` (norms given), clamped at 0."""
    d2 = torch.addmm(yy[None, :], xb, y.T, beta=1, alpha=-2)
    return d2.add_(xxb[:, None]).clamp_(min=0)


def _radii2_block(x: torch.Tensor, xx: torch.Tensor, s: int, e: int, k: int) -> torch.Tensor:
    d2 = _sqdist(x[s:e], xx[s:e], x, xx)
    i = torch.arange(e - s, device=x.device)
    d2[i, s + i] = 0  # the point itself (the expansion leaves rounding noise there)
    return d2.topk(k + 1, dim=1, largest=False).values[:, -1]  # its k+1-th smallest: self is the 1st


def _check(n_real: int, n_fake: int, k: int) -> None:
    if k < 1:
        raise DataError(f"density/coverage needs k >= 1, got k={k}")
    if n_real <= k:
        raise DataError(f"density/coverage with k={k} needs more than {k} real images, got {n_real}")
    if n_fake < 1:
        raise DataError("density/coverage needs at least one fake image, got 0")


def knn_radii2(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Squared distance from each row of `x` (float64) to its k-th nearest other row, blockwise."""
    if x.shape[0] <= k:
        raise DataError(f"density/coverage with k={k} needs more than {k} real images, got {x.shape[0]}")
    xx, rows = _sqnorms(x), _rows(x.shape[0])
    return torch.cat([_radii2_block(x, xx, s, min(s + rows, x.shape[0]), k) for s in range(0, x.shape[0], rows)])


def density_coverage_from_features(real: torch.Tensor, fake: torch.Tensor, k: int = 5,
                                   real_radii2: torch.Tensor | None = None) -> tuple[float, float, torch.Tensor]:
    """(density, coverage, the reals' squared k-NN radii) of `fake` against `real` feature rows.

    One pass over blocks of real rows: each block's radii (unless `real_radii2` gives them),
    then its distances to every fake.  Memory beyond the two sets in float64 (no copy when
    they already are, on the compute device) is one block.
    """
    _check(real.shape[0], fake.shape[0], k)
    dev = _compute_device(real, fake)
    fr, ff = real.to(dev, torch.float64), fake.to(dev, torch.float64)
    n, m = fr.shape[0], ff.shape[0]
    rr, fn = _sqnorms(fr), _sqnorms(ff)
    rows = _rows(max(n, m))
    radii = real_radii2.to(dev, torch.float64) if real_radii2 is not None else None
    parts = []
    inside = torch.zeros((), dtype=torch.int64, device=dev)
    covered = torch.zeros((), dtype=torch.int64, device=dev)
    for s in range(0, n, rows):
        e = min(s + rows, n)
        r2 = radii[s:e] if radii is not None else _radii2_block(fr, rr, s, e, k)
        parts.append(r2)
        hit = _sqdist(fr[s:e], rr[s:e], ff, fn) < r2[:, None]  # real i (row) x fake j (column)
        inside += hit.sum()
        covered += hit.any(dim=1).sum()
        del hit
    density = int(inside) / (k * m)
    coverage = int(covered) / n
    return density, coverage, torch.cat(parts)


# Real radii per statistics object (fixed reals in a training loop are measured once), and the
# last (density, coverage) per pair of objects (the density and coverage entries share it).
# Keys hold the objects weakly and include their image counts, which every update changes.
_RADII: "weakref.WeakKeyDictionary[FeatureStats, tuple[int, int, torch.Tensor]]" = weakref.WeakKeyDictionary()
_LAST: list[Any] = [None]


def _memo_get(a: FeatureStats, b: FeatureStats, k: int) -> tuple[float, float] | None:
    last = _LAST[0]
    if last is None:
        return None
    ra, na, rb, nb, kk, values = last
    return values if (ra() is a and rb() is b and na == a.n and nb == b.n and kk == k) else None


def _density_coverage_stats(a: FeatureStats, b: FeatureStats, k: int) -> tuple[float, float]:
    values = _memo_get(a, b, k)
    if values is not None:
        return values
    _check(a.n, b.n, k)
    for side, st in (("real", a), ("fake", b)):
        if not st.features:
            raise DataError(f"density/coverage needs the {side} set's pool3 features; these statistics hold only "
                            "mu and sigma (extract with features=True, or save them with `ganeval stats --features`)")
    cached = _RADII.get(a)
    radii = cached[2] if cached is not None and cached[:2] == (a.n, k) else None
    dev = _compute_device(a.features[0], b.features[0])
    fr, ff = _float64_rows(a, dev), _float64_rows(b, dev)
    density, coverage, radii = density_coverage_from_features(fr, ff, k, radii)
    del fr, ff
    _RADII[a] = (a.n, k, radii)
    _LAST[0] = (weakref.ref(a), a.n, weakref.ref(b), b.n, k, (density, coverage))
    return density, coverage


def dc_from_stats(a: FeatureStats, b: FeatureStats, info: WeightsInfo, k: int = 5, seed: int = 0,
                  *, metric: str = "dc") -> MetricResult:
    """Density and coverage from two sets' statistics that kept their features.

    `metric` "dc" reports both values (headline density); "density" or "coverage" reports
    that one value (the registry's two entries).
    """
    density, coverage = _density_coverage_stats(a, b, k)
    both = {"density": density, "coverage": coverage}
    keys = _VALUES[metric]
    return MetricResult(metric, {key: both[key] for key in keys}, keys[0],
                        {"k": k, "weights_sha256": info.sha256, **protocol_settings(a, b)}, {"real": a.n, "fake": b.n},
                        seed)


def density_from_stats(a: FeatureStats, b: FeatureStats, info: WeightsInfo, k: int = 5, seed: int = 0) -> MetricResult:
    """The registry's ``density`` entry from statistics (see `dc_from_stats`)."""
    return dc_from_stats(a, b, info, k, seed, metric="density")


def coverage_from_stats(a: FeatureStats, b: FeatureStats, info: WeightsInfo, k: int = 5, seed: int = 0) -> MetricResult:
    """The registry's ``coverage`` entry from statistics (see `dc_from_stats`)."""
    return dc_from_stats(a, b, info, k, seed, metric="coverage")


class DensityCoverage(InceptionMetric):
    """Streaming density and coverage: ``update(images, real=...)``; ``compute()``.

    Reports both values (metric ``dc``); `Density` and `Coverage` report one each (the
    registry's ``density`` and ``coverage`` entries).
    """

    name = "dc"
    keep_features = True

    def __init__(self, weights: str | None = None, device: Any = None, seed: int = 0, *, k: int = 5,
                 bootstrap: int = 0, protocol: str = "tf1") -> None:
        self.k = k
        super().__init__(weights, device, seed, bootstrap=bootstrap, protocol=protocol)

    def _result(self, real: FeatureStats, fake: FeatureStats) -> MetricResult:
        return dc_from_stats(real, fake, self.info, self.k, self.seed, metric=self.name)


class Density(DensityCoverage):
    """Streaming density alone (the registry's ``density`` entry)."""

    name = "density"


class Coverage(DensityCoverage):
    """Streaming coverage alone (the registry's ``coverage`` entry)."""

    name = "coverage"


def _one_shot(cls: type, real: Any, fake: Any, *, k: int = 5, weights: str | None = None,
              num_images: int | None = None, seed: int = 0, device: Any = None, batch_size: int = 64,
              cache: bool = True, quiet: bool = True, bootstrap: int = 0, protocol: str = "tf1",
              **source_kw: Any) -> MetricResult | None:
    metric = cls(weights, device, seed, k=k, bootstrap=bootstrap, protocol=protocol)
    return metric.measure(real, fake, num_images=num_images, batch_size=batch_size, cache=cache, quiet=quiet,
                          **source_kw)


def density_coverage(real: Any, fake: Any, *, k: int = 5, weights: str | None = None,
                     num_images: int | None = None, seed: int = 0, device: Any = None, batch_size: int = 64,
                     cache: bool = True, quiet: bool = True, bootstrap: int = 0, protocol: str = "tf1",
                     **source_kw: Any) -> MetricResult | None:
    """Density (``density``, headline) and coverage (``coverage``) of fake against real images
    (`protocol`: the Inception preprocessing, `ganeval.inception.protocol`)."""
    return _one_shot(DensityCoverage, real, fake, k=k, weights=weights, num_images=num_images, seed=seed,
                     device=device, batch_size=batch_size, cache=cache, quiet=quiet, bootstrap=bootstrap,
                     protocol=protocol, **source_kw)


def run_density(real: Any, fake: Any, o: Any) -> MetricResult | None:
    """The registry's one-shot runner of ``density`` (`o` is a `RunOptions`)."""
    return _one_shot(Density, real, fake, bootstrap=o.bootstrap, **o.inception_kw())


def run_coverage(real: Any, fake: Any, o: Any) -> MetricResult | None:
    """The registry's one-shot runner of ``coverage`` (`o` is a `RunOptions`)."""
    return _one_shot(Coverage, real, fake, bootstrap=o.bootstrap, **o.inception_kw())
