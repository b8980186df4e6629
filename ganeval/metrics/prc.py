"""Improved precision and recall (Kynkäänniemi et al. 2019) on Inception pool3 features.

Each set's manifold is the union of balls around its features with radius the distance to
the k-th nearest other feature of the same set (k = 3).  Precision is the share of fakes
inside the real manifold; recall the share of reals inside the fake manifold.  Distances are
computed in row blocks, so memory stays O(block x N).
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import DataError
from ..features.extractor import WeightsInfo
from ..results import MetricResult
from ..features.stats import FeatureStats
from ._inception import InceptionMetric, protocol_settings

__all__ = ["knn_radii", "manifold_coverage", "precision_recall", "pr_from_stats", "PrecisionRecall"]

_BLOCK = 1024


def knn_radii(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Distance from each row of `x` to its k-th nearest other row."""
    if x.shape[0] <= k:
        raise DataError(f"precision/recall with k={k} needs more than {k} images per set, got {x.shape[0]}")
    out = []
    for s in range(0, x.shape[0], _BLOCK):
        d = torch.cdist(x[s:s + _BLOCK], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 1st is the point itself at distance 0
    return torch.cat(out)


def manifold_coverage(points: torch.Tensor, support: torch.Tensor, radii: torch.Tensor) -> float:
    """Share of `points` within radius of at least one `support` row."""
    inside = []
    for s in range(0, points.shape[0], _BLOCK):
        d = torch.cdist(points[s:s + _BLOCK], support)
        inside.append((d <= radii[None, :]).any(dim=1))
    return float(torch.cat(inside).double().mean())


def precision_recall(real: Any, fake: Any, *, k: int = 3, weights: str | None = None,
                     num_images: int | None = None, seed: int = 0, device: Any = None, batch_size: int = 64,
                     cache: bool = True, quiet: bool = True, bootstrap: int = 0, protocol: str = "tf1",
                     **source_kw: Any) -> MetricResult | None:
    """Precision (``precision``, headline) and recall (``recall``) of fake against real images
    (`protocol`: the Inception preprocessing, `ganeval.inception.protocol`)."""
    metric = PrecisionRecall(weights, device, seed, k=k, bootstrap=bootstrap, protocol=protocol)
    return metric.measure(real, fake, num_images=num_images, batch_size=batch_size, cache=cache, quiet=quiet,
                          **source_kw)


def pr_from_stats(a: FeatureStats, b: FeatureStats, info: WeightsInfo, k: int = 3, seed: int = 0) -> MetricResult:
    """Precision and recall from two sets' statistics that kept their features."""
    fr, ff = a.all_features().double(), b.all_features().double()
    precision = manifold_coverage(ff, fr, knn_radii(fr, k))
    recall = manifold_coverage(fr, ff, knn_radii(ff, k))
    return MetricResult("pr", {"precision": precision, "recall": recall}, "precision",
                        {"k": k, "weights_sha256": info.sha256, **protocol_settings(a, b)}, {"real": a.n, "fake": b.n},
                        seed)


class PrecisionRecall(InceptionMetric):
    """Streaming improved precision and recall: ``update(images, real=...)``; ``compute()``."""

    name = "pr"
    keep_features = True

    def __init__(self, weights: str | None = None, device: Any = None, seed: int = 0, *, k: int = 3,
                 bootstrap: int = 0, protocol: str = "tf1") -> None:
        self.k = k
        super().__init__(weights, device, seed, bootstrap=bootstrap, protocol=protocol)

    def _result(self, real: FeatureStats, fake: FeatureStats) -> MetricResult:
        return pr_from_stats(real, fake, self.info, self.k, self.seed)
