"""The feature-extractor registry: one `ExtractorSpec` per network that maps images to features.

Extractor packages (`ganeval.inception`, `ganeval.dinov2`, `ganeval.clip`, or a user's own)
register themselves when imported; this layer imports none of them.  The layers above
(metrics, CLI) import `ganeval.extractors`, which imports the built-in packages and any
``ganeval.extractors`` entry point, so a metric asks for an extractor by name
(``fd --features clip``) without knowing where it lives.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..errors import UsageError
from .extractor import Extractor

__all__ = ["ExtractorSpec", "register_extractor", "get_extractor", "extractor_names", "extractor_specs",
           "load_extractor"]


def _owns_nothing(name: str) -> bool:
    return False


@dataclasses.dataclass(frozen=True)
class ExtractorSpec:
    """One registered extractor.

    `load(model=None, weights=None, device=None, allow_download=False)` returns a ready
    `Extractor` (loaded once per process by the package; a `LazyRef` keeps registration free
    of torch).  `models` lists the model names it accepts (the first is the default);
    `owns(file_name)` says which files in ganeval's cache dir are this extractor's weights, so
    that ``ganeval cache ls`` and ``cache clear`` know them.
    """

    name: str
    summary: str
    load: Callable[..., Extractor]
    models: tuple[str, ...] = ("default",)
    owns: Callable[[str], bool] = _owns_nothing


_REGISTRY: dict[str, ExtractorSpec] = {}


def register_extractor(spec: ExtractorSpec) -> None:
    """Add (or replace) an extractor by name."""
    _REGISTRY[spec.name] = spec


def extractor_specs() -> list[ExtractorSpec]:
    return list(_REGISTRY.values())


def extractor_names() -> list[str]:
    return list(_REGISTRY)


def get_extractor(name: str) -> ExtractorSpec:
    """The spec registered under `name`, or a `UsageError` listing the choices."""
    if name not in _REGISTRY:
        raise UsageError(f"unknown feature extractor {name!r}; choose from {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def load_extractor(name: str, model: Any = None, weights: str | None = None, device: Any = None,
                   allow_download: bool = False) -> Extractor:
    """The ready `Extractor` of registered `name` (its default model unless `model`: one of
    its model names, or a configuration object the package itself accepts)."""
    spec = get_extractor(name)
    model = model or spec.models[0]
    if isinstance(model, str) and model not in spec.models:
        raise UsageError(f"{name} has no model {model!r}; choose from {', '.join(spec.models)}")
    return spec.load(model=model, weights=weights, device=device, allow_download=allow_download)
