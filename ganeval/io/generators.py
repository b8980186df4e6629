"""Latent generators: what Perceptual Path Length measures (z -> images, with z in hand).

An image source (`ganeval.io.sources`) only needs ``fn(n) -> images``; PPL must choose the
latents itself, so it takes a *latent generator*: a callable ``G(z)`` mapping a float tensor
(N, z_dim) to images (N, C, H, W) with C = 3 (or 1, tiled to RGB), that has an integer
``z_dim`` attribute and may declare its output range as ``input_range`` (default (-1, 1), the
ProGAN/StyleGAN convention).  `LatentGenerator` wraps any function into one.

`load_generator` turns what the command line names into one:

* ``module:attr`` (no such file): ``attr`` is a latent generator, or a class or factory called
  with no arguments that returns one (the current directory is importable, as with ``python -m``);
* ``PATH`` with ``loader="module:function"``: ``function(path, device)`` returns one (any
  user checkpoint format);
* ``PATH`` alone: a registered `GeneratorKind` that detects it, e.g. the reference trainer's
  checkpoints.  Kinds register with `register_generator_kind`, from the same
  ``ganeval.entry_kinds`` entry point through which packages add leaderboard entry kinds, so
  ganeval never imports a trainer.
"""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import DataError, UsageError
from ..options import check_input_range

__all__ = ["LatentGenerator", "GeneratorKind", "register_generator_kind", "as_latent_generator", "load_generator",
           "import_target"]


class LatentGenerator:
    """A function ``fn(z) -> images`` with its latent width and output range.

    `name` is what results and errors call it (a path, ``module:attr`` or the function name).
    """

    def __init__(self, fn: Callable[[torch.Tensor], Any], z_dim: int,
                 input_range: tuple[float, float] = (-1.0, 1.0), name: str | None = None) -> None:
        if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
            raise UsageError(f"{name or 'generator'}: z_dim {z_dim!r} must be a positive integer")
        self.fn, self.z_dim = fn, z_dim
        self.input_range = check_input_range(input_range, "input_range")
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)


def as_latent_generator(obj: Any, input_range: tuple[float, float] | None = None,
                        name: str | None = None) -> LatentGenerator:
    """`obj` as a `LatentGenerator`: itself, or any callable with an integer ``z_dim``
    (``input_range`` from the argument, else its attribute, else (-1, 1))."""
    if isinstance(obj, LatentGenerator):
        if input_range is not None:
            return LatentGenerator(obj.fn, obj.z_dim, input_range, name or obj.name)
        return obj
    z_dim = getattr(obj, "z_dim", None)
    if not callable(obj) or z_dim is None:
        raise UsageError(f"{name or type(obj).__name__}: PPL needs a latent generator, a callable G(z) with an "
                         "integer z_dim attribute (z: a float tensor of shape (N, z_dim)); wrap a function with "
                         "ganeval.io.generators.LatentGenerator(fn, z_dim)")
    rng = input_range if input_range is not None else getattr(obj, "input_range", (-1.0, 1.0))
    return LatentGenerator(obj, z_dim, rng, name)


class GeneratorKind:
    """A checkpoint format that yields latent generators: `detect(path)` says whether a path is
    one; `load(path, device)` returns the generator (anything `as_latent_generator` takes)."""

    def __init__(self, name: str, detect: Callable[[Path], bool], load: Callable[..., Any]) -> None:
        self.name, self.detect, self.load = name, detect, load


_KINDS: dict[str, GeneratorKind] = {}
_PLUGINS_LOADED = False


def register_generator_kind(kind: GeneratorKind) -> None:
    """Make checkpoints of `kind` loadable by `load_generator` (a later registration of a name wins)."""
    _KINDS[kind.name] = kind


def load_plugins() -> None:
    """Call every ``ganeval.entry_kinds`` entry point once per process: each registers its
    trainer's leaderboard entry kinds and generator kinds (the reference trainer's does both)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points
    for ep in entry_points(group="ganeval.entry_kinds"):
        try:
            ep.load()()
        except ImportError:
            continue  # a plugin whose package is not importable here adds nothing


def _kinds() -> list[GeneratorKind]:
    load_plugins()
    return list(_KINDS.values())


def import_target(ref: str, what: str = "--loader") -> Any:
    """The object named ``module:attr`` (dotted attr allowed); the current directory is importable."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"{what} {ref!r}: write module:function, e.g. mypackage.models:load_generator")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise UsageError(f"{what} {ref!r}: cannot import {module} ({e})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{what} {ref!r}: {module} has no attribute {attr}")
        obj = getattr(obj, part)
    return obj


def load_generator(target: Any, loader: str | Callable[..., Any] | None = None, device: Any = None,
                   input_range: tuple[float, float] | None = None) -> LatentGenerator:
    """A `LatentGenerator` from an object, a ``module:attr`` reference or a checkpoint path
    (through `loader` or a registered `GeneratorKind`); see the module docstring."""
    if not isinstance(target, (str, os.PathLike)):
        return as_latent_generator(target, input_range)
    text, path = str(target), Path(target)
    if loader is not None:
        fn = import_target(loader) if isinstance(loader, str) else loader
        if not callable(fn):
            raise UsageError(f"--loader {loader!r}: not a function")
        if not path.exists():
            raise DataError(f"{text}: checkpoint not found")
        return as_latent_generator(fn(text, device), input_range, name=text)
    if not path.exists() and ":" in text and not text.startswith(("/", ".")):
        obj = import_target(text, "generator")
        if isinstance(obj, type) or (getattr(obj, "z_dim", None) is None and callable(obj)):
            try:
                obj = obj()  # a class or a factory, called with no arguments
            except TypeError as e:
                raise UsageError(f"generator {text!r}: calling it with no arguments to make the generator failed "
                                 f"({e}); name an object with z_dim, or use --loader") from None
        return as_latent_generator(obj, input_range, name=text)
    if not path.exists():
        raise DataError(f"{text}: no such checkpoint (or give a generator as module:attr)")
    kind = next((k for k in _kinds() if k.detect(path)), None)
    if kind is None:
        known = ", ".join(k.name for k in _KINDS.values()) or "none registered"
        raise UsageError(f"{text}: not a generator checkpoint ganeval knows (kinds: {known}); pass "
                         "--loader module:function whose function(path, device) returns a latent generator")
    return as_latent_generator(kind.load(path, device), input_range, name=text)
