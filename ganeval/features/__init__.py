"""The generic feature layer: extractor interface and registry, one cached extraction pass,
streaming statistics and their cache.

Extractor packages (`ganeval.inception`, `ganeval.dinov2`, `ganeval.clip`) sit above this layer
and register themselves (`register_extractor`); nothing here imports them.  See ARCHITECTURE.md
for how to add one.
"""
from importlib import import_module
from typing import Any

# Imported on first use, so that listing extractors and metrics needs no torch.
_LAZY = {"Extractor": "extractor", "ExtractorSpec": "registry", "register_extractor": "registry",
         "get_extractor": "registry", "extractor_names": "registry", "extractor_specs": "registry",
         "load_extractor": "registry", "extract": "extract", "extract_features": "extract",
         "stats_meta": "extract", "FeatureStats": "stats", "ResampledStats": "stats", "LoadedStats": "stats",
         "load_stats": "stats", "save_stats": "stats", "is_stats_file": "stats", "cache_dir": "cache",
         "cache_files": "cache", "statistics_key": "cache", "canonical_source_options": "cache"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
