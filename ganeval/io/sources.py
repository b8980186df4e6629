"""Image sources: everything a metric can read, turned into uint8 RGB NCHW batches.

Accepted sources (see `open_source`):

* a directory of images (png, jpg/jpeg, webp, bmp, tif/tiff), optionally recursive;
* a ``.zip`` of such images;
  (in both, macOS metadata -- ``__MACOSX/`` and AppleDouble ``._*`` files -- is not an image)
* a ``.npy`` / ``.npz`` array of uint8 images, NCHW or NHWC (``file.npz:key`` picks an array),
  checked from its header (no pickles, objects, 0-d or structured arrays) and read lazily:
  memory-mapped, or row by row from a compressed ``.npz``;
* an in-memory numpy array or torch tensor;
* a torch ``Dataset`` whose items are images (or tuples whose first element is one);
* a generator: a callable ``fn(n) -> batch of n images`` or any iterable of batches.

Policies, chosen once here so every metric sees the same pixels:

* file order is sorted by relative path; ``num_images=N`` takes the first N in that order
  unless ``subset="random"``, which takes a seeded random subset (kept in sorted order);
* grayscale is tiled to RGB; RGBA (and LA) drop the alpha channel, as torch-fidelity and
  clean-fid do; palette and CMYK images are converted to RGB; 16-bit images (files, PIL
  images and ``uint16`` arrays, gray or colour) are scaled to 8 bits by ``round(v / 257)``
  before anything else; other depths follow `ganeval.io.convert` (signed samples must hold
  8-bit values; 32-bit integer and float files are refused);
* a zip or ``.npz`` with two members of one name is refused; members are read by their own
  ``ZipInfo``; names are hashed as bytes (``os.fsencode``), so any file name can be keyed;
* an image from a file may have at most ``$GANEVAL_MAX_IMAGE_PIXELS`` pixels (4096 x 4096),
  checked from its header; EXIF orientation is not applied, as torch-fidelity, clean-fid and
  pytorch-fid do not apply it, and one warning per pass counts the files that carry it;
* ``skip_bad`` leaves undecodable files out with one warning per pass (count and first
  names); `skipped_total` is the count the metrics put into their results' settings;
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

import contextlib
import hashlib
import io
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import torch

from ..dist import gather_to_rank0, rank_world
from ..errors import DataError, GanevalError, UsageError
from ..options import check_count_arg, check_input_range, check_seed
from .convert import (MAX_PIXELS_ENV, ImageTooLarge, _decode, _finish, _pil_to_8bit, _resize_batch, check_pixels,
                      max_image_pixels, to_uint8)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

__all__ = ["ImageSource", "open_source", "to_uint8", "IMAGE_EXTENSIONS", "skipped_total"]
class _Failure:
    """A ganeval error met while decoding, handed to the main process as data.

    Raised inside a DataLoader worker, torch would re-raise it wrapped in a multi-line
    "Caught DataError in DataLoader worker process N" message instead of the user's one line.
    """

    def __init__(self, exc: GanevalError):
        self.cls, self.message = type(exc), str(exc)

    def raise_(self):
        raise self.cls(self.message) from None


class _Skipped:
    """An undecodable file left out under ``skip_bad``; its name reaches the summary warning."""

    def __init__(self, name: str):
        self.name = name


# A zip member up to this size is read into memory (TIFFs seek back and forth); a larger one is
# decoded straight from the archive, so a 600 MB member never sits in RAM beside its pixels.
_ZIP_READ_BYTES = 32 << 20


@contextlib.contextmanager
def _pil_bound(bound: int) -> Iterator[None]:
    """PIL's own decompression-bomb check, lifted to ganeval's bound while a file is opened:
    `check_pixels` refuses oversized images from their header with the message that names the
    setting, and PIL's limit must not contradict a bound the user raised."""
    from PIL import Image
    old = Image.MAX_IMAGE_PIXELS
    if old is not None and bound > old:
        Image.MAX_IMAGE_PIXELS = bound
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


class _FileDataset(torch.utils.data.Dataset):
    """Decodes one image file per item; picklable so that DataLoader workers can use it.

    Zip members are read by their own `ZipInfo` (`members`), never looked up by name.
    """

    def __init__(self, names: Sequence[str], root: str, is_zip: bool, size: tuple[int, int] | None,
                 resize: int | None, skip_bad: bool, max_pixels: int, members: dict[str, Any] | None = None):
        self.names, self.root, self.is_zip = list(names), root, is_zip
        self.size, self.resize, self.skip_bad, self.max_pixels = size, resize, skip_bad, max_pixels
        self.members = members or {}
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = 0

    def __len__(self) -> int:
        return len(self.names)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_zip": None}  # an open archive does not cross into a worker

    def _open(self, name: str):
        from PIL import Image
        try:
            return self._open_unchecked(name)
        except Image.DecompressionBombError as e:  # only far above ganeval's bound (see _pil_bound)
            raise ImageTooLarge(f"{self.label(name)}: {e} (more than the {self.max_pixels:,} pixels one image may "
                                f"have); if the image is genuine, raise the bound with {MAX_PIXELS_ENV}=N") from None

    def _open_unchecked(self, name: str):
        from PIL import Image
        with _pil_bound(self.max_pixels):
            if self.is_zip:
                if self._zip is None or self._zip_pid != os.getpid():
                    # one handle per process: a forked worker must not share the parent's file offset
                    self._zip, self._zip_pid = zipfile.ZipFile(self.root), os.getpid()
                info = self.members[name]
                if info.file_size <= _ZIP_READ_BYTES:
                    return Image.open(io.BytesIO(self._zip.read(info)))
                return Image.open(self._zip.open(info))
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
            a, orientation = _decode(lambda: self._open(name), self.label(name), self.max_pixels)
            x = _finish(a, self.resize)
        except GanevalError:
            raise
        except Exception as e:  # PIL raises many types for truncated or non-image files
            if self.skip_bad:
                return _Skipped(name)
            raise DataError(f"{self.label(name)}: cannot decode image ({type(e).__name__}: {e}); "
                            "remove it or pass --skip-bad") from None
        if self.size is not None and tuple(x.shape[1:]) != self.size:
            raise DataError(
                f"mixed image sizes: {self.label(self.names[0])} is {self.size[1]}x{self.size[0]} but "
                f"{self.label(name)} is {x.shape[2]}x{x.shape[1]}; resize the set or pass --resize R")
        return x, (name if orientation != 1 else None)


class _Batch(NamedTuple):
    images: torch.Tensor | None
    skipped: list[str]  # files left out under skip_bad
    rotated: list[str]  # files whose EXIF orientation was ignored


def _collate(items: list) -> _Batch | _Failure:
    failed = next((t for t in items if isinstance(t, _Failure)), None)
    if failed is not None:  # the first failure in file order, as a serial loop would meet it
        return failed
    good = [t for t in items if not isinstance(t, _Skipped)]
    return _Batch(torch.stack([x for x, _ in good]) if good else None,
                  [t.name for t in items if isinstance(t, _Skipped)], [r for _, r in good if r is not None])


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

    def image_name(self, i: int) -> str:
        """What image `i` of this source is called in reports: its file name, or ``index N``
        (its index in the array, dataset or stream it came from)."""
        return f"index {i}"

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

    def __init__(self, data: Any, name: str, indices: np.ndarray | None, input_range, resize: int | None = None,
                 origin: tuple[Path, str | None] | None = None):
        self.data, self.name, self.input_range, self.resize = data, name, input_range, resize
        self.origin = origin  # (file, npz key) of an array read from disk
        shape = tuple(data.shape)
        if isinstance(data, torch.Tensor):
            if len(shape) not in (3, 4) or shape[0] == 0:
                raise DataError(f"{name}: expected a non-empty array of images (N, C, H, W) or (N, H, W, C), "
                                f"got shape {shape}")
        else:
            check_array_layout(shape, np.dtype(data.dtype), name)
        if origin is not None:  # from the shape alone: one oversized image is never read
            check_pixels(_image_size(shape), name)
        first = to_uint8(data[:1], input_range, name=name)
        self.resolution = (resize, resize) if resize else tuple(first.shape[2:])
        self.indices = np.arange(shape[0]) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def image_name(self, i: int) -> str:
        return f"index {int(self.indices[i])}"  # in the array, not in the selected subset

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
        if self.origin is not None:
            # An array file is keyed like a folder: by path, size and mtime, or with `content`
            # by its bytes read in blocks; never by loading the whole array into memory.
            path, key = self.origin
            h.update(f"|{key}|".encode())
            if content:  # the bytes alone: a copied or moved file keeps its key
                with open(path, "rb") as f:
                    h.update(_sha256_stream(f))
            else:
                st = path.stat()
                h.update(os.fsencode(path.resolve()) + f"|{st.st_size}|{st.st_mtime_ns}".encode())
            return h.hexdigest()
        arr = self.data.detach().cpu().numpy() if isinstance(self.data, torch.Tensor) else np.asarray(self.data)
        h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()


class FileSource(ImageSource):
    """A sorted list of image files in a directory or zip, decoded lazily in workers.

    After each full pass, files left out under ``skip_bad`` (``skipped``, ``skipped_names``)
    and files whose EXIF orientation was ignored (``rotated_names``) are summed up in one
    warning each, naming the first few.
    """

    def __init__(self, root: Path, names: list[str], is_zip: bool, resize: int | None, skip_bad: bool,
                 members: dict[str, Any] | None = None):
        self.root, self.names, self.is_zip, self.skip_bad = root, names, is_zip, skip_bad
        self.name = str(root)
        self.max_pixels = max_image_pixels()
        self.skipped_names: list[str] = []
        self.rotated_names: list[str] = []
        probe = _FileDataset(names, str(root), is_zip, None, resize, False, self.max_pixels, members)
        self.resolution = None
        for n in names if skip_bad else names[:1]:
            try:
                self.resolution = self._probe_size(probe, n)
                break
            except DataError as e:
                if not skip_bad or isinstance(e, ImageTooLarge):  # an oversized image is not a bad file
                    raise
        if self.resolution is None:
            raise DataError(f"{root}: none of the {len(names)} files could be read as an image")
        self.dataset = _FileDataset(names, str(root), is_zip, self.resolution, resize, skip_bad, self.max_pixels,
                                    members)

    @staticmethod
    def _probe_size(ds: _FileDataset, name: str) -> tuple[int, int]:
        try:
            with ds._open(name) as img:
                size = img.size
        except GanevalError:
            raise
        except Exception as e:
            raise DataError(f"{ds.label(name)}: cannot read image header ({e}); remove it or pass --skip-bad") from None
        check_pixels(size, ds.label(name), ds.max_pixels)
        return (ds.resize, ds.resize) if ds.resize else (size[1], size[0])

    def __len__(self) -> int:
        return len(self.names)

    def image_name(self, i: int) -> str:
        return self.names[i]  # relative to the folder or zip, as listed (never interpreted)

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
        self.skipped, self.skipped_names, self.rotated_names = 0, [], []
        read = 0
        for start, batch in zip(starts, loader):
            if isinstance(batch, _Failure):
                batch.raise_()
            self.skipped += len(batch.skipped)
            self.skipped_names += batch.skipped
            self.rotated_names += batch.rotated
            read += min(n, start + batch_size) - start
            if batch.images is not None:
                yield start, batch.images.to(dev, non_blocking=True)
        self._summarise(read)

    def _summarise(self, read: int) -> None:
        """One warning per pass for skipped files and for ignored EXIF orientations."""
        if self.skipped_names:
            warnings.warn(f"{self.name}: --skip-bad left out {len(self.skipped_names)} of {read} files that cannot be "
                          f"decoded: {_first_few(self.skipped_names)}", stacklevel=3)
        if self.rotated_names:
            warnings.warn(
                f"{self.name}: {len(self.rotated_names)} of {read} images carry an EXIF orientation tag, ignored as "
                "torch-fidelity, clean-fid and pytorch-fid ignore it (pixels are measured as stored, not as a viewer "
                f"turns them): {_first_few(self.rotated_names)}", stacklevel=3)

    def fingerprint(self, content=False):
        # Names are hashed as the bytes the file system holds (os.fsencode), so names that are
        # not UTF-8 key the cache like any other.
        h = hashlib.sha256()
        if self.is_zip:
            st = self.root.stat()
            h.update(os.fsencode(self.root.resolve()) + f"|{st.st_size}|{st.st_mtime_ns}".encode())
        zf = zipfile.ZipFile(self.root) if self.is_zip and content else None
        try:
            for n in self.names:
                h.update(os.fsencode(n))
                if content:
                    with (zf.open(self.dataset.members[n]) if zf is not None else open(self.root / n, "rb")) as f:
                        h.update(_sha256_stream(f))
                elif not self.is_zip:
                    st = (self.root / n).stat()
                    h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
        finally:
            if zf is not None:
                zf.close()
        # The pixel bound is left out: it guards memory and changes no number of a set it admits.
        h.update(str(self.dataset.resize).encode())
        return h.hexdigest()


def skipped_total(src: ImageSource) -> int | None:
    """Files `src` left out under ``skip_bad`` in its last pass, summed over torch.distributed
    ranks (every rank calls it; only rank 0 gets the sum, the others None); None when `src`
    was not opened with ``skip_bad``, which is then never recorded."""
    if not getattr(src, "skip_bad", False):
        return None
    parts = gather_to_rank0(src.skipped)
    return None if parts is None else int(sum(parts))


def _first_few(names: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(names[:k])
    return shown + (f" and {len(names) - k} more" if len(names) > k else "")


def _sha256_stream(f: Any) -> bytes:
    """sha256 of a file object read in 256 KiB blocks: a 600 MB member is never held whole."""
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 18), b""):
        h.update(block)
    return h.digest()


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
            if x.shape[0] == 0:  # a callable would be asked again forever; an iterable ends short
                raise DataError(f"{self.name}: gave an empty batch after {done} images; every batch must hold "
                                "at least one image")
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
    # Checked once here, for every kind of source: 2.5 images, a negative seed or a reversed
    # range is a usage error, never a silently rounded or misread set.
    num_images = None if num_images is None else check_count_arg(num_images, "num_images")
    seed, input_range = check_seed(seed), check_input_range(input_range)
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
                members = _unique_members(z, path, lambda n: _is_image_name(n) and not n.endswith("/"))
        except zipfile.BadZipFile:
            raise DataError(f"{path}: not a valid zip file") from None
        names = sorted(members)
        if not names:
            raise DataError(f"{path}: the zip holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return _files(p, names, True, num_images, subset, seed, resize, skip_bad, members)
    if suffix in (".npy", ".npz"):
        data, name = _open_array_file(p, path, key, suffix)
        if data.dtype.kind == "f" and input_range is None:
            raise DataError(f"{name}: float arrays need a declared range (input_range); save images as uint8")
        idx = _select(data.shape[0], num_images, subset, seed, name)
        return TensorSource(data, name, idx, input_range, resize, origin=(p, key))
    if suffix in IMAGE_EXTENSIONS:
        return _files(p.parent, [p.name], False, None, subset, seed, resize, skip_bad)
    raise DataError(f"{path}: not a directory, .zip, .npy, .npz or image file")


def _files(root, names, is_zip, num_images, subset, seed, resize, skip_bad, members=None) -> FileSource:
    idx = _select(len(names), num_images, subset, seed, str(root))
    return FileSource(root, [names[i] for i in idx], is_zip, resize, skip_bad, members)


def _unique_members(z: zipfile.ZipFile, path: str, wanted: Callable[[str], bool]) -> dict[str, zipfile.ZipInfo]:
    """The archive's wanted members by name, each with its own `ZipInfo`.

    Two members of one name are refused rather than both read: a zip appended to (``zipfile``
    in "a" mode, ``zip -g``) holds an old and a new copy, unzipping keeps only the last, and
    reading by name used to read the last one twice.  No choice is safe, so the user decides.
    """
    out: dict[str, zipfile.ZipInfo] = {}
    for info in z.infolist():
        if not wanted(info.filename):
            continue
        if info.filename in out:
            raise DataError(f"{path}: holds two members named {info.filename!r}, so it is unclear which one is meant "
                            "(unzipping keeps the last); rebuild the zip with one copy of each file")
        out[info.filename] = info
    return out


# --- array files ------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"


def _npy_header(f: Any, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of the .npy stream `f`, read without numpy's loader, so
    that pickles and object arrays are refused before a byte of them is interpreted (and
    numpy's advice to load them with ``allow_pickle`` never reaches the user)."""
    magic = f.read(8)
    if magic[:6] != _NPY_MAGIC:
        if magic[:1] == b"\x80":  # the PROTO opcode that starts every pickle since protocol 2
            raise DataError(f"{name}: is a Python pickle, not a .npy array; ganeval never unpickles data files (that "
                            "can run code); save the images with numpy.save as a uint8 array")
        raise DataError(f"{name}: not a .npy array (no NUMPY header); save the images with numpy.save")
    version = (magic[6], magic[7])
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    try:
        if version in readers:
            shape, fortran, dtype = readers[version](f)
        elif version == (3, 0) and hasattr(fmt, "_read_array_header"):
            shape, fortran, dtype = fmt._read_array_header(f, version)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]}")
    except ValueError as e:
        raise DataError(f"{name}: unreadable .npy header ({e}); save the images with numpy.save") from None
    check_array_layout(shape, dtype, name)
    return tuple(shape), bool(fortran), dtype


def check_array_layout(shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
    """A `DataError` naming `name` for an array that cannot hold images ganeval reads: Python
    objects, structured or non-numeric dtypes, and anything but a non-empty 3-D or 4-D stack."""
    if dtype.hasobject:
        raise DataError(f"{name}: holds Python objects (dtype {dtype}), not image data; ganeval never unpickles "
                        "arrays; save the images as a plain uint8 array")
    if dtype.names is not None or dtype.kind == "V":
        raise DataError(f"{name}: has a structured dtype {dtype}; save the images as a plain uint8 array")
    if dtype.kind not in "uif":
        raise DataError(f"{name}: unsupported dtype {dtype}; use uint8, uint16, or floats with input_range")
    if len(shape) == 0:
        raise DataError(f"{name}: holds a single number (a 0-d array), not images; save an array of shape "
                        "(N, C, H, W) or (N, H, W, C)")
    if len(shape) not in (3, 4) or shape[0] == 0:
        raise DataError(f"{name}: expected a non-empty array of images (N, C, H, W) or (N, H, W, C), "
                        f"got shape {tuple(shape)}")


def _image_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) of one image of an array of `shape`, by `to_uint8`'s layout rule."""
    if len(shape) == 3:
        return shape[2], shape[1]
    if shape[1] not in (1, 3, 4) and shape[3] in (1, 3, 4):
        return shape[2], shape[1]
    return shape[3], shape[2]


class _NpzArray:
    """One array of an ``.npz``, read row by row: ``-n 8`` reads eight images, not the file.

    A stored (uncompressed, ``numpy.savez``) member is memory-mapped; a compressed one
    (``savez_compressed``) is decompressed as far as the rows asked for.  Supports what
    `TensorSource` asks of an array: ``shape``, ``dtype``, a slice or sorted indices.
    """

    def __init__(self, path: Path, info: zipfile.ZipInfo, name: str):
        self.path, self.info, self.name = path, info, name
        with zipfile.ZipFile(path) as z, z.open(info) as f:
            self.shape, fortran, self.dtype = _npy_header(f, name)
            self._data_at = f.tell()
        self.ndim = len(self.shape)
        self._row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._mm: np.ndarray | None = None
        self._whole: np.ndarray | None = None
        self._zip: zipfile.ZipFile | None = None
        self._f: Any = None
        if info.compress_type == zipfile.ZIP_STORED and not (fortran and self.ndim > 1):
            with open(path, "rb") as raw:  # the member's bytes start after its local header
                raw.seek(info.header_offset)
                local = raw.read(30)
                if local[:4] != b"PK\x03\x04":
                    raise DataError(f"{name}: damaged zip entry; save the arrays again with numpy.savez")
                start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") \
                    + int.from_bytes(local[28:30], "little")
            self._mm = np.memmap(path, self.dtype, "r", start + self._data_at, self.shape)
        elif fortran and self.ndim > 1:
            # Rows of a Fortran-order array are not contiguous: read it whole (rare: numpy saves
            # Fortran order only for arrays that are F- and not C-contiguous).
            with zipfile.ZipFile(path) as z, z.open(info) as f:
                f.seek(self._data_at)
                self._whole = self._frombytes(f.read(), int(np.prod(self.shape)), self.shape[::-1]).T

    def _frombytes(self, data: bytes, count: int, shape: tuple[int, ...]) -> np.ndarray:
        if len(data) < count * self.dtype.itemsize:
            raise DataError(f"{self.name}: the array ends early (damaged or truncated file)")
        return np.frombuffer(data, self.dtype, count).reshape(shape)

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        if self._f is None:
            self._zip = zipfile.ZipFile(self.path)
            self._f = self._zip.open(self.info)
        self._f.seek(self._data_at + lo * self._row)  # forward: decompresses only up to the rows
        n = hi - lo
        return self._frombytes(self._f.read(n * self._row), n * (self._row // self.dtype.itemsize),
                               (n, *self.shape[1:]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._mm is not None:
            return self._mm[key]
        if self._whole is not None:
            return self._whole[key]
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.shape[0])
            if step != 1:
                return self[np.arange(lo, hi, step)]
            return self._rows(lo, max(lo, hi))
        idx = np.asarray(key, dtype=np.int64)
        if idx.size == 0:
            return np.empty((0, *self.shape[1:]), self.dtype)
        order = np.argsort(idx, kind="stable")
        out = np.empty((idx.size, *self.shape[1:]), self.dtype)
        s = idx[order]
        runs = np.flatnonzero(np.diff(s) != 1) + 1  # consecutive indices are read in one go
        for part_pos, part in zip(np.split(order, runs), np.split(s, runs)):
            out[part_pos] = self._rows(int(part[0]), int(part[-1]) + 1)
        return out

    def __del__(self) -> None:
        for h in (getattr(self, "_f", None), getattr(self, "_zip", None)):
            try:
                if h is not None:
                    h.close()
            except Exception:
                pass


def _open_array_file(p: Path, path: str, key: str | None, suffix: str) -> tuple[Any, str]:
    """The array in a ``.npy`` (memory-mapped) or one ``.npz`` member (`_NpzArray`), checked
    from its header before any data is read, and the name it is reported under."""
    if suffix == ".npy":
        try:
            with open(p, "rb") as f:
                _npy_header(f, path)
            return np.load(p, mmap_mode="r", allow_pickle=False), path
        except GanevalError:
            raise
        except Exception as e:
            raise DataError(f"{path}: cannot read array file ({type(e).__name__}: {e})") from None
    try:
        with zipfile.ZipFile(p) as z:
            members = _unique_members(z, path, lambda n: n.endswith(".npy"))
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a valid .npz file (not a zip archive); save it with numpy.savez") from None
    arrays = {n[:-4]: info for n, info in members.items()}
    keys = list(arrays)
    if not keys:
        raise DataError(f"{path}: holds no arrays; save the images with numpy.savez")
    if key is None and len(keys) != 1:
        raise DataError(f"{path}: holds arrays {keys}; pick one as {path}:KEY")
    if key is not None and key not in arrays:
        raise DataError(f"{path}: has no array {key!r}; it holds {keys}")
    name = f"{path}:{key}" if key else path
    try:
        return _NpzArray(p, arrays[key or keys[0]], name), name
    except GanevalError:
        raise
    except Exception as e:  # a damaged archive member
        raise DataError(f"{name}: cannot read array ({type(e).__name__}: {e})") from None
