"""`LazyRef`: a callable named by ``"package.module:attr"``, imported on its first call.

The metric and extractor registries hold these, so that listing what is registered imports
no metric or network module, and no torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LazyRef"]


class LazyRef:
    """A callable named ``"package.module:attr"``, imported on its first call.

    The built-in metrics register their classes and functions as these, so that listing
    metrics (`metric_names`, `help_text`, ``ganeval all --help``) imports no metric module
    and no torch.  Calling it calls the target, and ``inspect.signature`` sees the target's
    signature through ``__wrapped__`` (which `MetricSpec.takes` relies on).
    """

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self._target: Any = None

    def resolve(self) -> Any:
        """The named object, imported once."""
        if self._target is None:
            module, _, attr = self.ref.partition(":")
            self._target = getattr(importlib.import_module(module), attr)
        return self._target

    @property
    def __wrapped__(self) -> Any:
        return self.resolve()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyRef({self.ref!r})"
