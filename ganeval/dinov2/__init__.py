"""DINOv2 as a feature extractor beside Inception (FD_DINOv2, Stein et al. 2023).

Registers itself as the ``dinov2`` feature extractor (`ganeval.features.registry`); its
loaded form is a generic `ganeval.features.Extractor` (`features.extractor`).  The network
object itself has this shape (`FeatureExtractor`):

* ``name``: a short id (``"dinov2-vitl14"``; Inception's is ``"inception-2015-12-05"``);
* ``dim``: the feature width (1024 for ViT-L/14, 768 for ViT-B/14; pool3 is 2048);
* ``weights_sha256``: the sha256 of the weights file, recorded in results and cache keys;
* ``extractor_id``: everything else that changes the features (resize, normalisation, layer),
  also part of the cache key;
* ``preprocess(uint8 RGB NCHW) -> float`` network input, on the images' device;
* ``__call__(uint8 RGB NCHW) -> (N, dim)`` float32 features.

`DINOv2Extractor` satisfies it.  Statistics of any extractor are a
`ganeval.features.stats.FeatureStats` of width ``dim``, cached under a key holding the
extractor id and the weights sha256.

DINOv2 here is ganeval's own compact ViT (`network`) loading the official
``facebookresearch/dinov2`` hub checkpoints key for key (`weights`), with dgm-eval's
preprocessing reproduced bit for bit (`preprocess`), and `features.extract_dinov2` for one
cached pass per set.  The metric is `ganeval.metrics.fd`.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from ..features.registry import ExtractorSpec, register_extractor
from ..lazy import LazyRef

MODELS = ("vitl14", "vitb14")  # the first is FD_DINOv2's (Stein et al. 2023)
SHA_SUFFIX = ".sha256"


def file_name(model: str) -> str:
    """The hub checkpoint's file name of `model` (``dinov2_vitl14_pretrain.pth``)."""
    return f"dinov2_{model}_pretrain.pth"


def owns(name: str) -> bool:
    """Whether a file in ganeval's cache dir is a DINOv2 checkpoint (or its sha256 record)
    that ``ganeval weights --features dinov2 --download`` put there."""
    return any(name == file_name(m) + suffix for m in MODELS for suffix in ("", SHA_SUFFIX))


# Imported on first use: registering the extractor and listing metrics need no torch.
_LAZY = {"ARCHS": "network", "DINOv2Extractor": "network", "DinoVisionTransformer": "network",
         "ViTConfig": "network", "IMAGENET_MEAN": "preprocess", "IMAGENET_STD": "preprocess",
         "pil_bicubic_resize": "preprocess", "preprocess": "preprocess", "DINOv2WeightsInfo": "weights",
         "download": "weights", "load_dinov2": "weights", "FeatureExtractor": "protocol"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)

register_extractor(ExtractorSpec(
    "dinov2", "DINOv2 ViT class token, dgm-eval preprocessing (FD_DINOv2)", LazyRef(f"{__name__}.features:load"),
    models=MODELS, owns=owns))
