"""The 2015-12-05 Inception network, its TF1 resize, and its weight files.

Registers itself as the ``inception`` feature extractor (`ganeval.features.registry`).
"""
from importlib import import_module
from typing import Any

from ..features.registry import ExtractorSpec, register_extractor
from ..lazy import LazyRef
from .names import owns

__all__ = ["InceptionV3FID", "WeightsInfo", "load_inception"]
# Imported on first use: `ganeval.inception.names` (the CLI's --protocol choices) needs no torch.
_LAZY = {"InceptionV3FID": "network", "WeightsInfo": "weights", "load_inception": "weights"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_extractor(ExtractorSpec(
    "inception", "2015-12-05 Inception, pool3 and logits (FID, KID, PR, IS)", LazyRef(f"{__name__}.features:load"),
    models=("2015-12-05",), owns=owns))
register_extractor(ExtractorSpec(
    "inception-sfid", "2015-12-05 Inception, mixed_6/conv first 7 channels, 2023-d (sFID, Nash et al. 2021)",
    LazyRef(f"{__name__}.features:load_sfid"), models=("2015-12-05",)))  # its weights are inception's
