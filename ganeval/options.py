"""`RunOptions`: what every metric run takes, in one object.

The command line builds one from its flags, `evaluate` from its keyword arguments, and the
registry's one-shot runners and feature extraction read it, so an option is declared once
and reaches every metric the same way.  Public functions keep their typed keyword
signatures; this object is how they pass them on.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from .errors import UsageError

__all__ = ["RunOptions", "SEED_LIMIT", "check_seed", "check_count_arg", "check_input_range"]

# Seeds are 0 .. 2**32 - 1.  numpy's legacy RandomState (KID's subsets, torch-fidelity's
# convention) takes nothing wider, and the bootstrap folds its seed to 32 bits, so two seeds
# 2**32 apart would silently draw the same resamples; a negative seed has no meaning to numpy.
SEED_LIMIT = 2 ** 32


def check_seed(seed: Any, what: str = "seed") -> int:
    """`seed` as an int in ``0 .. SEED_LIMIT - 1``, or a `UsageError` naming `what`."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise UsageError(f"{what} {seed!r}: not an integer; give a whole number from 0 to {SEED_LIMIT - 1}")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise UsageError(f"{what} {int(seed)}: out of range; give a whole number from 0 to {SEED_LIMIT - 1}")
    return int(seed)


def check_count_arg(value: Any, what: str, minimum: int = 1) -> int:
    """`value` as an int of at least `minimum` (an image count, an interval), or a `UsageError`:
    ``2.5`` images or ``True`` images is a mistake, not a request to round."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{what} {value!r}: not a whole number; give an integer >= {minimum}")
    if int(value) < minimum:
        raise UsageError(f"{what} {int(value)}: must be at least {minimum}")
    return int(value)


def check_input_range(value: Any, what: str = "input_range") -> tuple[float, float] | None:
    """`value` as a (low, high) pair of finite floats with low < high (None stays None), or a
    `UsageError`: a reversed, empty or NaN range would map every pixel to garbage silently."""
    if value is None:
        return None
    try:
        low, high = value
        low, high = float(low), float(high)
        ok = not isinstance(value, (str, bytes)) and not any(isinstance(v, (bool, str, bytes)) for v in value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UsageError(f"{what} {value!r}: give a pair of numbers (low, high), e.g. (-1, 1) or (0, 1)")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UsageError(f"{what} {value!r}: both ends must be finite numbers, e.g. (-1, 1)")
    if not low < high:
        raise UsageError(f"{what} {value!r}: low must be below high, e.g. (-1, 1)")
    return (low, high)


@dataclasses.dataclass
class RunOptions:
    """Options shared by every metric run (see `ganeval.io.sources.open_source` for the source ones).

    `num_images` caps each set (None: each metric's default); `subset` is "first" or
    "random" (seeded by `seed`); `weights`, `cache`, `content_hash` and
    `allow_weights_mismatch` matter only to the Inception metrics, and so does `protocol`
    (whose preprocessing they reproduce: ``tf1``, ``clean`` or ``pytorch-fid``).  `bootstrap` (feature
    metrics) and `repeats` / `redraw` (SWD) ask for error bars (`ganeval.metrics.uncertainty`);
    they never change the values themselves.
    """

    num_images: int | None = None
    subset: str = "first"
    seed: int = 0
    batch_size: int = 64
    workers: int | None = None
    device: Any = None
    resize: int | None = None
    recursive: bool = False
    skip_bad: bool = False
    input_range: tuple[float, float] | None = None
    quiet: bool = True
    weights: str | None = None
    cache: bool = True
    content_hash: bool = False
    allow_weights_mismatch: bool = False
    protocol: str = "tf1"
    bootstrap: int = 0
    repeats: int = 0
    redraw: str = "patches"

    def __post_init__(self) -> None:
        # Checked here, where every API run's options are made, so a bad value is a usage
        # error before any image is read rather than a numpy error deep inside a metric.
        self.seed = check_seed(self.seed)
        if self.num_images is not None:
            self.num_images = check_count_arg(self.num_images, "num_images")
        self.batch_size = check_count_arg(self.batch_size, "batch_size")
        self.input_range = check_input_range(self.input_range)

    @classmethod
    def take(cls, kwargs: dict[str, Any]) -> "RunOptions":
        """Build options from `kwargs`, removing the keys it used (the rest stay in `kwargs`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})

    def uncertainty_kw(self) -> dict[str, Any]:
        """The error-bar options, for `MetricSpec.make` (each class takes the ones it knows)."""
        return dict(bootstrap=self.bootstrap, repeats=self.repeats, redraw=self.redraw)

    def source_kw(self) -> dict[str, Any]:
        """Keyword arguments of `open_source` other than the count and seed."""
        return dict(subset=self.subset, recursive=self.recursive, resize=self.resize, skip_bad=self.skip_bad,
                    input_range=self.input_range)

    def stream_kw(self) -> dict[str, Any]:
        """Keyword arguments every one-shot metric function takes, except the image count."""
        return dict(seed=self.seed, device=self.device, batch_size=self.batch_size, workers=self.workers,
                    quiet=self.quiet, **self.source_kw())

    def inception_kw(self) -> dict[str, Any]:
        """Keyword arguments of `ganeval.inception.features.extract` (count included)."""
        return dict(num_images=self.num_images, weights=self.weights, cache=self.cache,
                    content_hash=self.content_hash, allow_weights_mismatch=self.allow_weights_mismatch,
                    protocol=self.protocol, **self.stream_kw())
