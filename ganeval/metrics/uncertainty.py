"""Error bars for every metric: seed repeats (SWD) and the bootstrap (feature metrics).

Two ways to redraw the randomness behind a number, one record format for both:

* **repeats** (SWD): the estimate is recomputed with seeds ``seed, seed+1, ..., seed+K-1``;
  replicate 0 is the usual single value, so the headline number never changes.  The 95%
  interval is Student's t interval for the mean over seeds: what the protocol gives on
  average over its own random patches and directions.
* **bootstrap** (FID, IS, KID, PR, density/coverage, FD_DINOv2): the images of each set are
  resampled with replacement B times from the features already extracted (no image is read
  again) and the metric is recomputed on each resample.  Resampling duplicates images, which
  biases most of these estimators (FID, the k-NN metrics) by about as much as their own
  finite-sample bias, so the interval is the *centred* percentile interval
  ``value - (q97.5 - mean*), value - (q2.5 - mean*)``: the spread of the replicates around
  their own mean, placed around the measured value.  It is an interval for the protocol's
  value at this image count (the number another draw of the same number of images would
  give on average), which is what comparisons at equal image count need.

Index draws depend only on ``(seed, side, replicate, set size)``: two results measured against
the same reference set with the same seed and counts saw the *same* resamples, so their
replicate differences form a paired bootstrap (`paired_difference`), and two results of the
same images have identical replicates, never a "significant" difference.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DataError, UsageError

__all__ = ["LEVEL", "resample_indices", "summarize", "bootstrap", "bootstrap_stats", "FeatureBootstrap",
           "paired_difference", "check_count"]

LEVEL = 0.95
_TAG = 0x62737472  # separates these draws from every other use of the seed


def check_count(n: int, what: str) -> int:
    """`n` repeats or bootstrap replicates as an int; 0 or 1 means none, 2+ are needed for a spread."""
    n = int(n)
    if n < 0 or n == 1:
        raise UsageError(f"{what} {n}: give 0 (off) or at least 2 to estimate a spread")
    return n


def resample_indices(n: int, seed: int, replicate: int, side: int) -> np.ndarray:
    """`n` indices drawn with replacement from ``range(n)`` for one side (0 real, 1 fake) of one
    bootstrap replicate; a pure function of its arguments (see the module docstring)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, _TAG, int(side), int(replicate), int(n)])
    return rng.integers(0, n, size=n)


def _t975(dof: int) -> float:
    from scipy.stats import t
    return float(t.ppf(0.5 + LEVEL / 2, dof))


def _interval(value: float, reps: np.ndarray, method: str) -> tuple[float, float]:
    if method == "repeats":
        half = _t975(len(reps) - 1) * reps.std(ddof=1) / math.sqrt(len(reps))
        return float(reps.mean() - half), float(reps.mean() + half)
    lo_q, hi_q = np.quantile(reps, [0.5 - LEVEL / 2, 0.5 + LEVEL / 2])
    m = reps.mean()
    return float(value - (hi_q - m)), float(value - (lo_q - m))


def summarize(value: float, replicates: Sequence[float], method: str, seed: int, **meta: Any) -> dict[str, Any]:
    """The uncertainty record of one value: method, count, seed, mean, std (ddof 1), the 95%
    interval ``lo``..``hi`` (see the module docstring), the replicates themselves (for paired
    comparisons later) and `meta` (what was redrawn, set sizes)."""
    reps = np.asarray(replicates, dtype=np.float64)
    if not np.isfinite(reps).all():
        bad = int(np.flatnonzero(~np.isfinite(reps))[0])
        raise DataError(f"{method} replicate {bad} came out {reps[bad]}; the spread cannot be estimated "
                        "(too few distinct images?)")
    lo, hi = _interval(value, reps, method)
    return {"method": method, "n": len(reps), "seed": int(seed), "level": LEVEL, "mean": float(reps.mean()),
            "std": float(reps.std(ddof=1)), "lo": lo, "hi": hi, **meta, "replicates": reps.tolist()}


def bootstrap(values: dict[str, float], replicate: Callable[[np.ndarray | None, np.ndarray], dict[str, float]],
              n_real: int | None, n_fake: int, count: int, seed: int) -> dict[str, dict[str, Any]]:
    """Uncertainty records for `values` from `count` bootstrap replicates.

    ``replicate(real_idx, fake_idx)`` recomputes the metric on the resampled rows (`real_idx`
    None when the real side is fixed: a metric of the fakes alone, or statistics without
    kept features).  Warnings inside replicates (small-set notices) were already given for
    the full sets and are not repeated B times.
    """
    for side, n in (("real", n_real), ("fake", n_fake)):
        if n is not None and n < 2:
            # Every resample of one item is that item: the "spread" would be a zero-width interval.
            raise DataError(f"the bootstrap cannot resample a {side} set of {n} (images, or pairs for MS-SSIM); "
                            "a spread needs at least 2")
    reps: dict[str, list[float]] = {k: [] for k in values}
    for b in range(count):
        ridx = None if n_real is None else resample_indices(n_real, seed, b, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = replicate(ridx, resample_indices(n_fake, seed, b, 1))
        for k in reps:
            reps[k].append(out[k])
    resampled = ["fake"] if n_real is None else ["real", "fake"]
    sizes = {"fake": n_fake} if n_real is None else {"real": n_real, "fake": n_fake}
    return {k: summarize(values[k], r, "bootstrap", seed, resampled=resampled, sizes=sizes) for k, r in reps.items()}


def bootstrap_stats(values: dict[str, float], real: Any, fake: Any, count: int, seed: int,
                    recompute: Callable[[Any, Any], Any]) -> dict[str, dict[str, Any]]:
    """`bootstrap` for metrics of feature statistics (`FeatureStats` sides; `real` None for a
    metric of the fakes alone).  ``recompute(real, fake)`` is the metric's result function;
    each replicate hands it `ResampledStats` of the kept rows.  A real side without kept rows
    (statistics read from a ``.npz`` of mu and sigma) stays fixed, with a warning, and the
    records say only the fakes were resampled."""
    from ..features.stats import ResampledStats

    def rows(st: Any) -> tuple[Any, Any]:
        return (st.all_features() if st.features else None), (st.all_logits() if st.logits else None)

    ff, lf = rows(fake)
    if ff is None and lf is None:
        raise DataError("the bootstrap resamples kept features, and the fake statistics hold none; extract them "
                        "with features=True (or save them with `ganeval stats --features`)")
    fr = lr = None
    if real is not None:
        fr, lr = rows(real)
        if fr is None and lr is None:
            warnings.warn("the real statistics hold only mu and sigma, so the bootstrap resamples only the fakes "
                          "and the interval leaves out the real set's sampling error (save them with "
                          "`ganeval stats --features` to resample both)", stacklevel=3)
    n_real = None if fr is None and lr is None else real.n

    def replicate(ridx: np.ndarray | None, fidx: np.ndarray) -> dict[str, float]:
        r = real if ridx is None else ResampledStats(fr, lr, ridx, real.dim)
        return recompute(r, ResampledStats(ff, lf, fidx, fake.dim)).values

    return bootstrap(values, replicate, n_real, fake.n, count, seed)


class FeatureBootstrap:
    """Mixin of the streaming metrics of feature statistics (Inception's and FD_DINOv2): with
    ``self.bootstrap`` B set, `compute` attaches `bootstrap_stats` error bars, recomputing
    ``self._result`` on each resample."""

    bootstrap = 0

    def _with_uncertainty(self, result: Any, real: Any, fake: Any) -> Any:
        if self.bootstrap:
            result.uncertainty = bootstrap_stats(result.values, real if self.uses_real else None, fake,
                                                 self.bootstrap, self.seed, self._result)
        return result


def _pairing_problem(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    for key in ("method", "n", "seed", "sizes", "redrawn", "resampled"):
        if a.get(key) != b.get(key):
            return f"their {key} differ ({a.get(key)!r} vs {b.get(key)!r})"
    return None


def paired_difference(value_a: float, unc_a: dict[str, Any], value_b: float, unc_b: dict[str, Any]
                      ) -> dict[str, Any]:
    """The difference a - b with its 95% interval from paired replicates, and whether it is
    significant (the interval excludes 0).

    Pairing needs the same method, count, seed and set sizes (so replicate i of both saw the
    same draws); otherwise the comparison is refused with the reason in ``"error"``.
    """
    problem = _pairing_problem(unc_a, unc_b)
    if problem:
        return {"difference": value_a - value_b, "significant": None, "error": f"cannot pair: {problem}"}
    d = np.asarray(unc_a["replicates"], np.float64) - np.asarray(unc_b["replicates"], np.float64)
    lo, hi = _interval(value_a - value_b, d, unc_a["method"])
    return {"difference": value_a - value_b, "lo": lo, "hi": hi, "significant": bool(lo > 0 or hi < 0),
            "method": unc_a["method"], "n": unc_a["n"]}
