"""One rule for undersized protocols: the count a run asked for against the count it used.

A metric is run for a count: the one given (``-n``, ``--num-pairs``, ``num_images=``, the
`Evaluator`'s ``num_images``), else its protocol's (SWD 16384 images per set, MS-SSIM 10,000
pairs, KID subsets of 1000); the Inception metrics take every image unless told otherwise.
Some metrics also have a floor below which their value is known to be biased (FID: 2048
images, the width of pool3).  When a set holds fewer, the metric still runs on what there is,
and this module is what says so: `check_counts` records both numbers (a result keeps the
record in ``settings["counts"]``) and warns once, in one line, when the used count falls
short of either.  Every metric goes through it (`ganeval.metrics.base.StreamingMetric.compute`
for images and pairs, KID for its subset size), so no metric can run short silently.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

__all__ = ["CountWarning", "count_record", "check_counts"]


class CountWarning(UserWarning):
    """A metric ran on fewer images (or pairs, or subset rows) than its protocol asks for."""


def count_record(requested: int | None, used: int | Mapping[str, int], minimum: int | None = None) -> dict[str, Any]:
    """The record of one count: `requested` (None: every image there is), `used` (one number,
    or one per set as in a result's ``num_images``) and, where the metric has one, its
    `minimum`.  JSON-ready, so it can sit in a result's settings."""
    rec: dict[str, Any] = {"requested": None if requested is None else int(requested),
                           "used": int(used) if isinstance(used, int) else {k: int(v) for k, v in used.items()}}
    if minimum is not None:
        rec["minimum"] = int(minimum)
    return rec


def check_counts(label: str, requested: int | None, used: int | Mapping[str, int], *, minimum: int | None = None,
                 short_note: str = "", minimum_note: str = "") -> dict[str, Any]:
    """`count_record` of these counts, after one `CountWarning` when a used count is below
    `requested` or `minimum`.

    The warning is one line: `label` (what is counted, e.g. ``"swd images"``), the count asked
    for against each count used, and why that matters (`short_note` for a shortfall against
    the request, default: the value is not comparable with one at the requested count;
    `minimum_note` below the floor).  A used count of 0 means unknown (a statistics file that
    records no ``n``) and is never called short.
    """
    rec = count_record(requested, used, minimum)
    sizes = [rec["used"]] if isinstance(rec["used"], int) else list(rec["used"].values())
    notes = []
    if requested is not None and any(0 < u < requested for u in sizes):
        notes.append(short_note or f"fewer than asked for: the value is not comparable with one on {requested}")
    if minimum is not None and any(0 < u < minimum for u in sizes):
        notes.append(minimum_note or f"below the minimum of {minimum} for this metric")
    if notes:
        asked = f"{requested} requested" if requested is not None else f"at least {minimum} needed"
        got = str(rec["used"]) if isinstance(rec["used"], int) else \
            " and ".join(f"{side} {n or 'unknown'}" for side, n in rec["used"].items())
        # stacklevel: the metric's caller, not this helper or the metric's own frame
        warnings.warn(f"{label}: {asked}, {got} used ({'; '.join(notes)})", CountWarning, stacklevel=3)
    return rec
