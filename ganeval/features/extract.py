"""One cached pass of any registered extractor over an image set -> `FeatureStats`.

`extract_features` is the body every extractor shares: a statistics ``.npz`` stands in for a
set (checked for width, weights sha256, protocol and the extractor's own rules), results are
cached under `statistics_key`, and under torchrun each rank measures its share while rank 0
alone reads and writes the cache.  `extract` does the same by extractor name.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..device import resolve_device
from ..dist import broadcast, is_main, reduce_to_rank0
from ..errors import DataError
from ..io.inputs import input_record
from ..io.sources import open_source, skipped_total
from ..progress import progress
from .cache import cache_path, statistics_key, warn_cache_unwritable, writable
from .extractor import Extractor
from .registry import load_extractor
from .stats import FeatureStats, is_stats_file, load_stats, save_stats

__all__ = ["extract", "extract_features", "stats_meta", "read_cached"]


def extract(name: str, source: Any, *, model: str | None = None, weights: str | None = None, device: Any = None,
            allow_download: bool = False, **kw: Any) -> tuple[FeatureStats, Extractor]:
    """Statistics of one set (or a statistics ``.npz``) under registered extractor `name`,
    with the `Extractor` used; `kw` are `extract_features`' (and `open_source`'s)."""
    net = load_extractor(name, model, weights, device, allow_download)
    return extract_features(net, source, device=device, **kw), net


def extract_features(net: Extractor, source: Any, *, features: bool = False, logits: bool = False,
                     num_images: int | None = None, subset: str = "first", seed: int = 0, batch_size: int = 64,
                     device: Any = None, workers: int | None = None, cache: bool = True, content_hash: bool = False,
                     quiet: bool = True, allow_weights_mismatch: bool = False, **source_kw: Any) -> FeatureStats:
    """One cached pass of `net` over a set: the extractor-agnostic body of `extract` (and of
    every extractor package's own `extract`).  A statistics ``.npz`` stands in for a set after
    `load_stats` and ``net.check``; under torchrun each rank measures its share, rank 0 gets
    the merged statistics (the others an empty object) and alone reads and writes the cache."""
    if is_stats_file(source):
        stats = net.check(source, load_stats(source, dim=net.dim, weights_sha256=net.sha256,
                                             allow_weights_mismatch=allow_weights_mismatch, protocol=net.protocol,
                                             resize=source_kw.get("resize"), num_logits=net.num_logits))
        if (features and not stats.features) or (logits and not stats.logits):
            raise DataError(f"{source}: holds only mu/sigma; KID, PR, IS, density/coverage and --bootstrap need the "
                            "images (or statistics saved with `ganeval stats --features`)")
        if not is_main():
            return _empty(stats.keep_features, stats.keep_logits, net.dim)
        stats.input = input_record(source)  # the provenance of results made from it (a file: its sha256)
        return stats
    # The one dict the source is opened with is the one the cache is keyed on, so an option
    # added to open_source cannot change the numbers without changing the key.
    source_options = dict(num_images=num_images, subset=subset, seed=seed, **source_kw)
    src = open_source(source, **source_options)
    fp = src.fingerprint(content=content_hash) if cache else None
    path = None
    if fp is not None:
        path = cache_path(statistics_key(fp, content_hash, source_options, net.sha256, net.id))
        # Rank 0 alone reads and writes the cache; under torchrun it tells the others.
        hit = read_cached(path, net) if is_main() else None
        usable = hit is not None and (not features or hit.features) and (not logits or hit.logits)
        # A --skip-bad entry carries the count of files it left out; one without it is recomputed.
        skip_bad = bool(source_options.get("skip_bad"))
        meta = (getattr(hit, "meta", None) or {}) if hit is not None else {}
        usable = usable and (not skip_bad or isinstance(meta.get("skipped_files"), int))
        if broadcast(usable):
            if hit is not None:
                hit.skipped = meta["skipped_files"] if skip_bad else None
                hit.input = input_record(source, src, fp, content_hash)
            return hit if is_main() else _empty(features, logits, net.dim)
        path = writable(path) if is_main() else None
    keep = fp is not None  # a cached entry serves every later metric, so it keeps everything
    stats = FeatureStats(net.dim, keep_features=features or keep, keep_logits=(logits or keep) and net.has_logits)
    stats.protocol = net.protocol
    for start, batch in progress(src.shard(batch_size, resolve_device(device), workers), total=len(src),
                                 desc=net.name, quiet=quiet):
        feats, lg = net.forward(batch, stats.keep_logits)
        stats.update(feats, lg, start=start)
    skipped = skipped_total(src)  # every rank takes part; rank 0 gets the sum
    merged = reduce_to_rank0(stats)
    if merged is None:  # another rank holds the whole set's statistics
        return _empty(stats.keep_features, stats.keep_logits, net.dim)
    if merged.n == 0:
        raise DataError(f"{src.name}: no images could be read")
    merged.skipped = skipped
    merged.input = input_record(source, src, fp, content_hash)  # fingerprinted here when the cache did not
    if path is not None:
        try:
            save_stats(path, merged, **stats_meta(net.sha256, net.id, source_options.get("resize")),
                       source=str(src.name), n=merged.n, skipped_files=skipped)
        except OSError as e:
            warn_cache_unwritable(e)
    return merged


def stats_meta(weights_sha256: str, extractor: str, resize: int | None) -> dict[str, Any]:
    """What a statistics file records about how it was made, and `load_stats` checks: the
    weights, the extractor (network and preprocessing) and the ``--resize`` of the images.
    Cache entries and ``ganeval stats -o`` files both write it."""
    return dict(weights_sha256=weights_sha256, extractor=extractor, resize=resize)


def _empty(features: bool, logits: bool, dim: int) -> FeatureStats:
    # What ranks other than 0 hold after a distributed extraction: merging it changes nothing.
    return FeatureStats(dim, keep_features=features, keep_logits=logits)


def read_cached(path: Path, net: Extractor) -> FeatureStats | None:
    """The cache entry at `path` if it exists and passes `load_stats` and ``net.check``."""
    try:
        if not path.is_file():
            return None
        return net.check(path, load_stats(path, dim=net.dim, weights_sha256=net.sha256, protocol=net.protocol,
                                          num_logits=net.num_logits))
    except (OSError, DataError) as e:
        # An entry that cannot be read is recomputed (and rewritten), not reported as the data's fault.
        warnings.warn(f"ignoring unusable cached statistics {path} ({e})", stacklevel=3)
        return None
