"""Memorization-informed FID, MiFID (Bai et al. 2021), as torchmetrics 1.9 computes it.

MiFID divides FID by a memorization distance: each real pool3 row's smallest cosine distance
``1 - |cos|`` to any fake row, averaged over the real rows (torchmetrics' orientation; the
Kaggle competition's code took each fake's nearest real instead).  Rows that sum to zero are
left out, as torchmetrics does.  A distance of at least `cosine_distance_eps` (0.1) means no
memorization and the divisor becomes 1, so MiFID equals FID; below it MiFID is
``FID / (distance + 1e-14)``, and an FID of at most 1e-8 gives 0.  Everything runs in float64
on the features ganeval extracted (kept rows, like KID); the FID is ganeval's exact one.
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import DataError, UsageError
from ..features.extractor import WeightsInfo
from ..features.stats import FeatureStats
from ..results import MetricResult
from ._inception import InceptionMetric, protocol_settings
from .fid import FID, frechet_distance_of_stats

__all__ = ["memorization_distance", "mifid_value", "mifid", "mifid_from_stats", "MiFID", "DEFAULT_EPS"]

DEFAULT_EPS = 0.1
_TINY = 1e-14  # torchmetrics' 10e-15, keeps a zero distance from dividing by zero
_FID_FLOOR = 1e-8  # at or below this FID, MiFID is 0 (torchmetrics)
_BLOCK = 1 << 24  # similarity entries per block: bounds memory for large sets (128 MiB in float64)


def check_eps(eps: Any) -> float:
    """`eps` as a float in (0, 1], or a `UsageError` (torchmetrics' rule)."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(eps, bool) or not 0 < value <= 1:
        raise UsageError(f"cosine_distance_eps {eps!r}: give a number greater than 0 and at most 1 (default 0.1)")
    return value


def _unit_rows(x: torch.Tensor, side: str) -> torch.Tensor:
    x = x.double()
    x = x[x.sum(dim=1) != 0]  # all-zero rows have no direction (torchmetrics drops them)
    if x.shape[0] == 0:
        raise DataError(f"MiFID: every {side} feature row is zero; the cosine distance is undefined")
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True)


def memorization_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Mean over real rows of the smallest ``1 - |cos|`` to any fake row, in float64 (in
    blocks of real rows, so the real x fake matrix is never held whole)."""
    r, f = _unit_rows(real, "real"), _unit_rows(fake, "fake").to(real.device)
    step = max(1, _BLOCK // f.shape[0])
    # 1 - max|cos| equals min(1 - |cos|) exactly: subtracting from 1 is monotone under rounding.
    nearest = [1.0 - (r[i:i + step] @ f.T).abs().amax(dim=1) for i in range(0, r.shape[0], step)]
    return float(torch.cat(nearest).mean())


def mifid_value(fid_value: float, distance: float, eps: float = DEFAULT_EPS) -> float:
    """MiFID from an FID and a memorization distance (see the module docstring)."""
    if fid_value <= _FID_FLOOR:
        return 0.0
    return fid_value / ((distance if distance < eps else 1.0) + _TINY)


def mifid_from_stats(a: FeatureStats, b: FeatureStats, info: WeightsInfo, cosine_distance_eps: float = DEFAULT_EPS,
                     seed: int = 0) -> MetricResult:
    """MiFID from two sets' statistics that kept their pool3 rows: ``MiFID`` (headline), the
    ``FID`` it starts from and the ``memorization_distance`` (before the threshold)."""
    if not a.features or not b.features:
        raise DataError("MiFID needs the pool3 rows of both sets; extract them with features=True "
                        "(statistics files: `ganeval stats --features`)")
    eps = check_eps(cosine_distance_eps)
    fid_value = frechet_distance_of_stats(a, b)
    distance = memorization_distance(a.all_features(), b.all_features())
    value = mifid_value(fid_value, distance, eps)
    settings = {"network": "inception-2015-12-05", "feature": "pool3", **protocol_settings(a, b),
                "cosine_distance_eps": eps, "penalised": distance < eps, "weights_sha256": info.sha256,
                "weights_format": info.format}
    return MetricResult("mifid", {"MiFID": value, "FID": fid_value, "memorization_distance": distance}, "MiFID",
                        settings, {"real": a.n, "fake": b.n}, seed)


class MiFID(InceptionMetric):
    """Streaming MiFID: ``update(images, real=...)``; ``compute()`` gives ``MiFID``."""

    name = "mifid"
    keep_features = True
    min_count, minimum_note = FID.min_count, FID.minimum_note.replace("FID", "MiFID's FID", 1)

    def __init__(self, weights: str | None = None, device: Any = None, seed: int = 0, *,
                 cosine_distance_eps: float = DEFAULT_EPS, bootstrap: int = 0, protocol: str = "tf1") -> None:
        self.cosine_distance_eps = check_eps(cosine_distance_eps)
        super().__init__(weights, device, seed, bootstrap=bootstrap, protocol=protocol)

    def _result(self, real: FeatureStats, fake: FeatureStats) -> MetricResult:
        return mifid_from_stats(real, fake, self.info, self.cosine_distance_eps, self.seed)


def mifid(real: Any, fake: Any, *, cosine_distance_eps: float = DEFAULT_EPS, weights: str | None = None,
          num_images: int | None = None, seed: int = 0, device: Any = None, batch_size: int = 64,
          cache: bool = True, quiet: bool = True, bootstrap: int = 0, protocol: str = "tf1",
          **source_kw: Any) -> MetricResult | None:
    """MiFID between two image sets (pool3 rows of both are kept; a statistics ``.npz`` needs
    them, see `ganeval stats --features`); `protocol` is the Inception preprocessing."""
    metric = MiFID(weights, device, seed, cosine_distance_eps=cosine_distance_eps, bootstrap=bootstrap,
                   protocol=protocol)
    return metric.measure(real, fake, num_images=num_images, batch_size=batch_size, cache=cache, quiet=quiet,
                          **source_kw)
