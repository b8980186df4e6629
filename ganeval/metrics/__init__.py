"""Metrics: one module per metric and the registry that lists them.

Each module holds the math, one streaming class (update/compute/reset/merge) and the one-shot
function that streams into it; this file registers the built-in metrics.  A new metric is a
module here plus one `register_metric` call (see ARCHITECTURE.md).
"""
from __future__ import annotations

from ..options import RunOptions
from .dc import Coverage, Density, coverage_from_stats, density_from_stats, run_coverage, run_density
from .fd import FD, run_fd_dinov2
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
    return swd(real, fake, num_images=o.num_images or DEFAULT_NUM_IMAGES, repeats=o.repeats, redraw=o.redraw,
               **o.stream_kw())


def _run_msssim(real, fake, o: RunOptions):
    return ms_ssim(fake, num_pairs=pairs_for(o.num_images), bootstrap=o.bootstrap, **o.stream_kw())


register_metric(MetricSpec(
    "swd", "SWDx1e3_avg", lower_is_better=True, needs_real=True, streaming=SWD, run=_run_swd,
    summary="sliced Wasserstein distance x1e3 per Laplacian level (ProGAN)", values=("SWDx1e3_avg",),
    value_prefix="SWDx1e3_", rank_priority=0))
register_metric(MetricSpec(
    "msssim", "MS-SSIM", lower_is_better=True, needs_real=False, streaming=MSSSIM, run=_run_msssim,
    summary="mean MS-SSIM of consecutive fake pairs (diversity; ProGAN)", values=("MS-SSIM",)))
register_metric(MetricSpec(
    "fid", "FID", lower_is_better=True, needs_real=True, streaming=FID, inception="pool3",
    run=lambda real, fake, o: fid(real, fake, bootstrap=o.bootstrap, **o.inception_kw()), from_stats=fid_from_stats,
    summary="Frechet Inception distance", values=("FID",), rank_priority=1))
register_metric(MetricSpec(
    "is", "IS_mean", lower_is_better=False, needs_real=False, streaming=InceptionScore, inception="logits",
    run=lambda real, fake, o: inception_score(fake, bootstrap=o.bootstrap, **o.inception_kw()), from_stats=is_from_stats,
    summary="Inception Score of the fakes", values=("IS_mean", "IS_std"), rank_priority=3))
register_metric(MetricSpec(
    "kid", "KID_mean", lower_is_better=True, needs_real=True, streaming=KID, inception="pool3",
    keeps_features=True, run=lambda real, fake, o: kid(real, fake, bootstrap=o.bootstrap, **o.inception_kw()),
    from_stats=kid_from_stats, summary="kernel Inception distance", values=("KID_mean", "KID_std"),
    rank_priority=2))
register_metric(MetricSpec(
    "pr", "precision", lower_is_better=False, needs_real=True, streaming=PrecisionRecall, inception="pool3",
    keeps_features=True, run=lambda real, fake, o: precision_recall(real, fake, bootstrap=o.bootstrap, **o.inception_kw()),
    from_stats=pr_from_stats, summary="improved precision and recall", values=("precision", "recall"),
    rank_priority=4))

# Density and coverage (Naeem et al. 2020): two entries, one computation (dc.py remembers it per pair of sets).
register_metric(MetricSpec(
    "density", "density", lower_is_better=False, needs_real=True, streaming=Density, inception="pool3",
    keeps_features=True, run=run_density, from_stats=density_from_stats, values=("density",), in_default=False,
    summary="real k-NN balls holding each fake, over k (fidelity, Naeem et al. 2020)"))
register_metric(MetricSpec(
    "coverage", "coverage", lower_is_better=False, needs_real=True, streaming=Coverage, inception="pool3",
    keeps_features=True, run=run_coverage, from_stats=coverage_from_stats, values=("coverage",), in_default=False,
    summary="share of real k-NN balls holding a fake (diversity, Naeem et al. 2020)"))

# Fréchet distance on DINOv2 ViT-L/14 features (Stein et al. 2023); needs no Inception, loads its own weights.
register_metric(MetricSpec(
    "fd_dinov2", "FD_DINOv2", lower_is_better=True, needs_real=True, streaming=FD, run=run_fd_dinov2,
    values=("FD_DINOv2",), value_prefix="FD_DINOv2", in_default=False,
    summary="Frechet distance on DINOv2 ViT-L/14 features (Stein et al. 2023)"))
