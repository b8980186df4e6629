"""Statistics over seeds for the trainer's learning benchmarks."""
from __future__ import annotations

import math

import numpy as np


def mean_ci(values: list[float]) -> dict[str, float]:
    """Mean, sample std and the 95% Student-t half-width over seeds."""
    from scipy import stats
    a = np.asarray(values, np.float64)
    n = len(a)
    std = float(a.std(ddof=1)) if n > 1 else math.nan
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else math.nan
    return dict(mean=float(a.mean()), std=std, ci95=half, n=n, values=[float(v) for v in a])
