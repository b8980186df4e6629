"""Fréchet distance on other feature extractors; first DINOv2 (FD_DINOv2, Stein et al. 2023).

The distance is FID's (`ganeval.metrics.fid.frechet_distance`) on the Gaussians of DINOv2
ViT-L/14 class tokens, preprocessed as dgm-eval does (`ganeval.dinov2`).  ViT-B/14
(``model="vitb14"``) is the cheaper choice for tracking during training; its value is
reported under its own key (``FD_DINOv2_vitb14``) so it is never ranked against ViT-L/14.

Weights are the extractor's own (``weights=`` / ``$GANEVAL_DINOV2_WEIGHTS`` / the caches, see
`ganeval.dinov2.weights`), never the Inception ``--weights``.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from ..device import resolve_device
from ..dinov2.network import ViTConfig
from ..dinov2.weights import DINOv2WeightsInfo, config_of
from ..errors import UsageError
from ..inception.stats import FeatureStats, load_stats
from ..results import MetricResult
from .base import StreamingMetric
from .fid import frechet_distance_of_stats
from .uncertainty import FeatureBootstrap, check_count

__all__ = ["fd", "fd_from_stats", "FD", "run_fd_dinov2", "FEATURES"]

FEATURES = ("dinov2",)
PRIMARY = "FD_DINOv2"


def _names(model: str) -> tuple[str, str]:
    """(metric name, value key): ViT-L/14 is the paper's FD_DINOv2; other sizes are suffixed."""
    return ("fd_dinov2", PRIMARY) if model == "vitl14" else (f"fd_dinov2_{model}", f"{PRIMARY}_{model}")


def fd_from_stats(a: FeatureStats, b: FeatureStats, info: DINOv2WeightsInfo, seed: int = 0) -> MetricResult:
    """FD between two sets' DINOv2 statistics (the warning for sets with fewer images than
    dimensions is `FD`'s, given once per result by `ganeval.counts`)."""
    name, key = _names(info.model)
    settings = {"network": f"dinov2-{info.model}", "feature": "cls-token final-norm", "resize": "pil-bicubic-224",
                "normalize": "imagenet-mean-std", "weights_sha256": info.sha256, "weights_format": info.format}
    value = frechet_distance_of_stats(a, b)
    return MetricResult(name, {key: value}, key, settings, {"real": a.n, "fake": b.n}, seed)


class FD(FeatureBootstrap, StreamingMetric):
    """Streaming FD on DINOv2 features: ``update(images, real=...)``; ``compute()``."""

    def __init__(self, seed: int = 0, device: Any = None, model: str | ViTConfig = "vitl14",
                 weights: str | None = None, allow_download: bool = False, features: str = "dinov2", *,
                 bootstrap: int = 0) -> None:
        if features not in FEATURES:
            raise UsageError(f"unknown feature extractor {features!r}; choose from {', '.join(FEATURES)}")
        self.config = config_of(model)
        self.name = _names(self.config.name)[0]
        # Fewer images than feature dimensions give a rank-deficient covariance (ganeval.counts).
        d = self.config.dim
        self.min_count = d
        self.minimum_note = (f"fewer than {d} images give a rank-deficient {d}x{d} covariance: FD is biased upward and "
                             "not comparable with FDs on more images")
        self.seed, self.device = seed, resolve_device(device)
        self.weights, self.allow_download = weights, allow_download
        self.info: DINOv2WeightsInfo | None = None
        self.bootstrap = check_count(bootstrap, "bootstrap")
        super().__init__()

    def _network(self):
        from ..dinov2.features import dinov2
        net, self.info = dinov2(self.config, self.weights, self.device, self.allow_download)
        return net

    def _new(self, real: bool) -> FeatureStats:
        return FeatureStats(dim=self.config.dim, keep_features=bool(self.bootstrap))

    def _accumulate(self, acc: FeatureStats, images: torch.Tensor, start: int | None = None) -> None:
        acc.update(self._network()(images.to(self.device)), start=start)

    def set_real_stats(self, path: str, allow_weights_mismatch: bool = False) -> None:
        """Use a saved DINOv2 statistics ``.npz`` as the real side (same width and weights)."""
        from ..dinov2.features import _check_stats
        net = self._network()
        self.real = _check_stats(path, load_stats(path, dim=net.dim, weights_sha256=self.info.sha256,
                                                  allow_weights_mismatch=allow_weights_mismatch), net)
        self._real_synced = True
        self.real_ready = True

    def load(self, real: FeatureStats | None, fake: FeatureStats, info: DINOv2WeightsInfo) -> None:
        """Take already extracted statistics for both sides (the one-shot path)."""
        if real is not None:
            self.real, self._real_synced = real, True
        self.fake, self.info = fake, info

    def _result(self, real: FeatureStats, fake: FeatureStats) -> MetricResult:
        return fd_from_stats(real, fake, self.info, self.seed)

    def compute(self) -> MetricResult | None:
        if self.info is None:
            self._network()  # the weights' identity is part of every result
        return super().compute()


def fd(real: Any, fake: Any, *, features: str = "dinov2", model: str | ViTConfig = "vitl14",
       weights: str | None = None, num_images: int | None = None, seed: int = 0, device: Any = None,
       batch_size: int = 64, cache: bool = True, quiet: bool = True, allow_download: bool = False,
       bootstrap: int = 0, **kw: Any) -> MetricResult | None:
    """Fréchet distance between two image sets on `features` (``"dinov2"``) of `model`.

    Either side may be a statistics ``.npz`` of the same extractor.  Other keywords are
    `ganeval.dinov2.features.extract_dinov2`'s (``workers``, ``content_hash``,
    ``allow_weights_mismatch`` and the `open_source` options).  ``bootstrap=B`` adds error bars
    from B resamples of the extracted features (`ganeval.metrics.uncertainty`).
    """
    from ..dinov2.features import extract_dinov2
    t0 = time.time()
    metric = FD(seed, device, model, weights, allow_download, features, bootstrap=bootstrap)
    metric.ask(num_images)
    args = dict(model=metric.config, weights=weights, features=bool(bootstrap), num_images=num_images, seed=seed,
                device=device, batch_size=batch_size, cache=cache, quiet=quiet, allow_download=allow_download, **kw)
    a, info = extract_dinov2(real, **args)
    b, _ = extract_dinov2(fake, **args)
    metric.load(a, b, info)
    result = metric.compute()  # None on ranks other than 0 under torchrun
    if result is not None:
        result.seconds = time.time() - t0
    return result


def run_fd_dinov2(real: Any, fake: Any, o) -> MetricResult | None:
    """The registry's runner: `RunOptions` without the Inception ``weights`` (DINOv2 finds its own)."""
    kw = o.inception_kw()
    kw.pop("weights", None)
    kw.pop("protocol", None)  # an Inception preprocessing rule; DINOv2 has its own (dgm-eval's)
    return fd(real, fake, bootstrap=o.bootstrap, **kw)
