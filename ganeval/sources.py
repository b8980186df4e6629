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
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from .errors import DataError, GanevalError, UsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
RANGES = {(-1, 1): (127.5, 127.5), (0, 1): (255.0, 0.0), (0, 255): (1.0, 0.0)}

__all__ = ["ImageSource", "open_source", "to_uint8", "IMAGE_EXTENSIONS"]


def to_uint8(images: Any, input_range: tuple[float, float] | None = None, *, name: str = "array") -> torch.Tensor:
    """Convert one batch (numpy or torch, NCHW/NHWC/NHW, uint8 or float) to uint8 RGB NCHW.

    Floats need `input_range`; they are scaled to 0..255, rounded to nearest and must be finite
    and inside the range (a 1% overshoot, common for tanh-free generators, is clamped).  The
    result stays on the input's device so that GPU batches never visit the host.
    """
    if isinstance(images, torch.Tensor):
        x, sixteen = images, images.dtype == getattr(torch, "uint16", None)
    else:
        a = np.array(images, order="C")
        if a.dtype.kind == "u" and a.dtype.itemsize > 2:
            raise DataError(f"{name}: unsupported dtype {a.dtype}; use uint8, uint16, or floats with input_range")
        # widened on the host: older torch has no uint16 tensors
        sixteen = a.dtype == np.uint16
        x = torch.from_numpy(a.astype(np.int32) if sixteen else a)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise DataError(f"{name}: expected images of shape (N, C, H, W) or (N, H, W, C), got shape {tuple(x.shape)}")
    if x.shape[1] not in (1, 3, 4) and x.shape[3] in (1, 3, 4):
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] not in (1, 3, 4):
        raise DataError(f"{name}: cannot find a channel axis of size 1, 3 or 4 in shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        pass
    elif x.dtype.is_floating_point:
        if input_range is None:
            raise DataError(f"{name}: float images need a declared value range; pass input_range=(-1, 1), (0, 1) or (0, 255)")
        if not bool(torch.isfinite(x).all()):
            raise DataError(f"{name}: contains NaN or inf values; fix the generator output before measuring")
        lo, hi = input_range
        slack = 0.01 * (hi - lo)
        if float(x.min()) < lo - slack or float(x.max()) > hi + slack:
            raise DataError(
                f"{name}: values span [{float(x.min()):.3g}, {float(x.max()):.3g}] but input_range is {tuple(input_range)}; "
                "declare the right range")
        mul, add = RANGES.get((lo, hi), (255.0 / (hi - lo), -lo * 255.0 / (hi - lo)))
        x = (x.float() * mul + add).round_().clamp_(0, 255).to(torch.uint8)
    elif sixteen:
        # The dtype, not the values, says 16-bit: a dark 16-bit batch must not pass for 8-bit.
        # (v + 128) // 257 is round(v / 257): 257 is odd, so there are no ties to break.
        x = ((x.to(torch.int32) + 128) // 257).to(torch.uint8)
    elif x.dtype in (torch.int8, torch.int16, torch.int32, torch.int64):
        # Guessing 16-bit from the values would decide batch by batch, so signed integers hold
        # 8-bit values and 16-bit data must say so with its dtype.
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{name}: integer images of dtype {str(x.dtype).replace('torch.', '')} must hold 8-bit "
                            f"values 0..255, got {lo}..{hi}; pass 16-bit images as uint16, others as uint8")
        x = x.to(torch.uint8)
    else:
        raise DataError(f"{name}: unsupported dtype {x.dtype}; use uint8, uint16, or floats with input_range")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:
        x = x[:, :3]
    return x.contiguous()


def _pil_to_8bit(img: Any, name: str) -> np.ndarray:
    """Decode a PIL image to uint8, HW for gray or HWC RGB, following the module's policies."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img, dtype=np.float64)
        return np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)
    if mode == "F":
        raise DataError(f"{name}: 32-bit float images are not supported; save it as 8- or 16-bit")
    if mode in ("L", "RGB"):
        return np.asarray(img)
    if mode == "LA":
        return np.asarray(img)[..., 0]
    if mode in ("RGBA", "PA"):
        return np.asarray(img.convert("RGBA"))[..., :3]
    return np.asarray(img.convert("RGB"))


def _finish(a: np.ndarray, resize: int | None) -> torch.Tensor:
    """uint8 HW or HWC -> CHW RGB tensor, resized on the 8-bit image as every source is."""
    if resize:
        from PIL import Image
        a = np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize((resize, resize), Image.BICUBIC))
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    # a writable copy: PIL's buffers are read-only
    return torch.from_numpy(np.array(a, order="C")).permute(2, 0, 1)


def _resize_batch(x: torch.Tensor, resize: int) -> torch.Tensor:
    """Resize a uint8 RGB NCHW batch with the PIL filter that files get, so both agree exactly."""
    out = [_finish(np.ascontiguousarray(img.permute(1, 2, 0).cpu().numpy()), resize) for img in x]
    return torch.stack(out).to(x.device)


# PIL keeps only the high byte of a 16-bit colour sample: a floor where the policy is
# round(v / 257), off by one for about half of all values.  Decoding the same tiles again with
# the other byte order yields the low bytes; PIL's decompression and PNG un-filtering work on
# raw bytes, so both decodes see the same data.  16-bit gray + alpha (which PIL decodes to RGBA)
# has no such twin, but its plain 4-byte RGBA reading holds the gray sample's two bytes.
_NATIVE = "L" if sys.byteorder == "little" else "B"
_LOW_BYTES = {f"{m};16{e}": f"{m};16{o}" for m in ("RGB", "RGBA", "RGBX")
              for e, o in (("B", "L"), ("L", "B"), ("N", "B" if _NATIVE == "L" else "L"))}
_LOW_BYTES["LA;16B"] = "RGBA"


def _rawmode(tile: Any) -> Any:
    args = tile[3]
    return args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else None


def _low_byte_tiles(img: Any, name: str) -> list | None:
    """Tiles that decode `img`'s low bytes, or None when `img` is not 16-bit colour."""
    modes = [_rawmode(t) for t in img.tile]
    if not any(m in _LOW_BYTES for m in modes):
        return None
    if not all(m in _LOW_BYTES for m in modes):
        raise DataError(f"{name}: cannot decode this 16-bit colour layout exactly ({', '.join(map(str, modes))}); "
                        "save it as a 16-bit PNG or as 8-bit")
    out = []
    for t, m in zip(img.tile, modes):
        args = _LOW_BYTES[m] if isinstance(t[3], str) else (_LOW_BYTES[m], *t[3][1:])
        out.append(t._replace(args=args) if hasattr(t, "_replace") else (*t[:3], args))
    return out


def _decode(open_image: Callable[[], Any], name: str) -> np.ndarray:
    """Pixels of one image file as uint8, HW for gray or HWC RGB (see the module docstring)."""
    with open_image() as img:
        low_tiles = _low_byte_tiles(img, name)
        img.load()
        if low_tiles is None:
            return _pil_to_8bit(img, name)
        high = np.asarray(img).astype(np.int32)
    with open_image() as img:
        img.tile = low_tiles
        img.load()
        low = np.asarray(img).astype(np.int32)
    if _rawmode(low_tiles[0]) == "RGBA":  # 16-bit gray + alpha: bytes are gray hi, gray lo, alpha hi, lo
        v = low[..., 0] * 256 + low[..., 1]
    else:
        v = high[..., :3] * 256 + low[..., :3]
    return ((v + 128) // 257).astype(np.uint8)  # round(v / 257); 257 is odd, so no ties


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

    def batches(self, batch_size=64, device=None, workers=None):
        contiguous = np.array_equal(self.indices, np.arange(len(self.indices)))
        for s in range(0, len(self.indices), batch_size):
            if contiguous:
                chunk = self.data[s:s + batch_size]
            else:
                idx = self.indices[s:s + batch_size]
                chunk = self.data[torch.as_tensor(idx)] if isinstance(self.data, torch.Tensor) else self.data[idx]
            if self.resize:  # on the host, where PIL can resize it as it resizes files
                x = _resize_batch(to_uint8(chunk, self.input_range, name=self.name), self.resize)
                yield x.to(device) if device is not None else x
                continue
            if isinstance(chunk, np.ndarray):
                chunk = torch.from_numpy(np.array(chunk, order="C"))
            yield to_uint8(chunk.to(device) if device is not None else chunk, self.input_range, name=self.name)

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
        if workers is None:
            workers = min(4, os.cpu_count() or 1) if len(self.names) > 4 * batch_size else 0
        dev = torch.device(device) if device is not None else torch.device("cpu")
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
            collate_fn=_collate, pin_memory=dev.type == "cuda", persistent_workers=False)
        self.skipped = 0
        for batch, n_bad in loader:
            if isinstance(batch, _Failure):
                batch.raise_()
            self.skipped += n_bad
            if batch is not None:
                yield batch.to(dev, non_blocking=True)

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
