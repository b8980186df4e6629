"""One extraction of Inception features per image set, shared by every Inception metric.

`extract` streams a source through the network once (`ganeval.features.extract_features`)
and returns a `FeatureStats` with what the requested metrics need (moments for FID; features
for KID and PR; unbiased logits for IS).  Results are cached on disk under a key that covers
the set's content and every option (`ganeval.features.cache.statistics_key`); a statistics
``.npz`` can stand in for a set wherever only moments are needed, after
`ganeval.features.stats.load_stats` has checked it.
"""
from __future__ import annotations

import os
from typing import Any

from ..device import resolve_device
from ..features.extract import extract_features, stats_meta
from ..features.extractor import Extractor
from ..features.stats import FeatureStats, LoadedStats, save_stats
from .network import NUM_LOGITS, SPATIAL_DIM
from .protocol import DEFAULT as DEFAULT_PROTOCOL, get_protocol
from .weights import WeightsInfo, load_inception, no_logits_error

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


def extractor(weights: str | None = None, device: Any = None, protocol: str = DEFAULT_PROTOCOL) -> Extractor:
    """The Inception network under `protocol` as a generic `Extractor` (pool3 features, and
    the unbiased logits when the weights have the classifier)."""
    p = get_protocol(protocol)
    proto = p.name
    model, info = inception(weights, device)
    settings = {"network": "inception-2015-12-05", "feature": "pool3", "protocol": p.name, "resize": p.resize,
                "weights_sha256": info.sha256, "weights_format": info.format}
    return Extractor("inception", extractor_id(proto), POOL3_DIM, info.sha256,
                     lambda x, lg: model(x, with_logits=lg, protocol=proto), label="Inception", settings=settings,
                     has_logits=info.has_logits, num_logits=NUM_LOGITS, protocol=proto, info=info)


def load(model: str | None = None, weights: str | None = None, device: Any = None, allow_download: bool = False,
         protocol: str = DEFAULT_PROTOCOL) -> Extractor:
    """The registry's loader (`ganeval.features.ExtractorSpec.load`); Inception has one model."""
    return extractor(weights, device, protocol)


def sfid_id(protocol: str = DEFAULT_PROTOCOL) -> str:
    """The sFID extractor's id under `protocol` (keys the cache apart from pool3's)."""
    return f"inception-2015-12-05 {get_protocol(protocol).resize} mixed_6/conv[:7] nhwc"


def sfid_extractor(weights: str | None = None, device: Any = None, protocol: str = DEFAULT_PROTOCOL) -> Extractor:
    """The Inception network's sFID features (`InceptionV3FID.spatial`, 2023-d) under
    `protocol` as a generic `Extractor`.

    Every weights format works: ganeval converts a TorchScript file (NVIDIA's, or
    fid-helper's) into its own layer-by-layer network, so the mixed_6/conv layer is there
    whichever file the weights came from (tests/peers: TorchScript and torch-fidelity-format
    weights give the same features, and those equal torch-fidelity's ``Mixed_6d.branch1x1``).
    """
    p = get_protocol(protocol)
    proto = p.name
    model, info = inception(weights, device)
    settings = {"network": "inception-2015-12-05", "feature": "mixed_6/conv[:7]", "layout": "nhwc",
                "protocol": p.name, "resize": p.resize, "weights_sha256": info.sha256, "weights_format": info.format}
    return Extractor("inception-sfid", sfid_id(proto), SPATIAL_DIM, info.sha256,
                     lambda x, lg: (model.spatial(x, protocol=proto), None), label="sFID", settings=settings,
                     protocol=proto, info=info)


def load_sfid(model: str | None = None, weights: str | None = None, device: Any = None, allow_download: bool = False,
              protocol: str = DEFAULT_PROTOCOL) -> Extractor:
    """The registry's loader of ``inception-sfid`` (`ganeval.features.ExtractorSpec.load`)."""
    return sfid_extractor(weights, device, protocol)


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
    net = extractor(weights, device, protocol)
    info = net.info
    if logits and not info.has_logits:
        raise no_logits_error(info)  # before the set is opened, let alone read
    stats = extract_features(net, source, features=features, logits=logits, num_images=num_images, subset=subset,
                             seed=seed, batch_size=batch_size, device=device, workers=workers, cache=cache,
                             content_hash=content_hash, quiet=quiet, allow_weights_mismatch=allow_weights_mismatch,
                             **source_kw)
    return stats, info


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
