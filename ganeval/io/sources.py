"""Image sources: everything a metric can read, turned into uint8 RGB NCHW batches.

Accepted sources (see `open_source`):

* a directory of images (png, jpg/jpeg, webp, bmp, tif/tiff), optionally recursive;
* a ``.zip`` of such images;
  (in both, macOS metadata -- ``__MACOSX/`` and AppleDouble ``._*`` files -- is not an image)
* a ``.npy`` / ``.npz`` array of uint8 images, NCHW or NHWC (``file.npz:key`` picks an array);
* an in-memory numpy array or torch tensor;
* a torch ``Dataset`` whose items are images (or tuples whose first element is one);
* a generator: a callable ``fn(n) -> batch of n images`` or any iterable of batches.

Policies, chosen once here so every metric sees the same pixels:

* file order is sorted by relative path; ``num_images=N`` takes the first N in that order
  unless ``subset="random"``, which takes a seeded random subset (kept in sorted order);
* grayscale is tiled to RGB; RGBA (and LA) drop the alpha channel, as torch-fidelity and
  clean-fid do; palette and CMYK images are converted to RGB; 16-bit images (files, PIL
  images and ``uint16`` arrays, gray or colour) are scaled to 8 bits by ``round(v / 257)``
  before anything else; signed integer arrays must hold 8-bit values;
* arrays of shape (N, C, H, W) with C in {1, 3, 4} are NCHW, otherwise (N, H, W, C) is NHWC;
  a 3-D array is a stack of grayscale images;
* float arrays must declare their range (``input_range``: (-1, 1), (0, 1) or (0, 255)); they are
  mapped to 0..255 and rounded to the nearest integer; NaN/inf are errors;
* mixed image sizes are an error naming one file of each size, unless ``resize=R`` is given,
  which resizes every image of every kind of source to R x R with PIL's bicubic filter on its
  8-bit pixels, so that an array and its PNG files give the same pixels.

Files are decoded lazily in DataLoader workers: a 50,000-image folder is never held in RAM.
A bad file met by a worker raises the same one-line error as it would in the main process.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..dist import rank_world
from ..errors import DataError, GanevalError, UsageError
from .convert import _decode, _finish, _pil_to_8bit, _resize_batch, to_uint8

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

__all__ = ["ImageSource", "open_source", "to_uint8", "IMAGE_EXTENSIONS"]
class _Failure:
    """A ganeval error met while decoding, handed to the main process as data.

    Raised inside a DataLoader worker, torch would re-raise it wrapped in a multi-line
    "Caught DataError in DataLoader worker process N" message instead of the user's one line.
    """

    def __init__(self, exc: GanevalError):
        self.cls, self.message = type(exc), str(exc)

    def raise_(self):
        raise self.cls(self.message) from None


class _FileDataset(torch.utils.data.Dataset):
    """Decodes one image file per item; picklable so that DataLoader workers can use it."""

    def __init__(self, names: Sequence[str], root: str, is_zip: bool, size: tuple[int, int] | None,
                 resize: int | None, skip_bad: bool):
        self.names, self.root, self.is_zip = list(names), root, is_zip
        self.size, self.resize, self.skip_bad = size, resize, skip_bad
        self._zip: zipfile.ZipFile | None = None

    def __len__(self) -> int:
        return len(self.names)

    def _open(self, name: str):
        from PIL import Image
        if self.is_zip:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.root)
            return Image.open(io.BytesIO(self._zip.read(name)))
        return Image.open(os.path.join(self.root, name))

    def label(self, name: str) -> str:
        return f"{self.root}:{name}" if self.is_zip else os.path.join(self.root, name)

    def __getitem__(self, i: int):
        try:
            return self._item(self.names[i])
        except GanevalError as e:
            return _Failure(e)

    def _item(self, name: str):
        try:
            a = _decode(lambda: self._open(name), self.label(name))
            x = _finish(a, self.resize)
        except GanevalError:
            raise
        except Exception as e:  # PIL raises many types for truncated or non-image files
            if self.skip_bad:
                return None
            raise DataError(f"{self.label(name)}: cannot decode image ({type(e).__name__}: {e}); "
                            "remove it or pass --skip-bad") from None
        if self.size is not None and tuple(x.shape[1:]) != self.size:
            raise DataError(
                f"mixed image sizes: {self.label(self.names[0])} is {self.size[1]}x{self.size[0]} but "
                f"{self.label(name)} is {x.shape[2]}x{x.shape[1]}; resize the set or pass --resize R")
        return x


def _collate(items: list) -> tuple[Any, int]:
    failed = next((t for t in items if isinstance(t, _Failure)), None)
    if failed is not None:  # the first failure in file order, as a serial loop would meet it
        return failed, 0
    good = [t for t in items if t is not None]
    return (torch.stack(good) if good else None), len(items) - len(good)


class ImageSource:
    """A finite, ordered set of images that streams as uint8 RGB NCHW batches.

    Build one with `open_source`.  ``len(source)`` is the number of images that will be
    yielded, ``source.resolution`` is (H, W) (None for generators until the first batch),
    ``source.batches(batch_size, device)`` streams them and ``source.fingerprint()`` is a
    content key for statistics caches (None where the content cannot be keyed).
    """

    name: str = "images"
    resolution: tuple[int, int] | None = None
    skipped: int = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(self, batch_size: int = 64, device: str | torch.device | None = None,
                workers: int | None = None) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def fingerprint(self, content: bool = False) -> str | None:
        return None

    def shard(self, batch_size: int = 64, device: str | torch.device | None = None,
              workers: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """This process's share of the batches, each with the index of its first image.

        Batch i belongs to torch.distributed rank ``i % world`` (every batch with one process),
        so the ranks' shares are disjoint and together the whole set; the start index lets
        per-image randomness ignore the split.  This generic version streams every batch and
        keeps its own; sources that can seek (files, arrays) read only their share.
        """
        rank, world = rank_world()
        start = 0
        for i, batch in enumerate(self.batches(batch_size, device, workers)):
            if i % world == rank:
                yield start, batch
            start += batch.shape[0]

    def array(self, device: str | torch.device | None = None) -> torch.Tensor:
        """All images as one tensor; only for sets known to be small."""
        return torch.cat(list(self.batches(256, device)))


class TensorSource(ImageSource):
    """In-memory or memory-mapped arrays; converted to uint8 batch by batch."""

    def __init__(self, data: Any, name: str, indices: np.ndarray | None, input_range, resize: int | None = None):
        self.data, self.name, self.input_range, self.resize = data, name, input_range, resize
        shape = tuple(data.shape)
        if len(shape) not in (3, 4) or shape[0] == 0:
            raise DataError(f"{name}: expected a non-empty array of images (N, C, H, W) or (N, H, W, C), got shape {shape}")
        first = to_uint8(data[:1], input_range, name=name)
        self.resolution = (resize, resize) if resize else tuple(first.shape[2:])
        self.indices = np.arange(shape[0]) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def _batch(self, s: int, e: int, device) -> torch.Tensor:
        idx = self.indices[s:e]
        if len(idx) and bool(np.all(np.diff(idx) == 1)):  # a plain slice: memory maps read only it
            chunk = self.data[int(idx[0]):int(idx[-1]) + 1]
        else:
            chunk = self.data[torch.as_tensor(idx)] if isinstance(self.data, torch.Tensor) else self.data[idx]
        if self.resize:  # on the host, where PIL can resize it as it resizes files
            x = _resize_batch(to_uint8(chunk, self.input_range, name=self.name), self.resize)
            return x.to(device) if device is not None else x
        if isinstance(chunk, np.ndarray):
            chunk = torch.from_numpy(np.array(chunk, order="C"))
        return to_uint8(chunk.to(device) if device is not None else chunk, self.input_range, name=self.name)

    def batches(self, batch_size=64, device=None, workers=None):
        for s in range(0, len(self.indices), batch_size):
            yield self._batch(s, s + batch_size, device)

    def shard(self, batch_size=64, device=None, workers=None):
        rank, world = rank_world()
        for s in range(rank * batch_size, len(self.indices), world * batch_size):
            yield s, self._batch(s, s + batch_size, device)

    def fingerprint(self, content=False):
        h = hashlib.sha256(f"{tuple(self.data.shape)}{self.data.dtype}|{self.resize}".encode())
        h.update(np.asarray(self.indices).tobytes())
        arr = self.data.detach().cpu().numpy() if isinstance(self.data, torch.Tensor) else np.asarray(self.data)
        h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()


class FileSource(ImageSource):
    """A sorted list of image files in a directory or zip, decoded lazily in workers."""

    def __init__(self, root: Path, names: list[str], is_zip: bool, resize: int | None, skip_bad: bool):
        self.root, self.names, self.is_zip = root, names, is_zip
        self.name = str(root)
        probe = _FileDataset(names, str(root), is_zip, None, resize, False)
        self.resolution = None
        for n in names if skip_bad else names[:1]:
            try:
                self.resolution = self._probe_size(probe, n)
                break
            except DataError:
                if not skip_bad:
                    raise
        if self.resolution is None:
            raise DataError(f"{root}: none of the {len(names)} files could be read as an image")
        self.dataset = _FileDataset(names, str(root), is_zip, self.resolution, resize, skip_bad)

    @staticmethod
    def _probe_size(ds: _FileDataset, name: str) -> tuple[int, int]:
        if ds.resize:
            return (ds.resize, ds.resize)
        try:
            with ds._open(name) as img:
                return (img.size[1], img.size[0])
        except Exception as e:
            raise DataError(f"{ds.label(name)}: cannot read image header ({e}); remove it or pass --skip-bad") from None

    def __len__(self) -> int:
        return len(self.names)

    def batches(self, batch_size=64, device=None, workers=None):
        for _, batch in self._load(range(0, len(self.names), batch_size), batch_size, device, workers):
            yield batch

    def shard(self, batch_size=64, device=None, workers=None):
        rank, world = rank_world()
        # A skipped file leaves a batch short; starts stay file positions, as with one process.
        yield from self._load(range(rank * batch_size, len(self.names), world * batch_size), batch_size, device,
                              workers)

    def _load(self, starts: range, batch_size: int, device, workers) -> Iterator[tuple[int, torch.Tensor]]:
        n = len(self.names)
        if workers is None:
            workers = min(4, os.cpu_count() or 1) if len(starts) * batch_size > 4 * batch_size else 0
        dev = torch.device(device) if device is not None else torch.device("cpu")
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=[list(range(s, min(n, s + batch_size))) for s in starts],
            num_workers=workers, collate_fn=_collate, pin_memory=dev.type == "cuda", persistent_workers=False)
        self.skipped = 0
        for start, (batch, n_bad) in zip(starts, loader):
            if isinstance(batch, _Failure):
                batch.raise_()
            self.skipped += n_bad
            if batch is not None:
                yield start, batch.to(dev, non_blocking=True)

    def fingerprint(self, content=False):
        h = hashlib.sha256()
        if self.is_zip:
            st = self.root.stat()
            h.update(f"{self.root.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
        for n in self.names:
            h.update(n.encode())
            if content:
                data = zipfile.ZipFile(self.root).read(n) if self.is_zip else (self.root / n).read_bytes()
                h.update(hashlib.sha256(data).digest())
            elif not self.is_zip:
                st = (self.root / n).stat()
                h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
        h.update(str(self.dataset.resize).encode())
        return h.hexdigest()


class GeneratorSource(ImageSource):
    """Images produced on demand: ``fn(n) -> batch`` or an iterable of batches."""

    def __init__(self, fn: Callable[[int], Any] | Iterable, num_images: int | None, input_range, name: str,
                 resize: int | None = None):
        self.fn, self.num, self.input_range, self.name, self.resize = fn, num_images, input_range, name, resize
        if callable(fn) and num_images is None:
            raise UsageError(f"{name}: a generator callable needs num_images")

    def __len__(self) -> int:
        if self.num is None:
            raise TypeError("length of an iterable source is unknown until it is consumed")
        return self.num

    def batches(self, batch_size=64, device=None, workers=None):
        done = 0
        it = iter(self.fn) if not callable(self.fn) else None
        while self.num is None or done < self.num:
            want = batch_size if self.num is None else min(batch_size, self.num - done)
            if it is None:
                with torch.no_grad():
                    raw = self.fn(want)
            else:
                raw = next(it, None)
                if raw is None:
                    if self.num is not None:
                        raise DataError(f"{self.name}: the iterable ended after {done} of {self.num} images")
                    return
            x = to_uint8(raw, self.input_range, name=self.name)
            if self.num is not None:
                x = x[: self.num - done]
            if self.resize:
                x = _resize_batch(x, self.resize)
            if self.resolution is None:
                self.resolution = tuple(x.shape[2:])
            done += x.shape[0]
            yield x.to(device) if device is not None else x


class DatasetSource(GeneratorSource):
    """A torch Dataset; items are images or tuples whose first element is an image."""

    def __init__(self, ds: Any, num_images: int | None, input_range, name: str, workers: int | None = None,
                 resize: int | None = None):
        n = len(ds) if num_images is None else min(num_images, len(ds))
        if n == 0:
            raise DataError(f"{name}: the dataset is empty")
        self.ds = ds

        def items() -> Iterator[torch.Tensor]:
            loader = torch.utils.data.DataLoader(
                torch.utils.data.Subset(ds, range(n)), batch_size=64, num_workers=workers or 0, collate_fn=list)
            done, size = 0, None
            for chunk in loader:
                out = []
                for item in chunk:
                    x = _dataset_item(item, input_range, f"{name}[{done}]", resize)
                    if size is None:
                        size = x.shape[1:]
                    elif x.shape[1:] != size:
                        raise DataError(f"{name}: mixed image sizes: item 0 is {size[1]}x{size[0]} but item {done} "
                                        f"is {x.shape[2]}x{x.shape[1]}; pass resize=R")
                    out.append(x)
                    done += 1
                yield torch.stack(out)
        super().__init__(items(), n, input_range, name)


def _dataset_item(item: Any, input_range, name: str, resize: int | None) -> torch.Tensor:
    """One Dataset item as uint8 RGB CHW, decoded like a file when it is a PIL image."""
    from PIL import Image
    if isinstance(item, (tuple, list)):
        item = item[0]
    if isinstance(item, Image.Image):  # np.asarray would read palette indices, CMYK or 16-bit raw
        return _finish(_pil_to_8bit(item, name), resize)
    x = to_uint8((item if isinstance(item, torch.Tensor) else np.asarray(item))[None], input_range, name=name)[0]
    return _resize_batch(x[None], resize)[0] if resize else x


def _is_image_name(name: str) -> bool:
    """An image by its extension, and not macOS metadata: ``__MACOSX/`` and AppleDouble ``._*``
    files carry image extensions but are not images."""
    parts = name.replace("\\", "/").split("/")
    return (name.lower().endswith(IMAGE_EXTENSIONS) and not parts[-1].startswith("._")
            and parts[0] != "__MACOSX")


def _list_files(root: Path, recursive: bool) -> list[str]:
    it = root.rglob("*") if recursive else root.iterdir()
    return sorted(n for p in it if p.is_file() and _is_image_name(n := str(p.relative_to(root))))


def _select(n_total: int, num_images: int | None, subset: str, seed: int, name: str) -> np.ndarray:
    if num_images is None or num_images >= n_total:
        return np.arange(n_total)
    if num_images <= 0:
        raise UsageError(f"num_images must be positive, got {num_images}")
    if subset == "first":
        return np.arange(num_images)
    if subset == "random":
        return np.sort(np.random.default_rng(seed).choice(n_total, num_images, replace=False))
    raise UsageError(f"subset must be 'first' or 'random', got {subset!r}")


def open_source(src: Any, *, num_images: int | None = None, subset: str = "first", seed: int = 0,
                recursive: bool = False, resize: int | None = None, skip_bad: bool = False,
                input_range: tuple[float, float] | None = None) -> ImageSource:
    """Open any supported image source as an `ImageSource` (see the module docstring).

    `num_images` caps the count: the first N in sorted order, or with ``subset="random"`` a
    random subset drawn with `seed`.  `recursive` descends into sub-directories; `resize`
    resizes every image (file, array, Dataset item or generated batch) to R x R; `skip_bad`
    skips undecodable files (counted in ``source.skipped``) instead of failing; `input_range`
    declares the range of float arrays and generator outputs.  Raises `DataError` naming the path for anything unusable.
    """
    if isinstance(src, ImageSource):
        return src
    if isinstance(src, (str, os.PathLike)):
        return _open_path(str(src), num_images, subset, seed, recursive, resize, skip_bad, input_range)
    if isinstance(src, (np.ndarray, torch.Tensor)):
        idx = _select(src.shape[0], num_images, subset, seed, "array") if src.ndim >= 1 else None
        return TensorSource(src, "array", idx, input_range, resize)
    if isinstance(src, torch.utils.data.Dataset) and hasattr(src, "__len__"):
        return DatasetSource(src, num_images, input_range, type(src).__name__, resize=resize)
    if callable(src) or isinstance(src, Iterable):
        return GeneratorSource(src, num_images, input_range, getattr(src, "__name__", "generator"), resize)
    raise UsageError(f"unsupported image source of type {type(src).__name__}")


def _open_path(path: str, num_images, subset, seed, recursive, resize, skip_bad, input_range) -> ImageSource:
    key = None
    if ":" in path and not os.path.exists(path):
        path, key = path.rsplit(":", 1)
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or directory")
    if p.is_dir():
        names = _list_files(p, recursive)
        if not names:
            hint = "" if recursive else " (pass --recursive to search sub-directories)"
            raise DataError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) found{hint}")
        return _files(p, names, False, num_images, subset, seed, resize, skip_bad)
    suffix = p.suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(p) as z:
                names = sorted(n for n in z.namelist() if _is_image_name(n) and not n.endswith("/"))
        except zipfile.BadZipFile:
            raise DataError(f"{path}: not a valid zip file") from None
        if not names:
            raise DataError(f"{path}: the zip holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return _files(p, names, True, num_images, subset, seed, resize, skip_bad)
    if suffix in (".npy", ".npz"):
        try:
            data = np.load(p, mmap_mode="r") if suffix == ".npy" else np.load(p)
        except Exception as e:
            raise DataError(f"{path}: cannot read array file ({e})") from None
        if suffix == ".npz":
            keys = list(data.keys())
            if key is None and len(keys) != 1:
                raise DataError(f"{path}: holds arrays {keys}; pick one as {path}:KEY")
            if key is not None and key not in keys:
                raise DataError(f"{path}: has no array {key!r}; it holds {keys}")
            data = data[key or keys[0]]
        name = f"{path}:{key}" if key else path
        if data.dtype.kind == "f" and input_range is None:
            raise DataError(f"{name}: float arrays need a declared range (input_range); save images as uint8")
        idx = _select(data.shape[0], num_images, subset, seed, name)
        return TensorSource(data, name, idx, input_range, resize)
    if suffix in IMAGE_EXTENSIONS:
        return _files(p.parent, [p.name], False, None, subset, seed, resize, skip_bad)
    raise DataError(f"{path}: not a directory, .zip, .npy, .npz or image file")


def _files(root, names, is_zip, num_images, subset, seed, resize, skip_bad) -> FileSource:
    idx = _select(len(names), num_images, subset, seed, str(root))
    return FileSource(root, [names[i] for i in idx], is_zip, resize, skip_bad)
