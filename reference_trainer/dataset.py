"""Multi-resolution dataset cache (official dataset_tool.py + dataset.py), and built-in data.

A cache is a folder with ``manifest.json`` and one memory-mapped uint8 NCHW ``.npy`` per
resolution (``res0004.npy`` ... ``res0032.npy``).  Lower levels are made as official
TFRecordExporter.add_image does: 2x2 box averages computed in float32 from the previous
*unquantized* level, then ``rint`` and clip to uint8.

Mirror augmentation (``--mirror``) is recorded in the manifest and applied at load time
by the trainer: each real image is flipped left-right with probability 1/2 (official
process_reals ``mirror_augment``), so the cache itself never holds flipped copies.

Command line::

    python -m reference_trainer.dataset build SRC OUT --resolution 256 [--mirror] [--recursive] [--skip-bad]
    python -m reference_trainer.dataset builtin OUT --resolution 32 --num 2048 [--kind shapes|photos] [--seed 0]
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import click
import numpy as np
import torch

from ganeval.cli.boundary import BoundaryGroup, debug_option, set_debug
from ganeval.cli.options import check_output_dir, seed_option  # output folders and seeds: exit 2, as in ganeval
from ganeval.errors import DataError, UsageError
from ganeval.io.fileio import atomic_write_text, check_target
from ganeval.io.samples import photo_crops

MANIFEST = "manifest.json"


def _level_name(res: int) -> str:
    return f"res{res:04d}.npy"


def write_cache(batches: Iterator[np.ndarray], num_images: int, resolution: int, out: str | os.PathLike,
                *, mirror: bool = False, source: str = "", allow_fewer: bool = False) -> Path:
    """Write uint8 NCHW batches at `resolution` as a multi-resolution cache in `out`.

    `num_images` is exact unless `allow_fewer` (a source that skips bad files yields fewer)."""
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        i = _write_levels(batches, num_images, resolution, out, source, allow_fewer)
    except BaseException:
        # A failed build leaves no temporary levels, and no folder it made itself.
        for tmp in out.glob("res*.*.npy"):
            if tmp.name.endswith((".tmp.npy", ".part.npy")):
                tmp.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    levels = [2 ** r for r in range(int(math.log2(resolution)), 1, -1)]
    manifest = dict(format="reference_trainer-multires-v1", resolution=resolution, num_images=i,
                    levels={str(r): _level_name(r) for r in levels}, mirror=mirror, source=source)
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))
    return out


def _write_levels(batches: Iterator[np.ndarray], num_images: int, resolution: int, out: Path, source: str,
                  allow_fewer: bool) -> int:
    log2 = int(math.log2(resolution))
    levels = [2 ** r for r in range(log2, 1, -1)]
    # Levels are memory-mapped, so they cannot go through atomic_write's file object; their
    # targets get its check (no device, FIFO or link replaced), before anything is written.
    for name in [MANIFEST] + [_level_name(r) for r in levels]:
        check_target(out / name)
    arrays = {r: np.lib.format.open_memmap(out / (_level_name(r) + ".tmp.npy"), mode="w+", dtype=np.uint8,
                                           shape=(num_images, 3, r, r)) for r in levels}
    i = 0
    for batch in batches:
        img = np.asarray(batch)
        if i + len(img) > num_images:
            raise DataError(f"{source}: yielded more than the {num_images} images it announced")
        for r in levels:
            if r != resolution:  # official: average the float image of the previous level
                img = img.astype(np.float32)
                img = (img[:, :, 0::2, 0::2] + img[:, :, 0::2, 1::2] + img[:, :, 1::2, 0::2]
                       + img[:, :, 1::2, 1::2]) * 0.25
            arrays[r][i:i + len(img)] = np.rint(img).clip(0, 255).astype(np.uint8)
        i += len(img)
    if i != num_images and not (allow_fewer and i > 0):
        raise DataError(f"{source}: yielded {i} images, expected {num_images}")
    for r, a in arrays.items():
        tmp = out / (_level_name(r) + ".tmp.npy")
        if i < num_images:  # the .npy header holds the count, so the level is rewritten at its size
            part = out / (_level_name(r) + ".part.npy")
            np.lib.format.open_memmap(part, mode="w+", dtype=np.uint8, shape=(i, 3, r, r))[:] = a[:i]
            os.replace(part, tmp)
        a.flush()
        del a
        check_target(out / _level_name(r))
        os.replace(tmp, out / _level_name(r))
    return i


def build(src: Any, out: str | os.PathLike, resolution: int | None = None, *, mirror: bool = False,
          num_images: int | None = None, batch_size: int = 256, recursive: bool = False,
          skip_bad: bool = False) -> Path:
    """Turn any ganeval image source (folder, zip, npy/npz, array) into a cache in `out`.

    The source must hold square images; `resolution` (a power of two >= 4, default the
    source's) resizes files with PIL bicubic when it differs from theirs.  `recursive` and
    `skip_bad` are `ganeval.io.sources.open_source`'s.  Raises `DataError` naming the source for
    anything unusable.
    """
    from ganeval.io.sources import open_source
    name = os.fspath(src) if isinstance(src, (str, os.PathLike)) else type(src).__name__
    is_file_set = isinstance(src, (str, os.PathLike)) and Path(src).suffix.lower() not in (".npy", ".npz")
    # Files are resized on decode whenever a resolution is asked for, so a folder of mixed
    # sizes works too (PIL returns a same-size image unchanged).
    resize = resolution if is_file_set else None
    try:
        source = open_source(src, num_images=num_images, recursive=recursive, skip_bad=skip_bad, resize=resize)
        size = source.resolution
        if size is None:
            raise DataError(f"{name}: cannot tell the image size; pass a folder, zip or array")
        res = resolution or size[0]
        if res < 4 or res != 2 ** int(math.log2(res)):
            raise DataError(f"{name}: resolution {res} is not a power of two >= 4; pass --resolution 2**k")
        if tuple(size) != (res, res):
            if not is_file_set:
                raise DataError(f"{name}: images are {size[0]}x{size[1]}, not {res}x{res}; resize them first")
            source = open_source(src, num_images=num_images, recursive=recursive, skip_bad=skip_bad, resize=res)
        batches = (b.numpy() for b in source.batches(batch_size))
        return write_cache(batches, len(source), res, out, mirror=mirror, source=name, allow_fewer=skip_bad)
    except DataError as e:
        # ganeval's image reader names its own command line's option for resizing.
        raise DataError(str(e).replace("--resize R", "--resolution R")) from None


BUILTIN_KINDS = ("shapes", "photos")


def builtin_images(resolution: int = 32, num: int = 2048, seed: int = 0, kind: str = "shapes") -> np.ndarray:
    """A built-in training set as uint8 NCHW at `resolution`; deterministic, no download.

    `shapes` (the default) is `reference_trainer.shapes`: one anti-aliased shape in one of
    four colours on a gradient, which a small ProGAN learns on a CPU and whose modes are
    known.  `photos` is ganeval's photo crops (`ganeval.io.samples.photo_crops`), half of them
    mirrored left-right as ProGAN's ``--mirror`` augmentation does: texture, harder to judge.
    """
    if kind == "shapes":
        from .shapes import shapes_images
        return shapes_images(num, resolution, seed=seed)
    if kind == "photos":
        return photo_crops(num, resolution, seed=seed, flip=True)
    raise UsageError(f"built-in data kind {kind!r}: choose from {', '.join(BUILTIN_KINDS)}")


def build_builtin(out: str | os.PathLike, resolution: int = 32, num: int = 2048, seed: int = 0,
                  kind: str = "shapes") -> Path:
    """Write `builtin_images` as a cache in `out` (reused when the manifest already matches)."""
    out = Path(out)
    want = dict(resolution=resolution, num_images=num, source=f"builtin:{kind}:seed={seed}")
    m = out / MANIFEST
    if m.exists():
        have = json.loads(m.read_text())
        if all(have.get(k) == v for k, v in want.items()):
            return out
    images = builtin_images(resolution, num, seed, kind)
    return write_cache(iter([images]), num, resolution, out, source=want["source"])


class MultiResDataset:
    """A cache opened for training: `get(indices, resolution)` returns uint8 NCHW tensors."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        m = self.path / MANIFEST
        if not m.is_file():
            raise DataError(f"{m}: no dataset manifest; build a cache with "
                            "`python -m reference_trainer.dataset build SRC OUT --resolution R`")
        try:
            meta = json.loads(m.read_text())
            self.resolution, self.num_images = int(meta["resolution"]), int(meta["num_images"])
            self.mirror = bool(meta.get("mirror", False))
            levels = {int(r): name for r, name in meta["levels"].items()}
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{m}: corrupt manifest ({type(e).__name__}: {e}); rebuild the cache") from None
        self.levels: dict[int, np.ndarray] = {}
        for r, name in levels.items():
            f = self.path / name
            try:
                a = np.load(f, mmap_mode="r")
            except Exception as e:
                raise DataError(f"{f}: cannot read cache level ({type(e).__name__}); rebuild the cache") from None
            if a.dtype != np.uint8 or a.shape != (self.num_images, 3, r, r):
                raise DataError(f"{f}: expected uint8 {(self.num_images, 3, r, r)}, got {a.dtype} "
                                f"{a.shape}; rebuild the cache")
            self.levels[r] = a
        if self.resolution not in self.levels:
            raise DataError(f"{m}: lists no level at the full resolution {self.resolution}; rebuild the cache")
        self.resolution_log2 = int(math.log2(self.resolution))

    def __len__(self) -> int:
        return self.num_images

    def full_resolution_path(self) -> str:
        """The full-resolution level's .npy, e.g. as the real source of a metric."""
        return str(self.path / _level_name(self.resolution))

    def get(self, indices: np.ndarray, resolution: int) -> torch.Tensor:
        """uint8 NCHW images `indices` at `resolution` (read from the memory map)."""
        order = np.argsort(indices)  # sorted reads are kinder to the page cache
        out = np.empty((len(indices), 3, resolution, resolution), np.uint8)
        out[order] = self.levels[resolution][np.asarray(indices)[order]]
        return torch.from_numpy(out)


class Sampler:
    """Endless shuffled index stream with a tiny exact state (seed, epoch, position).

    Every epoch is a fresh permutation from ``torch.Generator().manual_seed(seed + epoch)``;
    all data-parallel ranks hold the same sampler and take strided slices of each global
    minibatch, so its state is rank-independent and resumes exactly.
    """

    def __init__(self, num_images: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch, self.pos = num_images, seed, 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> np.ndarray:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g).numpy()

    def take(self, count: int) -> np.ndarray:
        """The next `count` indices, crossing epoch boundaries as needed."""
        parts = []
        while count > 0:
            k = min(count, self.n - self.pos)
            parts.append(self._perm[self.pos:self.pos + k])
            self.pos, count = self.pos + k, count - k
            if self.pos == self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._permutation()
        return np.concatenate(parts)

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed, self.epoch, self.pos = int(state["seed"]), int(state["epoch"]), int(state["pos"])
        self._perm = self._permutation()


CONTEXT = {"help_option_names": ["-h", "--help"]}


def run_cli(group: click.Group, argv: list[str] | None, prog_name: str) -> int:
    """Run a click command line on `argv` (default sys.argv[1:]) and return its exit code, so
    tests can call it like a function and ``sys.exit(...)`` can wrap it."""
    try:
        group.main(args=argv, prog_name=prog_name, standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def check_resolution(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Click callback: the cache's levels halve down to 4x4, so a resolution is 2**k >= 4."""
    if value is not None and (value < 4 or 2 ** int(math.log2(value)) != value):
        raise UsageError(f"--resolution {value}: not a power of two >= 4; use e.g. 32, 64 or 256")
    return value


@click.group(cls=BoundaryGroup, context_settings=CONTEXT)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
def cli(debug: bool) -> None:
    """Multi-resolution dataset caches for the reference ProGAN trainer."""
    set_debug(debug)


def _report(path: Path) -> None:
    meta = json.loads((path / MANIFEST).read_text())
    click.echo(f"wrote {path}: {meta['num_images']} images, levels {sorted(map(int, meta['levels']))}")


@cli.command("build")
@click.argument("src")
@click.argument("out", callback=check_output_dir)
@click.option("--resolution", type=int, default=None, callback=check_resolution,
              help="Power of two >= 4; files of another size are resized (default: the source's size).")
@click.option("--mirror", is_flag=True, help="Flip half the reals left-right at load time.")
@click.option("--num", type=click.IntRange(min=1), default=None, help="Use only the first N images.")
@click.option("--recursive", "-r", is_flag=True, help="Search sub-folders of a folder SRC.")
@click.option("--skip-bad", is_flag=True, help="Skip files that cannot be decoded instead of failing.")
@debug_option
def build_cmd(src, out, resolution, mirror, num, recursive, skip_bad):
    """Image folder/zip/npy SRC -> multi-resolution cache OUT."""
    _report(build(src, out, resolution, mirror=mirror, num_images=num, recursive=recursive, skip_bad=skip_bad))


@cli.command("builtin")
@click.argument("out", callback=check_output_dir)
@click.option("--resolution", type=int, default=32, show_default=True, callback=check_resolution)
@click.option("--num", type=click.IntRange(min=1), default=2048, show_default=True)
@click.option("--kind", type=click.Choice(BUILTIN_KINDS), default="shapes", show_default=True,
              help="shapes: coloured shapes on gradients (learnable in minutes); photos: crops of scikit-image's photos.")
@seed_option()
@debug_option
def builtin_cmd(out, resolution, num, kind, seed):
    """Built-in data (no download) -> cache OUT."""
    _report(build_builtin(out, resolution, num, seed, kind))


def _main(argv: list[str] | None = None) -> int:
    return run_cli(cli, argv, "python -m reference_trainer.dataset")


main = _main

if __name__ == "__main__":
    sys.exit(_main())
