"""ganeval: GAN evaluation metrics with the ProGAN paper's protocols.

Public API: `swd`, `ms_ssim`, `ms_ssim_pairs`, `ssim`, `fid`, `inception_score`, `kid`,
`precision_recall`, `evaluate` and `open_source`; training-loop hooks live in
`ganeval.hooks`.
"""
from __future__ import annotations

from .errors import DataError, GanevalError, UsageError, WeightsError
from .msssim import ms_ssim, ms_ssim_pairs, ssim
from .results import MetricResult
from .sources import ImageSource, open_source
from .swd import swd

__version__ = "0.1.0"

# Functions are bound after their modules load, so `ganeval.fid` is the function, not the module.
from .evaluate import evaluate  # noqa: E402
from .fid import fid  # noqa: E402
from .isc import inception_score  # noqa: E402
from .kid import kid  # noqa: E402
from .prc import precision_recall  # noqa: E402

__all__ = ["swd", "ms_ssim", "ms_ssim_pairs", "ssim", "fid", "inception_score", "kid", "precision_recall",
           "evaluate", "open_source", "ImageSource", "MetricResult", "DataError", "UsageError", "WeightsError",
           "GanevalError", "__version__"]
