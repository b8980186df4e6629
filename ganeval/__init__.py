"""ganeval: GAN evaluation metrics with the ProGAN paper's protocols.

Public API: `swd`, `ms_ssim`, `ms_ssim_pairs`, `ssim`, `fid`, `inception_score`, `kid`,
`precision_recall`, `evaluate` and `open_source`; training-loop hooks live in
`ganeval.hooks`.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import DataError, GanevalError, UsageError, WeightsError
from .results import MetricResult

__version__ = "0.1.0"

# The API is imported on first use (PEP 562): `ganeval --version`, `--help` and every
# command's --help need none of it, and importing torch took most of a 20 s start on a busy
# machine (tests/ganeval/cli/test_startup.py keeps it that way).
_LAZY = {"ImageSource": "io.sources", "open_source": "io.sources", "fid": "metrics.fid",
         "inception_score": "metrics.isc", "kid": "metrics.kid", "precision_recall": "metrics.prc", "swd": "metrics.swd",
         "ms_ssim": "metrics.msssim", "ms_ssim_pairs": "metrics.msssim", "ssim": "metrics.msssim",
         "ppl": "metrics.ppl", "sfid": "metrics.sfid", "mifid": "metrics.mifid", "neighbours": "metrics.neighbours",
         "cmmd": "metrics.cmmd"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # once: later lookups do not come back here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# Eager, and after __version__ (the metric modules read it): the submodule of the same name
# would otherwise shadow the function once anything imports ``ganeval.evaluate``.  It is
# light: the metric registry loads metric modules only when a metric runs.
from .evaluate import evaluate  # noqa: E402


__all__ = ["swd", "ms_ssim", "ms_ssim_pairs", "ssim", "fid", "inception_score", "kid", "precision_recall", "ppl",
           "sfid", "mifid", "neighbours", "evaluate", "open_source", "ImageSource", "MetricResult", "DataError",
           "UsageError", "WeightsError", "GanevalError", "__version__"]
