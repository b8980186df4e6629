"""`RunOptions`: what every metric run takes, in one object.

The command line builds one from its flags, `evaluate` from its keyword arguments, and the
registry's one-shot runners and feature extraction read it, so an option is declared once
and reaches every metric the same way.  Public functions keep their typed keyword
signatures; this object is how they pass them on.
"""
from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["RunOptions"]


@dataclasses.dataclass
class RunOptions:
    """Options shared by every metric run (see `ganeval.io.sources.open_source` for the source ones).

    `num_images` caps each set (None: each metric's default); `subset` is "first" or
    "random" (seeded by `seed`); `weights`, `cache`, `content_hash` and
    `allow_weights_mismatch` matter only to the Inception metrics.  `bootstrap` (feature
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
    bootstrap: int = 0
    repeats: int = 0
    redraw: str = "patches"

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
                    **self.stream_kw())
