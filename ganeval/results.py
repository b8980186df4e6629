"""Typed result objects shared by every metric.

Each metric returns a `MetricResult`: a name, a flat mapping of named values,
the settings that produced them (the protocol), image counts, seed and
wall-clock seconds.  Results serialize to JSON so that reports and leaderboards
can compare them, and refuse to compare results made under different protocols.

A result read back from disk is refused (`DataError` naming its source) when one of its
numbers is not finite: JSON readers accept ``NaN`` and ``Infinity``, and one such value in a
ranking or a plot is silently wrong (it compares false with everything).
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Mapping

from .errors import DataError

__all__ = ["MetricResult", "non_finite", "provenance"]

# The numeric fields of an error-bar record (`ganeval.metrics.uncertainty.summarize`).
_BAR_FIELDS = ("mean", "std", "lo", "hi")


def _bad_number(x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False  # not a number at all: the caller's type checks say so
    try:
        return not math.isfinite(x)
    except OverflowError:  # an integer literal too large for a float
        return True


def non_finite(result: Mapping[str, Any]) -> str | None:
    """Where the result dict `result` (`MetricResult.to_dict`'s shape) holds a number that is
    not finite, in words (e.g. "value 'FID' is nan"), or None when every number is finite.
    Values, error-bar fields and replicates are checked; other fields are not numbers."""
    values = result.get("values")
    for k, v in (values.items() if isinstance(values, Mapping) else ()):
        if _bad_number(v):
            return f"value {k!r} is {v}, not a finite number"
    unc = result.get("uncertainty")
    for k, u in (unc.items() if isinstance(unc, Mapping) else ()):
        if not isinstance(u, Mapping):
            continue
        for f in _BAR_FIELDS:
            if _bad_number(u.get(f)):
                return f"the error bar of {k!r} has {f} {u[f]}, not a finite number"
        reps = u.get("replicates")
        for i, x in enumerate(reps if isinstance(reps, list) else ()):
            if _bad_number(x):
                return f"replicate {i} of {k!r} is {x}, not a finite number"
    return None


def provenance(inputs: Mapping[str, Mapping[str, Any]], device: Any) -> dict[str, Any]:
    """The provenance record every result carries (``MetricResult.provenance``, and so every
    ``--json`` and ``-o`` file): `inputs` (per set, e.g. ``{"real": {"path": ..., "fingerprint":
    ...}}``, see `ganeval.io.inputs.input_record`), the ganeval and torch versions, the `device`
    the metric ran on and a UTC timestamp (ISO 8601, seconds).  Built in one place
    (`ganeval.metrics.base.StreamingMetric.compute`), so the API and the CLI write the same."""
    import datetime
    import sys

    from . import __version__
    torch = sys.modules.get("torch")  # a metric has imported it; never import torch only to name it
    return {"inputs": {k: dict(v) for k, v in inputs.items()}, "ganeval_version": __version__,
            "torch_version": str(torch.__version__) if torch is not None else None, "device": None if device is None else str(device),
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


@dataclasses.dataclass
class MetricResult:
    """One metric's outcome.

    `values` maps value names (e.g. ``SWDx1e3_64``, ``SWDx1e3_avg``, ``MS-SSIM``,
    ``FID``) to floats; `primary` names the headline value.  `settings` holds
    every option that changes the numbers, so two results are comparable only
    when their settings are equal.
    """

    metric: str
    values: dict[str, float]
    primary: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    num_images: dict[str, int] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    seconds: float = 0.0
    uncertainty: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # Where the result came from (`provenance`): inputs and their fingerprints, versions, device
    # and time.  Kept out of `settings`, which say what changes the numbers: two runs of the
    # same protocol differ here (the time at least) and must still compare equal there.
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def value(self) -> float:
        """The headline number (e.g. the SWD average, the FID)."""
        return self.values[self.primary]

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def __str__(self) -> str:
        """One line: the headline value, its error bar if any, and the image counts, e.g.
        ``FID = 321.2 (fid; real 256, fake 256)``; `table()` has every value, `repr()` every field."""
        v = self.values.get(self.primary)
        head = f"{self.primary} = {v:.6g}" if isinstance(v, (int, float)) else f"{self.metric}: {self.values}"
        u = self.uncertainty.get(self.primary)
        if isinstance(u, dict) and "std" in u:
            head += f" ± {u['std']:.2g}"
        counts = ", ".join(f"{k} {n}" for k, n in self.num_images.items())
        return f"{head} ({self.metric}{'; ' + counts if counts else ''})"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "result") -> "MetricResult":
        """The result `to_dict` gave, e.g. read back from a ``-o`` JSON file; `source` (the
        file's name) is named by the `DataError` raised when a number in it is not finite
        or a field is unknown."""
        why = non_finite(d)
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if why is None and unknown:
            why = f"unknown field {unknown[0]!r}"
        if why is not None:
            raise DataError(f"{source}: not a usable result ({why}); measure it again")
        return cls(**d)

    def table(self) -> str:
        """A small human-readable table of the values."""
        width = max(len(k) for k in self.values)
        lines = [f"{k:<{width}}  {v:12.5f}{self._bar(k)}" for k, v in self.values.items()]
        counts = ", ".join(f"{k}={v}" for k, v in self.num_images.items())
        lines.append(f"({self.metric}; images: {counts}; seed={self.seed}; {self.seconds:.1f} s)")
        u = next(iter(self.uncertainty.values()), None)
        if u is not None and u["method"] == "bootstrap":
            sets = u["resampled"]
            lines.append(f"(± std over {u['n']} bootstrap resamples of the {' and '.join(sets)} "
                         f"set{'s' if len(sets) > 1 else ''}; [95% interval])")
        elif u is not None:
            lines.append(f"(± std over {u['n']} seeds ({u['seed']}..{u['seed'] + u['n'] - 1}), redrawing "
                         f"{u['redrawn']}; [95% interval])")
        return "\n".join(lines)

    def _bar(self, key: str) -> str:
        u = self.uncertainty.get(key)
        return "" if u is None else f"  ± {u['std']:.5f}  [{u['lo']:.5f}, {u['hi']:.5f}]"
