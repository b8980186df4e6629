"""One extraction of Inception features per image set, shared by every Inception metric.

`extract` streams a source through the network once and returns a `FeatureStats` with what
the requested metrics need (moments for FID; features for KID and PR; unbiased logits for
IS).  Results are cached on disk under a key that covers the set's content and every option
(see `ganeval.stats`); a statistics ``.npz`` can stand in for a set wherever only moments are
needed.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from . import __version__
from .device import resolve_device
from .errors import DataError
from .inception.weights import WeightsInfo, load_inception
from .progress import progress
from .sources import open_source
from .stats import FeatureStats, cache_key, cache_path, is_stats_file, load_stats, save_stats

_MODELS: dict[tuple, tuple[Any, WeightsInfo]] = {}


def inception(weights: str | None = None, device: Any = None, allow_pickle: bool = False):
    """The loaded network and its `WeightsInfo`, loaded once per process, weights file and device."""
    dev = resolve_device(device)
    key = (weights, os.environ.get("GANEVAL_INCEPTION_WEIGHTS"), str(dev))
    if key not in _MODELS:
        _MODELS[key] = load_inception(weights, dev, allow_pickle=allow_pickle)
    return _MODELS[key]


def extract(source: Any, *, features: bool = False, logits: bool = False, weights: str | None = None,
            num_images: int | None = None, subset: str = "first", seed: int = 0, batch_size: int = 64,
            device: Any = None, workers: int | None = None, cache: bool = True, content_hash: bool = False,
            quiet: bool = True, **source_kw: Any) -> tuple[FeatureStats, WeightsInfo]:
    """Inception statistics of one image set (or a statistics ``.npz``), computed once.

    `features` keeps the pool3 rows (KID, PR) and `logits` the unbiased logits (IS); the
    moments are always accumulated.  With `cache`, results are stored under a content- and
    option-keyed file in ganeval's cache dir and reused only when everything matches.
    """
    model, info = inception(weights, device)
    if logits and not info.has_logits:
        model.logits_unbiased(torch.zeros(1, 2048))  # raises the clear WeightsError
    if is_stats_file(source):
        stats = load_stats(source)
        if (features and not stats.features) or (logits and not stats.logits):
            raise DataError(f"{source}: holds only mu/sigma; KID, PR and IS need the images (or ganeval stats "
                            "saved with features/logits)")
        return stats, info
    src = open_source(source, num_images=num_images, subset=subset, seed=seed, **source_kw)
    fp = src.fingerprint(content=content_hash) if cache else None
    path = None
    if fp is not None:
        key = cache_key(content=fp, extractor="pool3+logits_unbiased", weights=info.sha256, resize="tf1-bilinear-299",
                        num_images=len(src), subset=subset, seed=seed if subset == "random" else None,
                        version=__version__)
        path = cache_path(key)
        if path.exists():
            stats = load_stats(path)
            if (not features or stats.features) and (not logits or stats.logits):
                return stats, info
    dev = resolve_device(device)
    stats = FeatureStats(keep_features=features or path is not None, keep_logits=(logits or path is not None)
                         and info.has_logits)
    for batch in progress(src.batches(batch_size, dev, workers), total=len(src), desc="inception", quiet=quiet):
        pool, lg = model(batch, with_logits=stats.keep_logits)
        stats.update(pool, lg)
    if stats.n == 0:
        raise DataError(f"{src.name}: no images could be read")
    if path is not None:
        save_stats(path, stats, source=str(src.name), weights_sha256=info.sha256, n=stats.n)
    return stats, info


def extract_pair(real: Any, fake: Any, **kw: Any) -> tuple[FeatureStats, FeatureStats, WeightsInfo]:
    """`extract` on both sets with the same options; returns (real stats, fake stats, weights info)."""
    a, info = extract(real, **kw)
    b, _ = extract(fake, **kw)
    return a, b, info
