"""Metrics: one module per metric and the registry that lists them.

Each module holds the math, one streaming class (update/compute/reset/merge) and the one-shot
function that streams into it; this file registers the built-in metrics.  A new metric is a
module here plus one `register_metric` call (see ARCHITECTURE.md).
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from ..options import RunOptions
from .registry import LazyRef, MetricSpec, get_metric, metric_names, register_metric

__all__ = ["MetricSpec", "register_metric", "get_metric", "metric_names", "RunOptions",
           "SWD", "MSSSIM", "FID", "InceptionScore", "KID", "PrecisionRecall"]

# Metric modules import torch: they load when a metric first runs or is named here, not when
# the registry is listed (``ganeval all --help``); see `LazyRef` and ganeval/__init__.py.
# (`swd`, `fid` and `kid` are the submodules here; their functions are ganeval.swd etc.)
_LAZY = {"SWD": "swd", "DEFAULT_NUM_IMAGES": "swd", "MSSSIM": "msssim", "ms_ssim": "msssim",
         "pairs_for": "msssim", "FID": "fid", "fid_from_stats": "fid", "InceptionScore": "isc",
         "inception_score": "isc", "is_from_stats": "isc", "KID": "kid", "kid_from_stats": "kid",
         "PrecisionRecall": "prc", "precision_recall": "prc", "pr_from_stats": "prc", "Density": "dc",
         "Coverage": "dc", "density_from_stats": "dc", "coverage_from_stats": "dc", "run_density": "dc",
         "run_coverage": "dc", "FD": "fd", "run_fd_dinov2": "fd", "PPL": "ppl", "run_ppl": "ppl", "run_fd_clip": "fd",
         "SFID": "sfid", "run_sfid": "sfid", "sfid_from_stats": "sfid", "MiFID": "mifid",
         "mifid_from_stats": "mifid", "FDCLIP": "fd", "CMMD": "cmmd", "run_cmmd": "cmmd"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _ref(name: str) -> LazyRef:
    return LazyRef(f"{__name__}.{_LAZY[name]}:{name}")


def _run_swd(real, fake, o: RunOptions):
    from .swd import DEFAULT_NUM_IMAGES, swd
    return swd(real, fake, num_images=o.num_images or DEFAULT_NUM_IMAGES, repeats=o.repeats, redraw=o.redraw,
               **o.stream_kw())


def _run_msssim(real, fake, o: RunOptions):
    from .msssim import ms_ssim, pairs_for
    return ms_ssim(fake, num_pairs=pairs_for(o.num_images), bootstrap=o.bootstrap, **o.stream_kw())


def _run_fid(real, fake, o: RunOptions):
    from .fid import fid
    return fid(real, fake, bootstrap=o.bootstrap, **o.inception_kw())


def _run_is(real, fake, o: RunOptions):
    from .isc import inception_score
    return inception_score(fake, bootstrap=o.bootstrap, **o.inception_kw())


def _run_kid(real, fake, o: RunOptions):
    from .kid import kid
    return kid(real, fake, bootstrap=o.bootstrap, **o.inception_kw())


def _run_pr(real, fake, o: RunOptions):
    from .prc import precision_recall
    return precision_recall(real, fake, bootstrap=o.bootstrap, **o.inception_kw())


register_metric(MetricSpec(
    "swd", "SWDx1e3_avg", lower_is_better=True, needs_real=True, streaming=_ref("SWD"), run=_run_swd,
    summary="sliced Wasserstein distance x1e3 per Laplacian level (ProGAN)", values=("SWDx1e3_avg",),
    value_prefix="SWDx1e3_", rank_priority=0))
register_metric(MetricSpec(
    "msssim", "MS-SSIM", lower_is_better=True, needs_real=False, streaming=_ref("MSSSIM"), run=_run_msssim,
    summary="mean MS-SSIM of consecutive fake pairs (diversity; ProGAN)", values=("MS-SSIM",)))
register_metric(MetricSpec(
    "fid", "FID", lower_is_better=True, needs_real=True, streaming=_ref("FID"), inception="pool3",
    run=_run_fid, from_stats=_ref("fid_from_stats"),
    summary="Frechet Inception distance", values=("FID",), rank_priority=1))
register_metric(MetricSpec(
    "is", "IS_mean", lower_is_better=False, needs_real=False, streaming=_ref("InceptionScore"), inception="logits",
    run=_run_is, from_stats=_ref("is_from_stats"),
    summary="Inception Score of the fakes", values=("IS_mean", "IS_std"), rank_priority=3))
register_metric(MetricSpec(
    "kid", "KID_mean", lower_is_better=True, needs_real=True, streaming=_ref("KID"), inception="pool3",
    keeps_features=True, run=_run_kid,
    from_stats=_ref("kid_from_stats"), summary="kernel Inception distance", values=("KID_mean", "KID_std"),
    rank_priority=2))
register_metric(MetricSpec(
    "pr", "precision", lower_is_better=False, needs_real=True, streaming=_ref("PrecisionRecall"), inception="pool3",
    keeps_features=True, run=_run_pr,
    from_stats=_ref("pr_from_stats"), summary="improved precision and recall", values=("precision", "recall"),
    rank_priority=4))

# Density and coverage (Naeem et al. 2020): two entries, one computation (dc.py remembers it per pair of sets).
register_metric(MetricSpec(
    "density", "density", lower_is_better=False, needs_real=True, streaming=_ref("Density"), inception="pool3",
    keeps_features=True, run=_ref("run_density"), from_stats=_ref("density_from_stats"), values=("density",),
    in_default=False, summary="real k-NN balls holding each fake, over k (fidelity, Naeem et al. 2020)"))
register_metric(MetricSpec(
    "coverage", "coverage", lower_is_better=False, needs_real=True, streaming=_ref("Coverage"), inception="pool3",
    keeps_features=True, run=_ref("run_coverage"), from_stats=_ref("coverage_from_stats"), values=("coverage",),
    in_default=False, summary="share of real k-NN balls holding a fake (diversity, Naeem et al. 2020)"))

# sFID (Nash et al. 2021): FID on 2023-d spatial Inception features, its own pass (the "inception-sfid" extractor).
register_metric(MetricSpec(
    "sfid", "sFID", lower_is_better=True, needs_real=True, streaming=_ref("SFID"), run=_ref("run_sfid"),
    values=("sFID",), in_default=False,
    summary="spatial FID on Inception mixed_6/conv[:7] (Nash et al. 2021; guided-diffusion's evaluator)"))


def _run_mifid(real, fake, o: RunOptions):
    from .mifid import mifid
    return mifid(real, fake, bootstrap=o.bootstrap, **o.inception_kw())


# MiFID (Bai et al. 2021): FID over a cosine memorization distance of the kept pool3 rows (torchmetrics').
register_metric(MetricSpec(
    "mifid", "MiFID", lower_is_better=True, needs_real=True, streaming=_ref("MiFID"), inception="pool3",
    keeps_features=True, run=_run_mifid, from_stats=_ref("mifid_from_stats"), values=("MiFID",), in_default=False,
    summary="memorization-informed FID (Bai et al. 2021; torchmetrics' MiFID)"))

# Fréchet distance on DINOv2 ViT-L/14 features (Stein et al. 2023); needs no Inception, loads its own weights.
register_metric(MetricSpec(
    "fd_dinov2", "FD_DINOv2", lower_is_better=True, needs_real=True, streaming=_ref("FD"), run=_ref("run_fd_dinov2"),
    values=("FD_DINOv2",), value_prefix="FD_DINOv2", in_default=False,
    summary="Frechet distance on DINOv2 ViT-L/14 features (Stein et al. 2023)"))

# Fréchet distance on CLIP ViT-B/32 image embeddings (torch-fidelity's preprocessing), and CMMD
# (Jayasumana et al. 2024) on CLIP ViT-L/14@336 ones; both load their own CLIP weights.
register_metric(MetricSpec(
    "fd_clip", "FD_CLIP", lower_is_better=True, needs_real=True, streaming=_ref("FDCLIP"), run=_ref("run_fd_clip"),
    values=("FD_CLIP",), value_prefix="FD_CLIP", in_default=False,
    summary="Frechet distance on CLIP ViT-B/32 image embeddings (torch-fidelity's FID with clip-vit-b-32)"))
register_metric(MetricSpec(
    "cmmd", "CMMD", lower_is_better=True, needs_real=True, streaming=_ref("CMMD"), run=_ref("run_cmmd"),
    values=("CMMD",), in_default=False,
    summary="CLIP-MMD x1e3, Gaussian RBF sigma 10 on ViT-L/14@336 embeddings (Jayasumana et al. 2024)"))

# Perceptual path length (Karras et al. 2019) measures a generator (z -> images), not image sets:
# its runner takes a latent generator as the fake side and refuses image sets with a UsageError.
register_metric(MetricSpec(
    "ppl", "PPL", lower_is_better=True, needs_real=False, streaming=_ref("PPL"), run=_ref("run_ppl"),
    values=("PPL", "PPL_std"), in_default=False, needs_generator=True,
    summary="perceptual path length of a generator in z, LPIPS-VGG16 (StyleGAN; needs z, not images)"))
