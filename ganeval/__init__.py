"""ganeval: GAN evaluation metrics with the ProGAN paper's protocols.

Public API: `swd`, `ms_ssim`, `ms_ssim_pairs`, `ssim`, `open_source`, and (when the
Inception modules are present) `fid`, `inception_score`, `kid`, `precision_recall`.
"""
from __future__ import annotations

from .errors import DataError, GanevalError, UsageError
from .msssim import ms_ssim, ms_ssim_pairs, ssim
from .results import MetricResult
from .sources import ImageSource, open_source
from .swd import swd

__version__ = "0.1.0"

__all__ = ["swd", "ms_ssim", "ms_ssim_pairs", "ssim", "open_source", "ImageSource", "MetricResult",
           "DataError", "UsageError", "GanevalError", "__version__"]
