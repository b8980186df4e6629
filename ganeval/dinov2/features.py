"""One cached DINOv2 pass per image set -> `FeatureStats`.

The pass itself is `ganeval.features.extract_features`, shared with every extractor:
statistics ``.npz`` files stand in for sets (checked for width, weights sha256 and the
extractor they record), results are cached under a key holding the set's fingerprint, the
source options, the extractor id and the weights sha256, and rank 0 alone reads and writes the
cache under torchrun.
"""
from __future__ import annotations

import os
from typing import Any

from ..device import resolve_device
from ..errors import DataError
from ..features.extract import extract_features
from ..features.extractor import Extractor
from ..features.stats import FeatureStats
from .network import DINOv2Extractor, ViTConfig
from .weights import ENV, DINOv2WeightsInfo, config_of, load_dinov2

_MODELS: dict[tuple, tuple[DINOv2Extractor, DINOv2WeightsInfo]] = {}


def dinov2(model: str | ViTConfig = "vitl14", weights: str | None = None, device: Any = None,
           allow_download: bool = False) -> tuple[DINOv2Extractor, DINOv2WeightsInfo]:
    """The loaded extractor and its info, once per process, model, weights file and device."""
    dev = resolve_device(device)
    key = (config_of(model), weights, os.environ.get(ENV), str(dev))
    if key not in _MODELS:
        _MODELS[key] = load_dinov2(model, weights, dev, allow_download)
    return _MODELS[key]


def _check_stats(path: Any, stats: FeatureStats, net: DINOv2Extractor) -> FeatureStats:
    recorded = getattr(stats, "meta", {}).get("extractor")
    if recorded and recorded != net.extractor_id:
        raise DataError(f"{path}: statistics of {recorded!r}, not of {net.extractor_id!r}; recompute them")
    return stats


def extractor(model: str | ViTConfig = "vitl14", weights: str | None = None, device: Any = None,
              allow_download: bool = False) -> Extractor:
    """DINOv2 as a generic `Extractor`: class tokens after the final norm, dgm-eval's
    preprocessing, labelled ``DINOv2`` (ViT-L/14, the paper's) or ``DINOv2_<model>``."""
    net, info = dinov2(model, weights, device, allow_download)
    name = net.vit.config.name
    settings = {"network": f"dinov2-{name}", "feature": "cls-token final-norm", "resize": "pil-bicubic-224",
                "normalize": "imagenet-mean-std", "weights_sha256": info.sha256, "weights_format": info.format}
    return Extractor(net.name, net.extractor_id, net.dim, info.sha256, lambda x, lg: (net(x), None),
                     label="DINOv2" if name == "vitl14" else f"DINOv2_{name}", settings=settings,
                     check=lambda path, stats: _check_stats(path, stats, net), info=info)


def load(model: str | None = None, weights: str | None = None, device: Any = None,
         allow_download: bool = False) -> Extractor:
    """The registry's loader (`ganeval.features.ExtractorSpec.load`)."""
    return extractor(model or "vitl14", weights, device, allow_download)


def extract_dinov2(source: Any, *, model: str | ViTConfig = "vitl14", weights: str | None = None,
                   features: bool = False, num_images: int | None = None, subset: str = "first", seed: int = 0,
                   batch_size: int = 64, device: Any = None, workers: int | None = None, cache: bool = True,
                   content_hash: bool = False, quiet: bool = True, allow_weights_mismatch: bool = False,
                   allow_download: bool = False, **source_kw: Any) -> tuple[FeatureStats, DINOv2WeightsInfo]:
    """DINOv2 statistics of one image set (or a statistics ``.npz`` of the same width), computed
    once and cached as every extractor's are (`ganeval.features.extract_features`)."""
    net = extractor(model, weights, device, allow_download)
    stats = extract_features(net, source, features=features, num_images=num_images, subset=subset, seed=seed,
                             batch_size=batch_size, device=device, workers=workers, cache=cache,
                             content_hash=content_hash, quiet=quiet, allow_weights_mismatch=allow_weights_mismatch,
                             **source_kw)
    return stats, net.info
