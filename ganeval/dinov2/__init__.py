"""DINOv2 as a feature extractor beside Inception (FD_DINOv2, Stein et al. 2023).

A *feature extractor* in ganeval is anything with this shape (`FeatureExtractor`):

* ``name``: a short id (``"dinov2-vitl14"``; Inception's is ``"inception-2015-12-05"``);
* ``dim``: the feature width (1024 for ViT-L/14, 768 for ViT-B/14; pool3 is 2048);
* ``weights_sha256``: the sha256 of the weights file, recorded in results and cache keys;
* ``extractor_id``: everything else that changes the features (resize, normalisation, layer),
  also part of the cache key;
* ``preprocess(uint8 RGB NCHW) -> float`` network input, on the images' device;
* ``__call__(uint8 RGB NCHW) -> (N, dim)`` float32 features.

`DINOv2Extractor` satisfies it.  The Inception network satisfies it conceptually: its
preprocessing is the TF1 bilinear resize to 299 and ``(x - 128) / 128``, its features are
``model(x, with_logits=False)[0]`` and its identity is ``inception.features.EXTRACTOR`` plus the
`WeightsInfo` sha256.  Statistics of any extractor are a `ganeval.inception.stats.FeatureStats`
of width ``dim``, cached under a key holding the extractor id and the weights sha256.

DINOv2 here is ganeval's own compact ViT (`network`) loading the official
``facebookresearch/dinov2`` hub checkpoints key for key (`weights`), with dgm-eval's
preprocessing reproduced bit for bit (`preprocess`), and `features.extract_dinov2` for one
cached pass per set.  The metric is `ganeval.metrics.fd`.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from .network import ARCHS, DINOv2Extractor, DinoVisionTransformer, ViTConfig
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, pil_bicubic_resize, preprocess
from .weights import DINOv2WeightsInfo, download, load_dinov2


@runtime_checkable
class FeatureExtractor(Protocol):
    """What ganeval needs from a feature network (see the package docstring)."""

    name: str
    dim: int
    weights_sha256: str

    @property
    def extractor_id(self) -> str: ...

    def preprocess(self, images: torch.Tensor) -> torch.Tensor: ...

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


__all__ = ["ARCHS", "DINOv2Extractor", "DINOv2WeightsInfo", "DinoVisionTransformer", "FeatureExtractor",
           "IMAGENET_MEAN", "IMAGENET_STD", "ViTConfig", "download", "load_dinov2", "pil_bicubic_resize",
           "preprocess"]
