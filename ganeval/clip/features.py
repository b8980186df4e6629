"""CLIP as a generic `ganeval.features.Extractor`, loaded once per process and setting.

The pass over a set is `ganeval.features.extract_features`, shared by every extractor: cached
under a key holding the set, its options, the extractor id (model, preprocessing) and the
weights sha256.  `extractor(..., preprocessing="torch-fidelity")` is FD_CLIP's (registered as
``clip``); ``preprocessing="cmmd"`` is CMMD's (`ganeval.metrics.cmmd` loads it directly).
"""
from __future__ import annotations

import os
from typing import Any

from ..device import resolve_device
from ..errors import DataError
from ..features.extractor import Extractor
from ..features.stats import FeatureStats
from .network import CLIPConfig, CLIPExtractor
from .weights import ENV, CLIPWeightsInfo, config_of, load_clip

_MODELS: dict[tuple, tuple[CLIPExtractor, CLIPWeightsInfo]] = {}


def clip(model: str | CLIPConfig = "vitb32", weights: str | None = None, device: Any = None,
         allow_download: bool = False, preprocessing: str = "torch-fidelity") -> tuple[CLIPExtractor, CLIPWeightsInfo]:
    """The loaded network and its info, once per process, model, weights, device and preprocessing."""
    dev = resolve_device(device)
    key = (config_of(model), weights, os.environ.get(ENV), str(dev), preprocessing)
    if key not in _MODELS:
        _MODELS[key] = load_clip(model, weights, dev, allow_download, preprocessing)
    return _MODELS[key]


def _check_stats(path: Any, stats: FeatureStats, net: CLIPExtractor) -> FeatureStats:
    recorded = getattr(stats, "meta", {}).get("extractor")
    if recorded and recorded != net.extractor_id:
        raise DataError(f"{path}: statistics of {recorded!r}, not of {net.extractor_id!r}; recompute them")
    return stats


def extractor(model: str | CLIPConfig = "vitb32", weights: str | None = None, device: Any = None,
              allow_download: bool = False, preprocessing: str = "torch-fidelity") -> Extractor:
    """CLIP as a generic `Extractor`: the projected image embedding (not normalised), labelled
    ``CLIP`` (ViT-B/32, FD_CLIP's default) or ``CLIP_<model>`` (``CLIP_vitl14``); CMMD's
    preprocessing adds ``_cmmd`` so its features are never taken for FD_CLIP's."""
    net, info = clip(model, weights, device, allow_download, preprocessing)
    cfg = net.vit.config
    label = "CLIP" if cfg.name == "vitb32" else f"CLIP_{cfg.name.replace('-', '_')}"
    if preprocessing != "torch-fidelity":
        label += f"_{preprocessing}"
    settings = {"network": net.name, "feature": "projected image embedding", "preprocessing": preprocessing,
                "resize": {"torch-fidelity": f"tf1-bilinear-{cfg.resolution}",
                           "cmmd": f"centre-crop pil-bicubic-{cfg.resolution}"}[preprocessing],
                "normalize": "clip-mean-std", "weights_sha256": info.sha256, "weights_format": info.format}
    return Extractor(net.name, net.extractor_id, net.dim, info.sha256, lambda x, lg: (net(x), None), label=label,
                     settings=settings, check=lambda path, stats: _check_stats(path, stats, net), info=info)


def load(model: str | None = None, weights: str | None = None, device: Any = None,
         allow_download: bool = False) -> Extractor:
    """The registry's loader (`ganeval.features.ExtractorSpec.load`): FD_CLIP's preprocessing."""
    return extractor(model or "vitb32", weights, device, allow_download)
