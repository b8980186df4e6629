"""Metrics: one module per metric and the registry that lists them.

Each module holds the math, one streaming class (update/compute/reset/merge) and the one-shot
function that streams into it; this file registers the built-in metrics.  A new metric is a
module here plus one `register_metric` call (see ARCHITECTURE.md).
"""
from __future__ import annotations

from ..options import RunOptions
from .fid import FID, fid, fid_from_stats
from .isc import InceptionScore, inception_score, is_from_stats
from .kid import KID, kid, kid_from_stats
from .msssim import MSSSIM, ms_ssim, pairs_for
from .prc import PrecisionRecall, pr_from_stats, precision_recall
from .registry import MetricSpec, get_metric, metric_names, register_metric
from .swd import DEFAULT_NUM_IMAGES, SWD, swd

__all__ = ["MetricSpec", "register_metric", "get_metric", "metric_names", "RunOptions",
           "SWD", "MSSSIM", "FID", "InceptionScore", "KID", "PrecisionRecall"]


def _run_swd(real, fake, o: RunOptions):
    return swd(real, fake, num_images=o.num_images or DEFAULT_NUM_IMAGES, **o.stream_kw())


def _run_msssim(real, fake, o: RunOptions):
    return ms_ssim(fake, num_pairs=pairs_for(o.num_images), **o.stream_kw())


register_metric(MetricSpec(
    "swd", "SWDx1e3_avg", lower_is_better=True, needs_real=True, streaming=SWD, run=_run_swd,
    summary="sliced Wasserstein distance x1e3 per Laplacian level (ProGAN)", values=("SWDx1e3_avg",),
    value_prefix="SWDx1e3_", rank_priority=0))
register_metric(MetricSpec(
    "msssim", "MS-SSIM", lower_is_better=True, needs_real=False, streaming=MSSSIM, run=_run_msssim,
    summary="mean MS-SSIM of consecutive fake pairs (diversity; ProGAN)", values=("MS-SSIM",)))
register_metric(MetricSpec(
    "fid", "FID", lower_is_better=True, needs_real=True, streaming=FID, inception="pool3",
    run=lambda real, fake, o: fid(real, fake, **o.inception_kw()), from_stats=fid_from_stats,
    summary="Frechet Inception distance", values=("FID",), rank_priority=1))
register_metric(MetricSpec(
    "is", "IS_mean", lower_is_better=False, needs_real=False, streaming=InceptionScore, inception="logits",
    run=lambda real, fake, o: inception_score(fake, **o.inception_kw()), from_stats=is_from_stats,
    summary="Inception Score of the fakes", values=("IS_mean", "IS_std"), rank_priority=3))
register_metric(MetricSpec(
    "kid", "KID_mean", lower_is_better=True, needs_real=True, streaming=KID, inception="pool3",
    keeps_features=True, run=lambda real, fake, o: kid(real, fake, **o.inception_kw()),
    from_stats=kid_from_stats, summary="kernel Inception distance", values=("KID_mean", "KID_std"),
    rank_priority=2))
register_metric(MetricSpec(
    "pr", "precision", lower_is_better=False, needs_real=True, streaming=PrecisionRecall, inception="pool3",
    keeps_features=True, run=lambda real, fake, o: precision_recall(real, fake, **o.inception_kw()),
    from_stats=pr_from_stats, summary="improved precision and recall", values=("precision", "recall"),
    rank_priority=4))
