"""The one shape every metric has: a streaming object with update/compute/reset/merge.

A metric module defines a subclass of `StreamingMetric` that says how to make an accumulator
(`_new`), what to feed it (`_accumulate`) and how to turn accumulators into a `MetricResult`
(`_result`).  The module's one-shot function (``ganeval.swd`` and friends) streams the image
sets into that same object and calls `compute`, so the one-shot and streaming results are
built by the same code and agree in values and settings.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import dist
from ..counts import check_counts
from ..errors import UsageError
from ..options import check_input_range, check_seed
from ..results import MetricResult, provenance
from ..io.sources import to_uint8

__all__ = ["StreamingMetric"]


class StreamingMetric:
    """Base of the streaming metrics: ``update(images, real=...)``, ``compute()``, ``reset()``.

    Sets the metric does not need real images for raise on ``update(real=True)``.  Under
    torch.distributed each rank updates with its share; ``compute()`` merges every rank's
    accumulators on rank 0 (the real side once: it is reused across calls) and returns None
    on the other ranks.
    """

    name = "metric"
    uses_real = True

    def __init__(self) -> None:
        # Every metric object (one-shot functions, evaluate, the Evaluator, the hooks) is built
        # here, so this is the one place the API's seeds are checked: a negative or too wide
        # seed is a usage error, not a numpy error from deep inside a metric.
        if hasattr(self, "seed"):
            self.seed = check_seed(self.seed)
        self.reset(real=True)

    # -- what a metric module defines ------------------------------------------------
    def _new(self, real: bool) -> Any:
        raise NotImplementedError

    def _accumulate(self, acc: Any, images: torch.Tensor, start: int | None = None) -> None:
        acc.update(images)

    def _result(self, real: Any, fake: Any) -> MetricResult:
        raise NotImplementedError

    # -- the streaming API -----------------------------------------------------------
    def reset(self, real: bool = True) -> None:
        """Clear the fakes, and the reals too unless ``real=False`` (a fixed real set is kept)."""
        if real:
            self.real = self._new(True) if self.uses_real else None
            self._real_synced = False
        self.fake = self._new(False)

    def update(self, images: Any, real: bool = False, input_range: tuple[float, float] | None = None,
               start: int | None = None) -> None:
        """Add a batch of real or fake images (uint8, or floats with `input_range`).

        `start` is the index of the batch's first image in its whole set, for distributed
        runs where each process sees a share (default: the batch follows the previous one).
        """
        if real and not self.uses_real:
            raise UsageError(f"{self.name} measures the fake set alone; update it with fakes only")
        input_range = check_input_range(input_range)
        self._accumulate(self.real if real else self.fake, to_uint8(images, input_range, name="images"), start)

    def merge(self, other: "StreamingMetric") -> None:
        """Fold another object's accumulated images (e.g. another process's) into this one."""
        if self.uses_real:
            self.real.merge(other.real)
        self.fake.merge(other.fake)

    def compute(self) -> MetricResult | None:
        """The metric over everything updated so far; None on ranks other than 0."""
        if self.uses_real and not self._real_synced:
            merged = dist.reduce_to_rank0(self.real)
            self.real = merged if merged is not None else self.real
            self._real_synced = True
        counts = self._skipped_counts()
        fake = dist.reduce_to_rank0(self.fake)
        if fake is None:
            return None
        result = self._with_uncertainty(self._result(self.real, fake), self.real, fake)
        if counts:  # files a --skip-bad run left out change the numbers: they are part of the settings
            result.settings["skipped_files"] = counts
        self._check_counts(result)
        result.provenance = provenance(self._inputs(), getattr(self, "device", None) or result.settings.get("device"))
        return result

    # -- counts and provenance: every result, one-shot or streamed, gets them here ------
    #: What `requested` counts ("images" per set; MS-SSIM: "pairs"), the floor under which the
    #: value is known to be biased (FID: 2048) and why.  See `ganeval.counts`.
    count_unit = "images"
    min_count: int | None = None
    minimum_note = ""
    #: The count this run asked for (`ask`); None: every image given.
    requested: int | None = None
    #: Provenance records of the inputs (`ganeval.io.inputs.input_record`) per set, set by the
    #: one-shot functions; None: taken from the accumulators (extracted statistics carry theirs).
    inputs: dict[str, dict[str, Any]] | None = None

    def ask(self, num_images: int | None) -> None:
        """Say how many images per set this run asked for (None: all), so that `compute` warns
        and records it when a set holds fewer (`ganeval.counts`)."""
        self.requested = num_images

    def _used(self, result: MetricResult) -> Any:
        return dict(result.num_images)

    def _check_counts(self, result: MetricResult) -> None:
        rec = check_counts(f"{result.metric} {self.count_unit}", self.requested, self._used(result),
                           minimum=self.min_count, minimum_note=self.minimum_note)
        result.settings.setdefault("counts", {})[self.count_unit] = rec

    def _inputs(self) -> dict[str, dict[str, Any]]:
        if self.inputs is not None:
            return self.inputs
        sides = (("real", self.real), ("fake", self.fake)) if self.uses_real else (("images", self.fake),)
        return {side: acc.input for side, acc in sides if isinstance(getattr(acc, "input", None), dict)}

    #: Files left out under ``skip_bad`` per set, set by the one-shot functions (SWD, MS-SSIM);
    #: extracted statistics carry their own count (``FeatureStats.skipped``).
    skipped_files: dict[str, int] | None = None

    def _skipped_counts(self) -> dict[str, int]:
        counts = dict(self.skipped_files or {})
        for side, acc in (("real", self.real), ("fake", self.fake)):
            n = getattr(acc, "skipped", None)
            if n is not None:
                counts.setdefault(side, int(n))
        return counts

    def _with_uncertainty(self, result: MetricResult, real: Any, fake: Any) -> MetricResult:
        """Attach error bars to `result` when they were asked for (feature metrics' bootstrap)."""
        return result
