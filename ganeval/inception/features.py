"""One extraction of Inception features per image set, shared by every Inception metric.

`extract` streams a source through the network once and returns a `FeatureStats` with what
the requested metrics need (moments for FID; features for KID and PR; unbiased logits for
IS).  Results are cached on disk under a key that covers the set's content and every option
(`statistics_key`; see `ganeval.inception.stats`); a statistics ``.npz`` can stand in for a set wherever
only moments are needed, after `ganeval.inception.stats.load_stats` has checked it.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..device import resolve_device
from ..dist import broadcast, is_main, reduce_to_rank0
from ..errors import DataError
from .weights import WeightsInfo, load_inception, warn_cache_unwritable
from ..progress import progress
from ..io.sources import open_source
from .stats import FeatureStats, cache_key, cache_path, is_stats_file, load_stats, save_stats

_MODELS: dict[tuple, tuple[Any, WeightsInfo]] = {}
POOL3_DIM = 2048
EXTRACTOR = "inception-2015-12-05 tf1-bilinear-299 pool3+logits_unbiased"


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
            quiet: bool = True, allow_weights_mismatch: bool = False,
            **source_kw: Any) -> tuple[FeatureStats, WeightsInfo]:
    """Inception statistics of one image set (or a statistics ``.npz``), computed once.

    `features` keeps the pool3 rows (KID, PR) and `logits` the unbiased logits (IS); the
    moments are always accumulated.  With `cache`, results are stored under a content- and
    option-keyed file in ganeval's cache dir and reused only when everything matches; a cache
    that cannot be written is skipped with one warning.  A statistics file made with other
    weights (by its recorded sha256) is refused unless `allow_weights_mismatch`.
    """
    model, info = inception(weights, device)
    if logits and not info.has_logits:
        model.logits_unbiased(torch.zeros(1, 2048))  # raises the clear WeightsError
    if is_stats_file(source):
        stats = load_stats(source, dim=POOL3_DIM, weights_sha256=info.sha256,
                           allow_weights_mismatch=allow_weights_mismatch)
        if (features and not stats.features) or (logits and not stats.logits):
            raise DataError(f"{source}: holds only mu/sigma; KID, PR, IS, density/coverage and --bootstrap need the "
                            "images (or statistics saved with `ganeval stats --features`)")
        return (stats if is_main() else _empty(stats.keep_features, stats.keep_logits)), info
    # The one dict the source is opened with is the one the cache is keyed on, so an option
    # added to open_source cannot change the numbers without changing the key.
    source_options = dict(num_images=num_images, subset=subset, seed=seed, **source_kw)
    src = open_source(source, **source_options)
    fp = src.fingerprint(content=content_hash) if cache else None
    path = None
    if fp is not None:
        path = cache_path(statistics_key(fp, content_hash, source_options, info.sha256))
        # Rank 0 alone reads and writes the cache; under torchrun it tells the others.
        hit = _read_cached(path, info.sha256) if is_main() else None
        usable = hit is not None and (not features or hit.features) and (not logits or hit.logits)
        if broadcast(usable):
            return (hit if is_main() else _empty(features, logits)), info
        path = _writable(path) if is_main() else None
    dev = resolve_device(device)
    keep = fp is not None  # a cached entry serves every later metric, so it keeps everything
    stats = FeatureStats(keep_features=features or keep, keep_logits=(logits or keep) and info.has_logits)
    for start, batch in progress(src.shard(batch_size, dev, workers), total=len(src), desc="inception",
                                 quiet=quiet):
        pool, lg = model(batch, with_logits=stats.keep_logits)
        stats.update(pool, lg, start=start)
    merged = reduce_to_rank0(stats)
    if merged is None:  # another rank holds the whole set's statistics
        return _empty(stats.keep_features, stats.keep_logits), info
    stats = merged
    if stats.n == 0:
        raise DataError(f"{src.name}: no images could be read")
    if path is not None:
        try:
            save_stats(path, stats, source=str(src.name), weights_sha256=info.sha256, n=stats.n)
        except OSError as e:
            warn_cache_unwritable(e)
    return stats, info


def _empty(features: bool, logits: bool) -> FeatureStats:
    # What ranks other than 0 hold after a distributed extraction: merging it changes nothing.
    return FeatureStats(keep_features=features, keep_logits=logits)


def statistics_key(fingerprint: str, content_hash: bool, source_options: dict[str, Any], weights_sha256: str) -> str:
    """The cache key of a set's statistics: its fingerprint, how it was taken, and its options.

    `source_options` is exactly what `open_source` received.  The seed is dropped unless it
    picks a random subset: the first N images do not depend on it, and keying it would make
    every ``--seed`` (which KID also uses for its subsets) recompute the same features.
    """
    opts = dict(source_options)
    if opts.get("subset", "first") != "random":
        opts.pop("seed", None)
    return cache_key(content=fingerprint, fingerprint="content" if content_hash else "metadata",
                     source_options=opts, extractor=EXTRACTOR, weights=weights_sha256, version=__version__)


def _read_cached(path: Path, weights_sha256: str) -> FeatureStats | None:
    try:
        if not path.is_file():
            return None
        return load_stats(path, dim=POOL3_DIM, weights_sha256=weights_sha256)
    except (OSError, DataError) as e:
        # An entry that cannot be read is recomputed (and rewritten), not reported as the data's fault.
        warnings.warn(f"ignoring unusable cached statistics {path} ({e})", stacklevel=3)
        return None


def _writable(path: Path) -> Path | None:
    """`path` when its directory exists or can be made; None (after one warning) otherwise."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        warn_cache_unwritable(e)
        return None
    return path
