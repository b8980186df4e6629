"""The metric registry: one `MetricSpec` per metric, read by everything that lists metrics.

`ganeval all`, `evaluate`, the training-loop `Evaluator`, the leaderboard (ranking direction,
default rank value, protocol) and the CLI's help text all look metrics up here, so a new
metric is its module plus one `register_metric` call.  The model is stylegan2-ada's
``metric_main.register_metric`` and torchmetrics' ``higher_is_better``.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Sequence

from ..errors import UsageError
from ..lazy import LazyRef

__all__ = ["MetricSpec", "LazyRef", "register_metric", "get_metric", "metric_names", "resolve", "parse_metric_list",
           "default_rank_value", "lower_is_better", "check_error_bars"]

INCEPTION_NEEDS = ("none", "pool3", "logits")


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """Everything the toolkit needs to know about one metric.

    `primary` is the headline value key and `values` every value key it reports that can be
    ranked (SWD adds per-level keys that depend on the resolution).  `inception` says which
    network outputs it needs: "none", "pool3" (moments, or kept features when
    `keeps_features`) or "logits".  `streaming` is the class with update/compute/reset/merge;
    it takes ``seed`` and ``device`` keywords (and ``weights`` when it needs Inception).
    `run(real, fake, options)` is the one-shot computation on two image sources under a
    `RunOptions`; `from_stats(real_stats, fake_stats, info, seed=...)` builds the result from
    extracted Inception statistics (Inception metrics only).  `rank_priority` orders the
    default ranking value (lowest first; None: never ranked by default); value keys starting
    with `value_prefix` (SWD's per-level keys) belong to the metric too.  `in_default` metrics
    run when no list is given (``ganeval all``, ``evaluate``); costly extras opt out.
    """

    name: str
    primary: str
    lower_is_better: bool
    needs_real: bool
    streaming: type
    run: Callable[..., Any]
    summary: str
    values: tuple[str, ...] = ()
    inception: str = "none"
    keeps_features: bool = False
    from_stats: Callable[..., Any] | None = None
    rank_priority: int | None = None
    value_prefix: str = ""
    in_default: bool = True
    #: The metric measures a generator (z -> images), not an image set (PPL): the leaderboard
    #: hands it checkpoint entries themselves.
    needs_generator: bool = False

    def __post_init__(self) -> None:
        if self.inception not in INCEPTION_NEEDS:
            raise ValueError(f"inception must be one of {INCEPTION_NEEDS}, got {self.inception!r}")
        if self.inception != "none" and self.from_stats is None:
            raise ValueError(f"{self.name}: an Inception metric needs from_stats")

    def make(self, *, seed: int = 0, device: Any = None, weights: str | None = None, **options: Any) -> Any:
        """A fresh streaming object for this metric (Inception `weights` only where they apply;
        `device` and the error-bar `options` -- ``bootstrap``, ``repeats``, ``redraw`` -- wherever
        the class takes them; a metric without that kind of error bar ignores the option)."""
        kw: dict[str, Any] = {"seed": seed}
        if self.inception != "none":
            kw["weights"] = weights
        if self.takes("device"):
            kw["device"] = device
        kw.update({k: v for k, v in options.items() if self.takes(k)})
        return self.streaming(**kw)

    def takes(self, option: str) -> bool:
        """Whether the streaming class takes keyword `option` (``device``, ``bootstrap``, ...)."""
        return option in inspect.signature(self.streaming).parameters


_REGISTRY: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec, *, replace: bool = False) -> MetricSpec:
    """Add `spec` to the registry (refusing a second metric of the same name unless `replace`)."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"metric {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_metric(name: str) -> None:
    """Remove a metric (for tests that register toy metrics)."""
    _REGISTRY.pop(name, None)


def metric_names(default_only: bool = False) -> tuple[str, ...]:
    """Registered metric names in registration order (only the default set with `default_only`)."""
    return tuple(n for n, s in _REGISTRY.items() if s.in_default or not default_only)


def get_metric(name: str) -> MetricSpec:
    """The spec of metric `name`; a usage error listing the choices when it is unknown."""
    spec = _REGISTRY.get(name.strip().lower())
    if spec is None:
        raise UsageError(f"unknown metric {name!r}; choose from {', '.join(_REGISTRY)}")
    return spec


def resolve(names: Sequence[str], *, what: str = "metrics") -> list[MetricSpec]:
    """Specs for `names` (validated, duplicates dropped, order kept); an empty list is a usage error."""
    out: list[MetricSpec] = []
    for n in names:
        spec = get_metric(n)
        if spec not in out:
            out.append(spec)
    if not out:
        raise UsageError(f"no {what} given; choose from {', '.join(_REGISTRY)}")
    return out


def parse_metric_list(text: str) -> list[str]:
    """A comma-separated metric list as validated names (``"swd, fid"`` -> ["swd", "fid"])."""
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    if not names:
        raise UsageError(f"--metrics {text!r} names no metric; choose from {', '.join(_REGISTRY)}")
    return [s.name for s in resolve(names)]


def default_rank_value(names: Sequence[str]) -> str:
    """The value ranked by default among `names`: the headline of the metric with the lowest
    `rank_priority`, else the first metric's headline."""
    specs = resolve(names)
    ranked = sorted((s for s in specs if s.rank_priority is not None), key=lambda s: s.rank_priority)
    return (ranked[0] if ranked else specs[0]).primary


def lower_is_better(value_key: str) -> bool:
    """Ranking direction of a value key: its metric's, found by the key (SWD's levels included)."""
    for spec in _REGISTRY.values():
        if value_key == spec.primary or value_key in spec.values or (
                spec.value_prefix and value_key.startswith(spec.value_prefix)):
            return spec.lower_is_better
    return True


def check_error_bars(specs: Sequence[MetricSpec], **options: int) -> None:
    """A usage error when an error-bar option (``bootstrap=B``, ``repeats=K``) is set but none
    of `specs` can use it: asking for error bars and getting none would pass unnoticed."""
    for option, count in options.items():
        if count and not any(s.takes(option) for s in specs):
            able = [n for n, s in _REGISTRY.items() if s.takes(option)]
            raise UsageError(f"--{option} {count}: none of the metrics {', '.join(s.name for s in specs)} takes it; "
                             f"it applies to {', '.join(able)}")


def help_text() -> str:
    """One line per metric, for the CLI's help."""
    return "; ".join(f"{s.name}: {s.summary}" for s in _REGISTRY.values())
