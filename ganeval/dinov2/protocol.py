"""The shape of a feature network object in ganeval (see the package docstring)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


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
