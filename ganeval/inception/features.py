"""One extraction of Inception features per image set, shared by every Inception metric.

`extract` streams a source through the network once and returns a `FeatureStats` with what
the requested metrics need (moments for FID; features for KID and PR; unbiased logits for
IS).  Results are cached on disk under a key that covers the set's content and every option
(`statistics_key`; see `ganeval.inception.stats`); a statistics ``.npz`` can stand in for a set wherever
only moments are needed, after `ganeval.inception.stats.load_stats` has checked it.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__
from ..device import resolve_device
from ..dist import broadcast, is_main, reduce_to_rank0
from ..errors import DataError
from ..options import check_count_arg, check_input_range, check_seed
from .weights import WeightsInfo, load_inception, no_logits_error, warn_cache_unwritable
from ..progress import progress
from ..io import sources as _sources
from ..io.inputs import input_record
from ..io.sources import open_source, skipped_total
from .protocol import DEFAULT as DEFAULT_PROTOCOL, get_protocol
from .stats import FeatureStats, LoadedStats, cache_key, cache_path, is_stats_file, load_stats, save_stats

_MODELS: dict[tuple, tuple[Any, WeightsInfo]] = {}
POOL3_DIM = 2048
EXTRACTOR = "inception-2015-12-05 tf1-bilinear-299 pool3+logits_unbiased"


def extractor_id(protocol: str = DEFAULT_PROTOCOL) -> str:
    """The Inception extractor's id under `protocol` (the default's is `EXTRACTOR`, unchanged
    since before protocols existed, so earlier cache entries stay valid)."""
    return EXTRACTOR.replace("tf1-bilinear-299", get_protocol(protocol).resize)


def inception(weights: str | None = None, device: Any = None, allow_pickle: bool = False):
    """The loaded network and its `WeightsInfo`, loaded once per process, weights file and device."""
    dev = resolve_device(device)
    key = (weights, os.environ.get("GANEVAL_INCEPTION_WEIGHTS"), str(dev))
    if key not in _MODELS:
        _MODELS[key] = load_inception(weights, dev, allow_pickle=allow_pickle)
    return _MODELS[key]


def require_logits(weights: str | None = None, device: Any = None) -> WeightsInfo:
    """The `WeightsInfo` of the weights in use, or a `WeightsError` that names the command or
    file that gives IS when they have no classifier layer.

    IS needs the logits; callers check this before they read any image, so a missing layer
    costs the time to load the weights, not a pass over the data (the network is loaded once
    per process either way, see `inception`).
    """
    _, info = inception(weights, device)
    if not info.has_logits:
        raise no_logits_error(info)
    return info


@dataclasses.dataclass(frozen=True)
class Extractor:
    """What `extract_features` needs to know about a feature network.

    `forward(batch, with_logits)` maps uint8 NCHW images on the device to ``(features,
    logits or None)``; `id` names the network and its preprocessing (it keys the cache and
    is recorded in the statistics files it writes); `sha256` identifies its weights; `check`
    vets statistics read from a file (beyond width and weights hash) and returns them.
    """

    name: str
    id: str
    dim: int
    sha256: str
    forward: Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor | None]]
    has_logits: bool = False
    check: Callable[[Any, FeatureStats], FeatureStats] = lambda path, stats: stats
    protocol: str | None = None  # the Inception protocol; statistics record it and files must match it


def extract(source: Any, *, features: bool = False, logits: bool = False, weights: str | None = None,
            num_images: int | None = None, subset: str = "first", seed: int = 0, batch_size: int = 64,
            device: Any = None, workers: int | None = None, cache: bool = True, content_hash: bool = False,
            quiet: bool = True, allow_weights_mismatch: bool = False, protocol: str = DEFAULT_PROTOCOL,
            **source_kw: Any) -> tuple[FeatureStats, WeightsInfo]:
    """Inception statistics of one image set (or a statistics ``.npz``), computed once.

    `features` keeps the pool3 rows (KID, PR) and `logits` the unbiased logits (IS); the
    moments are always accumulated.  With `cache`, results are stored under a content- and
    option-keyed file in ganeval's cache dir and reused only when everything matches; a cache
    that cannot be written is skipped with one warning.  A statistics file made with other
    weights (by its recorded sha256) is refused unless `allow_weights_mismatch`.  `protocol`
    picks the preprocessing of one FID tool (`ganeval.inception.protocol`); it keys the cache
    and is recorded in the statistics, and a statistics file of another protocol is refused.
    """
    proto = get_protocol(protocol).name
    model, info = inception(weights, device)
    if logits and not info.has_logits:
        raise no_logits_error(info)  # before the set is opened, let alone read
    net = Extractor("inception", extractor_id(proto), POOL3_DIM, info.sha256,
                    lambda x, lg: model(x, with_logits=lg, protocol=proto), has_logits=info.has_logits, protocol=proto)
    stats = extract_features(net, source, features=features, logits=logits, num_images=num_images, subset=subset,
                             seed=seed, batch_size=batch_size, device=device, workers=workers, cache=cache,
                             content_hash=content_hash, quiet=quiet, allow_weights_mismatch=allow_weights_mismatch,
                             **source_kw)
    return stats, info


def extract_features(net: Extractor, source: Any, *, features: bool = False, logits: bool = False,
                     num_images: int | None = None, subset: str = "first", seed: int = 0, batch_size: int = 64,
                     device: Any = None, workers: int | None = None, cache: bool = True, content_hash: bool = False,
                     quiet: bool = True, allow_weights_mismatch: bool = False, **source_kw: Any) -> FeatureStats:
    """One cached pass of `net` over a set: the extractor-agnostic body of `extract` (and of
    `ganeval.dinov2.features.extract_dinov2`).  A statistics ``.npz`` stands in for a set after
    `load_stats` and ``net.check``; under torchrun each rank measures its share, rank 0 gets
    the merged statistics (the others an empty object) and alone reads and writes the cache."""
    if is_stats_file(source):
        stats = net.check(source, load_stats(source, dim=net.dim, weights_sha256=net.sha256,
                                             allow_weights_mismatch=allow_weights_mismatch, protocol=net.protocol,
                                             resize=source_kw.get("resize")))
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
        hit = _read_cached(path, net) if is_main() else None
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
        path = _writable(path) if is_main() else None
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


def write_stats(path: str | os.PathLike, stats: FeatureStats, info: WeightsInfo, *, features: bool = False,
                resize: int | None = None) -> None:
    """Save one set's Inception statistics as ``ganeval stats -o`` does: mu, sigma and n, with the
    pool3 rows and unbiased logits only when `features` (the same file whether or not the
    cache kept them), and the provenance `load_stats` checks (weights, protocol, resize)."""
    if isinstance(stats, LoadedStats):  # a statistics file given as IMAGES: its moments are fixed
        out: FeatureStats = LoadedStats(stats.mu, stats.sigma, stats.n, stats.meta)
    else:
        out = FeatureStats(stats.dim)
        out.n, out.sum, out.outer = stats.n, stats.sum, stats.outer
    out.protocol = stats.protocol
    if features:
        out.features, out.logits, out.index = stats.features, stats.logits, stats.index
    proto = stats.protocol or DEFAULT_PROTOCOL
    save_stats(path, out, **stats_meta(info.sha256, extractor_id(proto), resize), protocol=proto)


def _empty(features: bool, logits: bool, dim: int = POOL3_DIM) -> FeatureStats:
    # What ranks other than 0 hold after a distributed extraction: merging it changes nothing.
    return FeatureStats(dim, keep_features=features, keep_logits=logits)


def canonical_source_options(source_options: dict[str, Any]) -> dict[str, Any]:
    """`source_options` (what `open_source` received) in one canonical form: every `open_source`
    option present, defaults filled in, values as `open_source` checks them (``(-1, 1)`` and
    ``[-1.0, 1.0]`` are one range, ``recursive=0`` is False).  So ``ganeval fid`` (which passes
    no ``input_range``), ``ganeval all`` and the `Evaluator` (which pass ``input_range=None``)
    and the API (which passes only what it was given) key one set alike.

    The seed is dropped unless it picks a random subset: the first N images do not depend on
    it, and keying it would make every ``--seed`` (which KID also uses for its subsets)
    recompute the same features.
    """
    # The options `ganeval.io.sources.open_source` declares (looked up there, not through this
    # module's name for it, which tests replace with stubs).
    params = inspect.signature(_sources.open_source).parameters
    opts = {k: p.default for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    opts.update(source_options)
    opts["num_images"] = None if opts["num_images"] is None else check_count_arg(opts["num_images"], "num_images")
    opts["seed"], opts["input_range"] = check_seed(opts["seed"]), check_input_range(opts["input_range"])
    opts["recursive"], opts["skip_bad"] = bool(opts["recursive"]), bool(opts["skip_bad"])
    opts["resize"] = None if opts["resize"] is None else int(opts["resize"])
    if opts["subset"] != "random":
        opts.pop("seed")
    return opts


def statistics_key(fingerprint: str, content_hash: bool, source_options: dict[str, Any], weights_sha256: str,
                   extractor: str = EXTRACTOR) -> str:
    """The cache key of a set's statistics: its fingerprint, how it was taken, and its options
    (`source_options`, what `open_source` received, in `canonical_source_options`' form, so a
    default left out and a default passed give one key).

    Key compatibility: the canonical form is exactly what ``ganeval all``, `evaluate` and the
    leaderboard passed before (every option, ``input_range`` included, checked values), so
    their entries stay valid; entries written by ``fid``/``stats``/the one-shot API before
    (which left options out) get a new key and are extracted once more.
    """
    opts = canonical_source_options(source_options)
    return cache_key(content=fingerprint, fingerprint="content" if content_hash else "metadata",
                     source_options=opts, extractor=extractor, weights=weights_sha256, version=__version__)


def _read_cached(path: Path, net: Extractor) -> FeatureStats | None:
    try:
        if not path.is_file():
            return None
        return net.check(path, load_stats(path, dim=net.dim, weights_sha256=net.sha256, protocol=net.protocol))
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
