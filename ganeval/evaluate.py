"""All metrics on one pair of sets, with one Inception extraction per set."""
from __future__ import annotations

import time
from typing import Any, Sequence

from .errors import UsageError
from .results import MetricResult

METRICS = ("swd", "msssim", "fid", "is", "kid", "pr")


def evaluate(real: Any, fake: Any, metrics: Sequence[str] = METRICS, *, num_images: int | None = None,
             seed: int = 0, device: Any = None, batch_size: int = 64, weights: str | None = None,
             cache: bool = True, content_hash: bool = False, allow_weights_mismatch: bool = False,
             quiet: bool = True, **source_kw: Any) -> list[MetricResult]:
    """Compute each requested metric of `fake` against `real` and return their results.

    SWD compares the two sets; MS-SSIM measures the diversity of `fake`; FID, IS (of
    `fake`), KID and PR share one Inception pass per set.  `num_images` caps every set
    (default: each metric's paper count for SWD and MS-SSIM, all images for Inception).
    `weights`, `cache`, `content_hash` and `allow_weights_mismatch` concern only the Inception
    metrics and are passed to `ganeval.features.extract`.
    """
    metrics = [m.lower() for m in metrics]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise UsageError(f"unknown metrics {unknown}; choose from {', '.join(METRICS)}")
    common = dict(seed=seed, device=device, batch_size=batch_size, quiet=quiet, **source_kw)
    out: list[MetricResult] = []
    if "swd" in metrics:
        from .swd import DEFAULT_NUM_IMAGES, swd
        out.append(swd(real, fake, num_images=num_images or DEFAULT_NUM_IMAGES, **common))
    if "msssim" in metrics:
        from .msssim import DEFAULT_NUM_PAIRS, ms_ssim
        out.append(ms_ssim(fake, num_pairs=num_images // 2 if num_images else DEFAULT_NUM_PAIRS, **common))
    inception = [m for m in metrics if m in ("fid", "is", "kid", "pr")]
    if inception:
        inception_kw = dict(weights=weights, cache=cache, content_hash=content_hash,
                            allow_weights_mismatch=allow_weights_mismatch)
        out += _inception_metrics(real, fake, inception, num_images, inception_kw, common)
    return out


def _inception_metrics(real, fake, which, num_images, inception_kw, common) -> list[MetricResult]:
    from .features import extract
    from .fid import fid_from_stats
    from .isc import is_from_stats
    from .kid import kid_from_stats
    from .prc import pr_from_stats
    t0 = time.time()
    need_feats = "kid" in which or "pr" in which
    kw = dict(num_images=num_images, **inception_kw, **common)
    seed = common["seed"]
    b, info = extract(fake, features=need_feats, logits="is" in which, **kw)
    out = [is_from_stats(b, info, seed=seed)] if "is" in which else []
    if {"fid", "kid", "pr"} & set(which):
        a, _ = extract(real, features=need_feats, **kw)
        for name, fn in (("fid", fid_from_stats), ("kid", kid_from_stats), ("pr", pr_from_stats)):
            if name in which:
                out.append(fn(a, b, info, seed=seed))
    for r in out:
        r.seconds = (time.time() - t0) / len(out)
    return out
