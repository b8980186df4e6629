"""All requested metrics on one pair of sets, with one Inception extraction per set."""
from __future__ import annotations

import time
from typing import Any, Sequence

from .metrics.registry import MetricSpec, check_error_bars, metric_names, resolve
from .options import RunOptions
from .results import MetricResult


def evaluate(real: Any, fake: Any, metrics: Sequence[str] | None = None, *, num_images: int | None = None,
             seed: int = 0, device: Any = None, batch_size: int = 64, weights: str | None = None,
             cache: bool = True, quiet: bool = True, **source_kw: Any) -> list[MetricResult]:
    """Compute each requested metric of `fake` against `real` and return their results.

    `metrics` names registered metrics (default: the default set, see
    `ganeval.metrics.registry`: the paper's six; density, coverage and FD on other features
    only when named).  SWD compares the two sets; MS-SSIM measures the diversity of
    `fake`; the Inception metrics share one Inception pass per set.  `num_images` caps every
    set (default: each metric's paper count for SWD and MS-SSIM, all images for Inception).
    Under torchrun every process measures a share and rank 0 gets the results (the others an
    empty list).
    Other keyword arguments are `RunOptions` fields (``workers``, ``resize``, ``subset``,
    ``content_hash``, ``allow_weights_mismatch``, and the error bars: ``repeats`` for SWD,
    ``bootstrap`` for the feature metrics...).
    """
    specs = resolve(metrics if metrics is not None else metric_names(default_only=True))
    args = dict(source_kw, num_images=num_images, seed=seed, device=device, batch_size=batch_size,
                weights=weights, cache=cache, quiet=quiet)
    opts = RunOptions.take(args)
    if args:
        raise TypeError(f"evaluate() got unexpected keyword arguments {sorted(args)}")
    check_error_bars(specs, bootstrap=opts.bootstrap, repeats=opts.repeats)
    if any(s.inception == "logits" for s in specs):
        # Before SWD or MS-SSIM read anything: weights without the classifier would fail IS
        # only after them.
        from .inception.features import require_logits
        require_logits(opts.weights, opts.device)
    out = [s.run(real, fake, opts) for s in specs if s.inception == "none"]
    inception = [s for s in specs if s.inception != "none"]
    if inception:
        out += _inception_metrics(real, fake, inception, opts)
    return [r for r in out if r is not None]  # under torchrun only rank 0 holds results


def _inception_metrics(real: Any, fake: Any, specs: list[MetricSpec], opts: RunOptions) -> list[MetricResult]:
    from .inception.features import extract
    t0 = time.time()
    # The bootstrap resamples rows, so it needs them kept (FID otherwise keeps only moments).
    kw = dict(features=any(s.keeps_features for s in specs) or bool(opts.bootstrap), **opts.inception_kw())
    b, info = extract(fake, logits=any(s.inception == "logits" for s in specs), **kw)
    a = extract(real, **kw)[0] if any(s.needs_real for s in specs) else None
    out = []
    # Metrics of the fake set alone come first: its statistics are extracted first.
    for s in sorted(specs, key=lambda spec: spec.needs_real):
        metric = s.make(seed=opts.seed, device=opts.device, weights=opts.weights, **opts.uncertainty_kw())
        metric.load(a if s.needs_real else None, b, info)
        metric.ask(opts.num_images)
        out.append(metric.compute())
    for r in out:
        if r is not None:
            r.seconds = (time.time() - t0) / len(out)
    return out
