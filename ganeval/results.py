"""Typed result objects shared by every metric.

Each metric returns a `MetricResult`: a name, a flat mapping of named values,
the settings that produced them (the protocol), image counts, seed and
wall-clock seconds.  Results serialize to JSON so that reports and leaderboards
can compare them, and refuse to compare results made under different protocols.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any


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

    @property
    def value(self) -> float:
        """The headline number (e.g. the SWD average, the FID)."""
        return self.values[self.primary]

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MetricResult":
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
