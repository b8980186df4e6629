"""ganeval: GAN evaluation metrics with the ProGAN paper's protocols.

Public API: `swd`, `ms_ssim`, `ms_ssim_pairs`, `ssim`, `fid`, `inception_score`, `kid`,
`precision_recall`, `evaluate` and `open_source`; training-loop hooks live in
`ganeval.hooks`.  The Inception metrics import lazily, so ``import ganeval`` stays light.
"""
from __future__ import annotations

from typing import Any

from .errors import DataError, GanevalError, UsageError, WeightsError
from .msssim import ms_ssim, ms_ssim_pairs, ssim
from .results import MetricResult
from .sources import ImageSource, open_source
from .swd import swd

__version__ = "0.1.0"

_LAZY = {"fid": ("fid", "fid"), "inception_score": ("isc", "inception_score"), "kid": ("kid", "kid"),
         "precision_recall": ("prc", "precision_recall"), "evaluate": ("evaluate", "evaluate")}

__all__ = ["swd", "ms_ssim", "ms_ssim_pairs", "ssim", "open_source", "ImageSource", "MetricResult",
           "DataError", "UsageError", "WeightsError", "GanevalError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'ganeval' has no attribute {name!r}")
