"""The on-disk cache of feature statistics, shared by every extractor.

One set's statistics are stored under ``<cache dir>/stats/<key>.npz``, where the key
(`statistics_key`) covers the set's content (file names, sizes and mtimes, or a full content
hash, and which of the two), every option the set is opened with in one canonical form
(`canonical_source_options`), the extractor id (network and preprocessing), the weights
sha256 and the ganeval version.  A changed dataset, option, network or weights file therefore
never reuses old statistics, and every command and the API hit one entry for the same set.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

from .. import __version__
from ..io import sources as _sources
from ..options import check_count_arg, check_input_range, check_seed

__all__ = ["cache_dir", "cache_key", "cache_path", "cache_files", "statistics_key", "canonical_source_options",
           "warn_cache_unwritable", "writable"]


def cache_dir() -> Path:
    """ganeval's cache directory (weights, converted weights, statistics)."""
    if os.environ.get("GANEVAL_CACHE_DIR"):
        return Path(os.environ["GANEVAL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ganeval"


_cache_warned = False


def warn_cache_unwritable(error: OSError) -> None:
    """Say once per process that the cache is skipped; callers carry on without it."""
    global _cache_warned
    if _cache_warned:
        return
    _cache_warned = True
    warnings.warn(f"ganeval cache {cache_dir()} is not writable ({error.strerror or error}); continuing without "
                  "the cache (set GANEVAL_CACHE_DIR to a writable directory, or pass --no-cache)", stacklevel=3)


def writable(path: Path) -> Path | None:
    """`path` when its directory exists or can be made; None (after one warning) otherwise."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        warn_cache_unwritable(e)
        return None
    return path


def cache_key(**options: Any) -> str:
    """A stable hash of everything that determines a set's statistics (order-independent;
    callers pass canonical values, see `statistics_key`)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cache_path(key: str) -> Path:
    return cache_dir() / "stats" / f"{key}.npz"


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
    # The options `ganeval.io.sources.open_source` declares (looked up there, not through a
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
                   extractor: str) -> str:
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


_STATS_NAME = re.compile(r"[0-9a-f]{32}\.npz")


def cache_files(stats_only: bool = False) -> list[Path]:
    """The files in the cache dir that ganeval wrote, sorted.

    The cache dir may be a user's own directory (``$GANEVAL_CACHE_DIR``), so only ganeval's
    names count: statistics ``stats/<32 hex>.npz`` (`cache_path`), and the weights files each
    registered extractor claims (`ExtractorSpec.owns`: converted or downloaded weights, and
    their ``.sha256`` records).
    """
    from .registry import extractor_specs
    root = cache_dir()
    stats_dir = root / "stats"
    out = [p for p in stats_dir.iterdir() if _STATS_NAME.fullmatch(p.name)] if stats_dir.is_dir() else []
    if not stats_only and root.is_dir():
        owners = [spec.owns for spec in extractor_specs()]
        out += [p for p in root.iterdir() if any(owns(p.name) for owns in owners)]
    return sorted(p for p in out if p.is_file() and not p.is_symlink())
