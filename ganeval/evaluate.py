"""All metrics on one pair of sets, with one Inception extraction per set."""
from __future__ import annotations

import time
from typing import Any, Sequence

from .errors import UsageError
from .results import MetricResult

METRICS = ("swd", "msssim", "fid", "is", "kid", "pr")


def evaluate(real: Any, fake: Any, metrics: Sequence[str] = METRICS, *, num_images: int | None = None,
             seed: int = 0, device: Any = None, batch_size: int = 64, weights: str | None = None,
             cache: bool = True, quiet: bool = True, **source_kw: Any) -> list[MetricResult]:
    """Compute each requested metric of `fake` against `real` and return their results.

    SWD compares the two sets; MS-SSIM measures the diversity of `fake`; FID, IS (of
    `fake`), KID and PR share one Inception pass per set.  `num_images` caps every set
    (default: each metric's paper count for SWD and MS-SSIM, all images for Inception).
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
        out += _inception_metrics(real, fake, inception, num_images, weights, cache, common)
    return out


def _inception_metrics(real, fake, which, num_images, weights, cache, common) -> list[MetricResult]:
    from .features import extract
    from .fid import _settings, frechet_distance
    from .isc import inception_score_from_logits
    from .kid import kid_from_features
    from .prc import knn_radii, manifold_coverage
    from .stats import warn_small
    t0 = time.time()
    need_feats = "kid" in which or "pr" in which
    kw = dict(weights=weights, num_images=num_images, cache=cache, **common)
    out = []
    b, info = extract(fake, features=need_feats, logits="is" in which, **kw)
    seed = common["seed"]
    if "is" in which:
        mean, std = inception_score_from_logits(b.all_logits())
        out.append(MetricResult("is", {"IS_mean": mean, "IS_std": std}, "IS_mean",
                                {"splits": 10, "weights_sha256": info.sha256}, {"images": b.n}, seed))
    if not {"fid", "kid", "pr"} & set(which):
        return out
    a, _ = extract(real, features=need_feats, **kw)
    counts = {"real": a.n, "fake": b.n}
    if "fid" in which:
        warn_small(min(a.n, b.n), "FID")
        out.append(MetricResult("fid", {"FID": frechet_distance(a.mu, a.sigma, b.mu, b.sigma)}, "FID",
                                _settings(info), counts, seed))
    if "kid" in which:
        mean, std, used = kid_from_features(a.all_features(), b.all_features(), seed=seed)
        out.append(MetricResult("kid", {"KID_mean": mean, "KID_std": std}, "KID_mean",
                                {"num_subsets": 100, "subset_size": used, "weights_sha256": info.sha256}, counts, seed))
    if "pr" in which:
        fr, ff = a.all_features().double(), b.all_features().double()
        out.append(MetricResult("pr", {"precision": manifold_coverage(ff, fr, knn_radii(fr)),
                                       "recall": manifold_coverage(fr, ff, knn_radii(ff))}, "precision",
                                {"k": 3, "weights_sha256": info.sha256}, counts, seed))
    for r in out:
        r.seconds = (time.time() - t0) / len(out)
    return out
