"""CMMD (Jayasumana et al. 2024): MMD with a Gaussian RBF kernel on CLIP image embeddings.

The estimator is the reference's (google-research ``cmmd/distance.py``): with L2-normalised
CLIP ViT-L/14@336 embeddings x (real) and y (fake), k(a, b) = exp(-gamma ||a - b||^2),
gamma = 1 / (2 sigma^2), sigma = 10,

    CMMD = scale * (mean k(x, x') + mean k(y, y') - 2 mean k(x, y)),   scale = 1000,

each mean over all pairs, the diagonal included (the biased, minimum-variance V-statistic;
never negative).  The squared distances are expanded as the reference does
(``|a|^2 + |b|^2 - 2 a.b``), but evaluated in float64 (the reference runs float32, whose
rounding is ~1e-7 of kernel values near 1, i.e. up to ~1e-4 of a typical CMMD), in row blocks
so that no n x n matrix is held.  The embeddings are CLIP's projected image embeddings under
the reference's preprocessing (`ganeval.clip.preprocess.cmmd`), normalised here.
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch

from ..clip import CMMD_MODEL
from ..device import resolve_device
from ..errors import DataError, UsageError
from ..features.extract import extract_features
from ..features.extractor import Extractor
from ..features.stats import FeatureStats
from ..results import MetricResult
from .base import StreamingMetric
from .uncertainty import FeatureBootstrap, check_count

__all__ = ["SIGMA", "SCALE", "mmd_rbf", "normalise", "cmmd_from_features", "cmmd_from_stats", "CMMD", "cmmd",
           "run_cmmd"]

SIGMA = 10.0
SCALE = 1000.0
_BLOCK_ELEMENTS = 1 << 22  # kernel entries per block (32 MiB in float64)


def _f64(x: torch.Tensor) -> torch.Tensor:
    return (x.cpu() if x.device.type == "mps" else x).double()  # MPS has no float64


def _kernel_mean(a: torch.Tensor, b: torch.Tensor, gamma: float) -> torch.Tensor:
    """mean over all (i, j) of exp(-gamma ||a_i - b_j||^2), in row blocks; the same operations
    for every pair of sets, so identical sets give bit-identical means."""
    sa, sb = (a * a).sum(1), (b * b).sum(1)
    rows = max(1, _BLOCK_ELEMENTS // max(1, b.shape[0]))
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for i in range(0, a.shape[0], rows):
        d2 = -2 * (a[i:i + rows] @ b.T) + sa[i:i + rows, None] + sb[None, :]
        total += torch.exp(-gamma * d2).sum()
    return total / (a.shape[0] * b.shape[0])


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, sigma: float = SIGMA, scale: float = SCALE) -> float:
    """``scale`` x the biased MMD^2 (all pairs, diagonal included) with a Gaussian RBF kernel
    of bandwidth `sigma`, in float64 (the reference's ``distance.mmd``)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise DataError(f"MMD needs two (n, d) sets of one width, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] < 1 or y.shape[0] < 1:
        raise DataError(f"MMD needs at least one embedding per set, got {x.shape[0]} and {y.shape[0]}")
    x = _f64(x)
    y = _f64(y).to(x.device)
    gamma = 1.0 / (2.0 * float(sigma) ** 2)
    value = float(scale * (_kernel_mean(x, x, gamma) + _kernel_mean(y, y, gamma) - 2 * _kernel_mean(x, y, gamma)))
    if not math.isfinite(value):
        raise DataError(f"CMMD came out {value}: the embeddings hold NaN or inf")
    return value


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (float64); a zero row is an error, not a NaN."""
    x = _f64(x)
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    if bool((norms == 0).any()) or not bool(torch.isfinite(norms).all()):
        raise DataError("an image embedding is zero or not finite, so it cannot be L2-normalised for CMMD")
    return x / norms


def cmmd_from_features(a: torch.Tensor, b: torch.Tensor, sigma: float = SIGMA, scale: float = SCALE) -> float:
    """CMMD between two sets of raw CLIP embeddings (normalised here, as the reference's model does)."""
    return mmd_rbf(normalise(a), normalise(b), sigma, scale)


def cmmd_from_stats(a: FeatureStats, b: FeatureStats, net: Extractor, sigma: float = SIGMA, scale: float = SCALE,
                    seed: int = 0) -> MetricResult:
    """CMMD from two sets' statistics that kept their CLIP embeddings."""
    for side, st in (("real", a), ("fake", b)):
        if not st.features:
            raise DataError(f"CMMD needs the {side} set's embeddings, and its statistics hold only mu and sigma; "
                            "give the images")
    value = cmmd_from_features(a.all_features(), b.all_features(), sigma, scale)
    settings = {"kernel": "gaussian-rbf", "sigma": float(sigma), "scale": float(scale),
                "estimator": "biased: all pairs, diagonal included", "embedding": "l2-normalised",
                **net.settings}
    return MetricResult("cmmd", {"CMMD": value}, "CMMD", settings, {"real": a.n, "fake": b.n}, seed)


def _extractor(model: Any, weights: str | None, device: Any, allow_download: bool) -> Extractor:
    from ..clip.features import extractor
    return extractor(model, weights, device, allow_download, preprocessing="cmmd")


class CMMD(FeatureBootstrap, StreamingMetric):
    """Streaming CMMD: ``update(images, real=...)`` keeps each image's CLIP embedding; ``compute()``."""

    name = "cmmd"

    def __init__(self, seed: int = 0, device: Any = None, model: Any = CMMD_MODEL, weights: str | None = None,
                 allow_download: bool = False, *, sigma: float = SIGMA, scale: float = SCALE,
                 bootstrap: int = 0) -> None:
        if not (sigma > 0 and math.isfinite(sigma)) or not (scale > 0 and math.isfinite(scale)):
            raise UsageError(f"CMMD sigma {sigma} and scale {scale} must be positive numbers")
        self.seed, self.device = seed, resolve_device(device)
        self.model, self.weights, self.allow_download = model or CMMD_MODEL, weights, allow_download
        self.sigma, self.scale = float(sigma), float(scale)
        self.bootstrap = check_count(bootstrap, "bootstrap")
        self.net: Extractor | None = None
        super().__init__()

    def _network(self) -> Extractor:
        if self.net is None:
            self.net = _extractor(self.model, self.weights, self.device, self.allow_download)
        return self.net

    @property
    def info(self) -> Any:
        return self.net.info if self.net is not None else None

    def _new(self, real: bool) -> FeatureStats:
        return FeatureStats(dim=self._network().dim, keep_features=True)

    def _accumulate(self, acc: FeatureStats, images: torch.Tensor, start: int | None = None) -> None:
        acc.update(self._network().forward(images.to(self.device), False)[0], start=start)

    def load(self, real: FeatureStats, fake: FeatureStats) -> None:
        """Take already extracted statistics (with their embeddings) for both sides."""
        self.real, self._real_synced, self.fake = real, True, fake

    def _result(self, real: FeatureStats, fake: FeatureStats) -> MetricResult:
        return cmmd_from_stats(real, fake, self._network(), self.sigma, self.scale, self.seed)


def cmmd(real: Any, fake: Any, *, model: Any = CMMD_MODEL, weights: str | None = None, sigma: float = SIGMA,
         scale: float = SCALE, num_images: int | None = None, seed: int = 0, device: Any = None, batch_size: int = 64,
         cache: bool = True, quiet: bool = True, allow_download: bool = False, bootstrap: int = 0,
         **kw: Any) -> MetricResult | None:
    """CMMD between two image sets (or statistics ``.npz`` files that kept the CMMD embeddings).

    Other keywords are `ganeval.features.extract_features`' (``workers``, ``content_hash``,
    ``allow_weights_mismatch`` and the `open_source` options).  ``bootstrap=B`` adds error
    bars from B resamples of the embeddings (`ganeval.metrics.uncertainty`).
    """
    t0 = time.time()
    metric = CMMD(seed, device, model, weights, allow_download, sigma=sigma, scale=scale, bootstrap=bootstrap)
    metric.ask(num_images)
    net = metric._network()
    args = dict(features=True, num_images=num_images, seed=seed, device=device, batch_size=batch_size, cache=cache,
                quiet=quiet, **kw)
    metric.load(extract_features(net, real, **args), extract_features(net, fake, **args))
    result = metric.compute()  # None on ranks other than 0 under torchrun
    if result is not None:
        result.seconds = time.time() - t0
    return result


def run_cmmd(real: Any, fake: Any, o) -> MetricResult | None:
    """The registry's runner for ``cmmd``: `RunOptions` without the Inception weights and protocol."""
    kw = o.inception_kw()
    kw.pop("weights", None)  # the Inception weights; CLIP finds its own
    kw.pop("protocol", None)
    return cmmd(real, fake, bootstrap=o.bootstrap, **kw)
