"""The built-in feature extractors, and any a package declares as a ``ganeval.extractors``
entry point: importing this module registers them all (`ganeval.features.registry`).

The metric and CLI layers import it; the feature layer does not (it knows no extractor).
Registration imports no torch: each package registers a lazy loader.
"""
from __future__ import annotations

import warnings
from importlib.metadata import entry_points

from . import clip as _clip  # noqa: F401  (registers "clip")
from . import dinov2 as _dinov2  # noqa: F401  (registers "dinov2")
from . import inception as _inception  # noqa: F401  (registers "inception")


def _load_entry_points() -> None:
    for ep in entry_points(group="ganeval.extractors"):
        try:
            ep.load()  # the module registers its extractor on import
        except Exception as e:  # noqa: BLE001 - a broken plug-in must not break the built-ins
            warnings.warn(f"feature extractor plug-in {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)


_load_entry_points()
