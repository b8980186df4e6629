"""ganeval: GAN evaluation metrics with the ProGAN paper's protocols.

Public API: `swd`, `ms_ssim`, `ms_ssim_pairs`, `ssim`, `fid`, `inception_score`, `kid`,
`precision_recall`, `evaluate` and `open_source`; training-loop hooks live in
`ganeval.hooks`.
"""
from __future__ import annotations

from .errors import DataError, GanevalError, UsageError, WeightsError
from .results import MetricResult
from .io.sources import ImageSource, open_source

__version__ = "0.1.0"

# After __version__: the metric modules read it.
from .evaluate import evaluate  # noqa: E402
from .metrics import fid, inception_score, kid, precision_recall, swd  # noqa: E402
from .metrics.msssim import ms_ssim, ms_ssim_pairs, ssim  # noqa: E402

__all__ = ["swd", "ms_ssim", "ms_ssim_pairs", "ssim", "fid", "inception_score", "kid", "precision_recall",
           "evaluate", "open_source", "ImageSource", "MetricResult", "DataError", "UsageError", "WeightsError",
           "GanevalError", "__version__"]
