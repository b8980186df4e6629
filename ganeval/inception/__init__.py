"""The 2015-12-05 Inception network, its TF1 resize, and its weight files."""
from importlib import import_module
from typing import Any

__all__ = ["InceptionV3FID", "WeightsInfo", "load_inception"]
# Imported on first use: `ganeval.inception.names` (the CLI's --protocol choices) needs no torch.
_LAZY = {"InceptionV3FID": "network", "WeightsInfo": "weights", "load_inception": "weights"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
