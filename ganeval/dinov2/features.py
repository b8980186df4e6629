"""One cached DINOv2 pass per image set -> `FeatureStats`, mirroring `ganeval.inception.features.extract`.

`ganeval.inception.features.extract` is bound to the Inception network (its loader, pool3 width
and extractor name), so this is the same logic for a `DINOv2Extractor`: statistics ``.npz``
files stand in for sets (checked for width and weights sha256), results are cached under a key
holding the set's fingerprint, the source options, the extractor id and the weights sha256,
and rank 0 alone reads and writes the cache under torchrun.  (Duplication to fold into one
extractor-generic ``extract`` when the Inception module may change.)
"""
from __future__ import annotations

import os
import warnings
from typing import Any

from .. import __version__
from ..device import resolve_device
from ..dist import broadcast, is_main, reduce_to_rank0
from ..errors import DataError
from ..inception.features import _empty, _writable
from ..inception.stats import FeatureStats, cache_key, cache_path, is_stats_file, load_stats, save_stats
from ..inception.weights import warn_cache_unwritable
from ..io.sources import open_source
from ..progress import progress
from .network import DINOv2Extractor, ViTConfig
from .weights import ENV, DINOv2WeightsInfo, config_of, load_dinov2

_MODELS: dict[tuple, tuple[DINOv2Extractor, DINOv2WeightsInfo]] = {}


def dinov2(model: str | ViTConfig = "vitl14", weights: str | None = None, device: Any = None,
           allow_download: bool = False) -> tuple[DINOv2Extractor, DINOv2WeightsInfo]:
    """The loaded extractor and its info, once per process, model, weights file and device."""
    dev = resolve_device(device)
    key = (config_of(model), weights, os.environ.get(ENV), str(dev))
    if key not in _MODELS:
        _MODELS[key] = load_dinov2(model, weights, dev, allow_download)
    return _MODELS[key]


def _check_stats(path: Any, stats: FeatureStats, net: DINOv2Extractor) -> FeatureStats:
    recorded = getattr(stats, "meta", {}).get("extractor")
    if recorded and recorded != net.extractor_id:
        raise DataError(f"{path}: statistics of {recorded!r}, not of {net.extractor_id!r}; recompute them")
    return stats


def extract_dinov2(source: Any, *, model: str | ViTConfig = "vitl14", weights: str | None = None,
                   features: bool = False, num_images: int | None = None, subset: str = "first", seed: int = 0,
                   batch_size: int = 64, device: Any = None, workers: int | None = None, cache: bool = True,
                   content_hash: bool = False, quiet: bool = True, allow_weights_mismatch: bool = False,
                   allow_download: bool = False, **source_kw: Any) -> tuple[FeatureStats, DINOv2WeightsInfo]:
    """DINOv2 statistics of one image set (or a statistics ``.npz`` of the same width), computed once."""
    net, info = dinov2(model, weights, device, allow_download)
    if is_stats_file(source):
        stats = _check_stats(source, load_stats(source, dim=net.dim, weights_sha256=info.sha256,
                                                allow_weights_mismatch=allow_weights_mismatch), net)
        if features and not stats.features:
            raise DataError(f"{source}: holds only mu/sigma; this needs the images (or statistics saved with features)")
        return (stats if is_main() else _empty(stats.keep_features, False)), info
    source_options = dict(num_images=num_images, subset=subset, seed=seed, **source_kw)
    src = open_source(source, **source_options)
    fp = src.fingerprint(content=content_hash) if cache else None
    path = None
    if fp is not None:
        opts = dict(source_options)
        if opts.get("subset", "first") != "random":
            opts.pop("seed", None)  # the first N images do not depend on the seed
        path = cache_path(cache_key(content=fp, fingerprint="content" if content_hash else "metadata",
                                    source_options=opts, extractor=net.extractor_id, weights=info.sha256,
                                    version=__version__))
        hit = _read_cached(path, net, info.sha256) if is_main() else None
        if broadcast(hit is not None and (not features or bool(hit.features))):
            return (hit if is_main() else _empty(features, False)), info
        path = _writable(path) if is_main() else None
    stats = FeatureStats(dim=net.dim, keep_features=features or fp is not None)
    for start, batch in progress(src.shard(batch_size, resolve_device(device), workers), total=len(src),
                                 desc=net.name, quiet=quiet):
        stats.update(net(batch), start=start)
    merged = reduce_to_rank0(stats)
    if merged is None:
        return _empty(stats.keep_features, False), info
    if merged.n == 0:
        raise DataError(f"{src.name}: no images could be read")
    if path is not None:
        try:
            save_stats(path, merged, source=str(src.name), weights_sha256=info.sha256, extractor=net.extractor_id,
                       n=merged.n)
        except OSError as e:
            warn_cache_unwritable(e)
    return merged, info


def _read_cached(path, net: DINOv2Extractor, weights_sha256: str) -> FeatureStats | None:
    try:
        if not path.is_file():
            return None
        return _check_stats(path, load_stats(path, dim=net.dim, weights_sha256=weights_sha256), net)
    except (OSError, DataError) as e:
        warnings.warn(f"ignoring unusable cached statistics {path} ({e})", stacklevel=3)
        return None
