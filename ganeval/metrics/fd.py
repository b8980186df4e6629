"""Fréchet distance on any registered feature extractor: FD_DINOv2 (Stein et al. 2023), FD_CLIP.

The distance is FID's (`ganeval.metrics.fid.frechet_distance`) on the Gaussians of the
extractor's features (`ganeval.features`): DINOv2 ViT-L/14 class tokens preprocessed as
dgm-eval does, CLIP image embeddings preprocessed as torch-fidelity does (``fd_clip``,
`FDCLIP`), or a user's own extractor.
A model other than the extractor's first (the paper's) is reported under its own key
(``FD_DINOv2_vitb14``), so it is never ranked against the paper's.

Weights are the extractor's own (``weights=`` / its environment variable / the caches, see
each package), never the Inception ``--weights``.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from .. import extractors as _extractors  # noqa: F401  (registers the built-in extractors)
from ..device import resolve_device
from ..errors import UsageError
from ..features.extract import extract_features
from ..features.extractor import Extractor
from ..features.registry import extractor_names, get_extractor, load_extractor
from ..features.stats import FeatureStats, load_stats
from ..results import MetricResult
from .base import StreamingMetric
from .fid import frechet_distance_of_stats
from .uncertainty import FeatureBootstrap, check_count

__all__ = ["fd", "fd_from_stats", "FD", "FDCLIP", "run_fd_dinov2", "run_fd_clip", "names_of"]


def names_of(net: Extractor) -> tuple[str, str]:
    """(metric name, value key) of the FD on `net`: ``fd_dinov2`` / ``FD_DINOv2`` and so on."""
    return f"fd_{net.label.lower()}", f"FD_{net.label}"


def fd_from_stats(a: FeatureStats, b: FeatureStats, net: Extractor, seed: int = 0) -> MetricResult:
    """FD between two sets' statistics under `net` (the warning for sets with fewer images
    than dimensions is `FD`'s, given once per result by `ganeval.counts`)."""
    name, key = names_of(net)
    value = frechet_distance_of_stats(a, b)
    return MetricResult(name, {key: value}, key, dict(net.settings), {"real": a.n, "fake": b.n}, seed)


class FD(FeatureBootstrap, StreamingMetric):
    """Streaming FD on a registered extractor's features: ``update(images, real=...)``; ``compute()``."""

    def __init__(self, seed: int = 0, device: Any = None, model: Any = None, weights: str | None = None,
                 allow_download: bool = False, features: str = "dinov2", *, bootstrap: int = 0) -> None:
        if features not in extractor_names():
            raise UsageError(f"unknown feature extractor {features!r}; choose from {', '.join(extractor_names())}")
        spec = get_extractor(features)
        self.features, self.model = features, model or spec.models[0]
        if isinstance(self.model, str) and self.model not in spec.models:
            raise UsageError(f"{features} has no model {self.model!r}; choose from {', '.join(spec.models)}")
        self.seed, self.device = seed, resolve_device(device)
        self.weights, self.allow_download = weights, allow_download
        self.net: Extractor | None = None
        self.bootstrap = check_count(bootstrap, "bootstrap")
        super().__init__()

    def _network(self) -> Extractor:
        if self.net is None:
            self.net = load_extractor(self.features, self.model, self.weights, self.device, self.allow_download)
            self.name = names_of(self.net)[0]
            # Fewer images than feature dimensions give a rank-deficient covariance (ganeval.counts).
            d = self.net.dim
            self.min_count = d
            self.minimum_note = (f"fewer than {d} images give a rank-deficient {d}x{d} covariance: FD is biased "
                                 "upward and not comparable with FDs on more images")
        return self.net

    @property
    def info(self) -> Any:
        return self.net.info if self.net is not None else None

    def _new(self, real: bool) -> FeatureStats:
        return FeatureStats(dim=self._network().dim, keep_features=bool(self.bootstrap))

    def _accumulate(self, acc: FeatureStats, images: torch.Tensor, start: int | None = None) -> None:
        acc.update(self._network().forward(images.to(self.device), False)[0], start=start)

    def set_real_stats(self, path: str, allow_weights_mismatch: bool = False) -> None:
        """Use a saved statistics ``.npz`` of the same extractor as the real side (same width and weights)."""
        net = self._network()
        self.real = net.check(path, load_stats(path, dim=net.dim, weights_sha256=net.sha256,
                                               allow_weights_mismatch=allow_weights_mismatch))
        self._real_synced = True
        self.real_ready = True

    def load(self, real: FeatureStats | None, fake: FeatureStats) -> None:
        """Take already extracted statistics for both sides (the one-shot path)."""
        if real is not None:
            self.real, self._real_synced = real, True
        self.fake = fake

    def _result(self, real: FeatureStats, fake: FeatureStats) -> MetricResult:
        return fd_from_stats(real, fake, self._network(), self.seed)

    def ask(self, num_images: int | None) -> None:
        self._network()  # the count rule needs the width
        super().ask(num_images)

    def measure(self, real: Any, fake: Any, num_images: int | None = None, **extract_kw: Any) -> MetricResult | None:
        """The one-shot path: one cached pass of the extractor over each set (rows kept when
        bootstrapping), `load`, and `compute()` with its wall time (None on ranks other than
        0 under torchrun).  `extract_kw` go to `extract_features`."""
        t0 = time.time()
        self.ask(num_images)
        net = self._network()
        args = dict(features=bool(self.bootstrap), num_images=num_images, **extract_kw)
        self.load(extract_features(net, real, **args), extract_features(net, fake, **args))
        result = self.compute()
        if result is not None:
            result.seconds = time.time() - t0
        return result


class FDCLIP(FD):
    """`FD` on CLIP features by default: the streaming class of ``fd_clip`` (ViT-B/32 unless `model`)."""

    def __init__(self, seed: int = 0, device: Any = None, model: Any = None, weights: str | None = None,
                 allow_download: bool = False, features: str = "clip", *, bootstrap: int = 0) -> None:
        super().__init__(seed, device, model, weights, allow_download, features, bootstrap=bootstrap)


def fd(real: Any, fake: Any, *, features: str = "dinov2", model: Any = None, weights: str | None = None,
       num_images: int | None = None, seed: int = 0, device: Any = None, batch_size: int = 64, cache: bool = True,
       quiet: bool = True, allow_download: bool = False, bootstrap: int = 0, **kw: Any) -> MetricResult | None:
    """Fréchet distance between two image sets on the features of registered extractor
    `features` (``"dinov2"``, ``"clip"``, ...) and its `model` (default: the extractor's first).

    Either side may be a statistics ``.npz`` of the same extractor.  Other keywords are
    `ganeval.features.extract_features`' (``workers``, ``content_hash``,
    ``allow_weights_mismatch`` and the `open_source` options).  ``bootstrap=B`` adds error bars
    from B resamples of the extracted features (`ganeval.metrics.uncertainty`).
    """
    metric = FD(seed, device, model, weights, allow_download, features, bootstrap=bootstrap)
    return metric.measure(real, fake, num_images=num_images, seed=seed, device=device, batch_size=batch_size,
                          cache=cache, quiet=quiet, **kw)


def _run(features: str, real: Any, fake: Any, o) -> MetricResult | None:
    kw = o.inception_kw()
    kw.pop("weights", None)  # the Inception weights; each extractor finds its own
    kw.pop("protocol", None)  # an Inception preprocessing rule; each extractor has its own
    return fd(real, fake, features=features, bootstrap=o.bootstrap, **kw)


def run_fd_dinov2(real: Any, fake: Any, o) -> MetricResult | None:
    """The registry's runner for ``fd_dinov2``: `RunOptions` without the Inception weights."""
    return _run("dinov2", real, fake, o)


def run_fd_clip(real: Any, fake: Any, o) -> MetricResult | None:
    """The registry's runner for ``fd_clip``: `RunOptions` without the Inception weights."""
    return _run("clip", real, fake, o)
