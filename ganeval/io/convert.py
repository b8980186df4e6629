"""Pixel conversion: every image, array or tensor becomes uint8 RGB NCHW by one set of rules.

* grayscale is tiled to RGB; RGBA (and LA) drop the alpha channel, as torch-fidelity and
  clean-fid do; palette and CMYK images are converted to RGB;
* integer samples are mapped by their stored depth, the same rule for files, PIL images and
  arrays: unsigned b-bit samples (b <= 16; 16-bit files, PIL images, uint16 arrays, 12-bit TIFFs)
  become ``round(v * 255 / (2**b - 1))`` -- ``round(v / 257)`` for 16 bits -- before anything
  else happens to them (a resize included); signed samples of any width must hold 8-bit values
  0..255; unsigned samples wider than 16 bits (32-bit TIFFs, uint32 arrays) and float files are
  refused, since nothing says which part of their range the image fills;
* float arrays must declare their range (``input_range``: (-1, 1), (0, 1) or (0, 255)); they
  are mapped to 0..255 and rounded to the nearest integer; NaN/inf are errors;
* ``resize=R`` resizes with PIL's bicubic filter on the 8-bit image, for files and arrays alike;
* an image read from a file or array file may have at most `max_image_pixels()` pixels
  (``$GANEVAL_MAX_IMAGE_PIXELS``), checked from its header before anything is decoded;
* an EXIF orientation tag is reported by `_decode`, never applied (see `ganeval.io.sources`).
"""
from __future__ import annotations

import os
import re
import sys
import warnings
from typing import Any, Callable

import numpy as np
import torch

from ..errors import DataError, UsageError
from ..options import check_input_range

__all__ = ["to_uint8", "RANGES", "int_to_8bit", "max_image_pixels", "check_pixels", "ImageTooLarge"]

RANGES = {(-1, 1): (127.5, 127.5), (0, 1): (255.0, 0.0), (0, 255): (1.0, 0.0)}

EXIF_ORIENTATION = 0x0112
MAX_PIXELS_ENV = "GANEVAL_MAX_IMAGE_PIXELS"
# 4096 x 4096: four times the largest GAN benchmark images (FFHQ, CelebA-HQ, MetFaces: 1024^2).
# An image this size already costs about 4 GB in MS-SSIM's float pyramid; a 100 KB PNG can
# claim 6000 x 6000, so the header is checked before anything is decoded.
DEFAULT_MAX_PIXELS = 4096 * 4096


def max_image_pixels() -> int:
    """The most pixels one image from a file may have: ``$GANEVAL_MAX_IMAGE_PIXELS``, else
    `DEFAULT_MAX_PIXELS`."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{MAX_PIXELS_ENV}={text!r}: must be a positive whole number of pixels "
                         f"(default {DEFAULT_MAX_PIXELS})")
    return value


class ImageTooLarge(DataError):
    """An image over the per-image pixel bound: a setting to raise, never a bad file to skip."""


def check_pixels(size: tuple[int, int], name: str, max_pixels: int | None = None) -> None:
    """`ImageTooLarge` when an image of `size` (width, height) is over the per-image bound."""
    bound = max_image_pixels() if max_pixels is None else max_pixels
    w, h = size
    if w * h > bound:
        raise ImageTooLarge(f"{name}: {w}x{h} is {w * h:,} pixels, more than the {bound:,} one image may have; if the "
                        f"image is genuine, raise the bound with {MAX_PIXELS_ENV}=N (default {DEFAULT_MAX_PIXELS:,}, "
                        "4096x4096)")



def to_uint8(images: Any, input_range: tuple[float, float] | None = None, *, name: str = "array") -> torch.Tensor:
    """Convert one batch (numpy or torch, NCHW/NHWC/NHW, uint8 or float) to uint8 RGB NCHW.

    Floats need `input_range`; they are scaled to 0..255, rounded to nearest and must be finite
    and inside the range (a 1% overshoot, common for tanh-free generators, is clamped).  The
    result stays on the input's device so that GPU batches never visit the host.
    """
    input_range = check_input_range(input_range)  # a UsageError for a reversed, NaN or malformed range
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


def int_to_8bit(a: np.ndarray, bits: int, signed: bool, name: str, invert: bool = False) -> np.ndarray:
    """Integer samples stored with `bits` bits (`signed` or not) as uint8, by the one rule
    every source follows (see the module docstring); a `DataError` for what has no honest
    8-bit reading.  `invert` reads unsigned samples as white-is-zero."""
    if signed:
        # Signed samples have no agreed depth; what they can honestly hold is 8-bit levels
        # stored wide (numpy's int64 arrays, PIL's 32-bit "I" TIFFs of 8-bit data).
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:
            raise DataError(f"{name}: signed {bits}-bit integer samples must hold 8-bit values 0..255, got {lo}..{hi}; "
                            "save 16-bit images as unsigned 16-bit (uint16), others as 8-bit")
        return a.astype(np.uint8)
    if bits > 16:
        raise DataError(f"{name}: {bits}-bit integer samples have no agreed mapping to 8 bits (nothing says which "
                        "part of the range the image fills); convert it to 8- or 16-bit")
    top = (1 << bits) - 1
    v = a.astype(np.int64)
    hi = int(v.max()) if v.size else 0
    if hi > top:
        raise DataError(f"{name}: a {bits}-bit image holds the value {hi}, above {top}; the file is damaged")
    if invert:
        v = top - v
    if bits == 8:
        return v.astype(np.uint8)
    # round(v * 255 / top) in integers; top is odd, so the quotient is never halfway
    return ((v * 510 + top) // (2 * top)).astype(np.uint8)


# PIL's raw modes for integer samples: "I;16B", "I;12", "I;32S", "I;16BS", ... -> bits, signed
_INT_RAW = re.compile(r"I;(\d+)[BLNR]?(S)?")
_INT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def stored_depth(img: Any, name: str) -> tuple[int, bool] | None:
    """(bits, signed) of an integer-mode image's samples as its file stores them, read from its
    decoder's raw mode before `load` (which forgets it); None where PIL holds no file layout
    (an image made in memory, or one already loaded)."""
    if img.mode not in _INT_MODES:
        return None
    found = set()
    for t in getattr(img, "tile", None) or ():
        raw = _rawmode(t)
        m = _INT_RAW.fullmatch(raw or "")
        if raw == "I":  # PIL's native int32
            found.add((32, True))
        elif m:
            found.add((int(m.group(1)), bool(m.group(2))))
        else:
            raise DataError(f"{name}: cannot tell the bit depth of this {img.mode} image (raw mode {raw}); "
                            "save it as an 8- or 16-bit PNG")
    if len(found) > 1:
        raise DataError(f"{name}: its tiles store samples of different depths; save it as an 8- or 16-bit PNG")
    return found.pop() if found else None


def _pil_to_8bit(img: Any, name: str, depth: tuple[int, bool] | None = None) -> np.ndarray:
    """Decode a PIL image to uint8, HW for gray or HWC RGB, following the module's policies.

    `depth` is `stored_depth` taken before the image was loaded; without it the depth is read
    from the image itself (its tiles when not yet loaded, else what its mode holds: 16 bits
    for "I;16*", signed 32 for "I")."""
    mode = img.mode
    tags = getattr(img, "tag_v2", None)  # TIFF files only
    white_is_zero = tags is not None and tags.get(262) == 0
    signed_tiff = tags is not None and 2 in np.atleast_1d(tags.get(339, 1)).tolist()
    if mode in _INT_MODES:
        bits, signed = depth or stored_depth(img, name) or ((32, True) if mode == "I" else (16, False))
        a = np.asarray(img)
        if mode == "I" and not signed and bits == 32:
            a = a.view(np.uint32)  # PIL holds unsigned 32-bit samples in its int32 mode
        if white_is_zero and signed:
            raise DataError(f"{name}: a signed WhiteIsZero TIFF has no agreed reading; save it as BlackIsZero")
        # PIL inverts 8-bit WhiteIsZero TIFFs but hands deeper ones over as stored
        return int_to_8bit(a, bits, signed, name, invert=white_is_zero)
    if signed_tiff and mode in ("L", "LA", "RGB", "RGBA"):
        # PIL reads signed 8-bit TIFF samples as unsigned: -1 would pass for 255
        lo = int(np.asarray(img).view(np.int8).min())
        if lo < 0:
            raise DataError(f"{name}: signed 8-bit integer samples must hold 8-bit values 0..255, got {lo}; "
                            "save it as unsigned 8-bit")
    if mode in ("F", "I;16F") or mode.startswith("F;"):
        raise DataError(f"{name}: floating-point images are not supported (nothing says what range they span); "
                        "save it as 8- or 16-bit")
    if mode in ("L", "RGB"):
        return np.asarray(img)
    if mode in ("LA", "La"):  # La is premultiplied: PIL undoes that on the way to LA
        return np.asarray(img if mode == "LA" else img.convert("LA"))[..., 0]
    if mode in ("RGBA", "PA"):
        return np.asarray(img.convert("RGBA"))[..., :3]
    try:  # 1, P, RGBX, RGBa, CMYK, YCbCr, LAB, HSV: PIL's own conversion, as the reference tools use
        return np.asarray(img.convert("RGB"))
    except ValueError as e:
        raise DataError(f"{name}: PIL cannot convert a mode {mode} image to RGB ({e}); save it as RGB") from None


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


def _orientation(img: Any) -> int:
    """The EXIF orientation tag of a loaded image (1, "normal", when it has none)."""
    try:
        with warnings.catch_warnings():  # PIL warns about damaged EXIF blocks; they only mean "no tag"
            warnings.simplefilter("ignore")
            value = img.getexif().get(EXIF_ORIENTATION, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # an unreadable EXIF block changes no pixel
        return 1


def _decode(open_image: Callable[[], Any], name: str, max_pixels: int | None = None) -> tuple[np.ndarray, int]:
    """Pixels of one image file as uint8, HW for gray or HWC RGB (see the module docstring),
    and its EXIF orientation (1 when it has none; it is never applied, see `ganeval.io.sources`).

    The size is checked against `max_pixels` (`max_image_pixels()` by default) from the
    header, before a pixel is decoded.
    """
    with open_image() as img:
        check_pixels(img.size, name, max_pixels)
        depth = stored_depth(img, name)
        low_tiles = _low_byte_tiles(img, name)
        img.load()
        orientation = _orientation(img)
        if low_tiles is None:
            return _pil_to_8bit(img, name, depth), orientation
        high = np.asarray(img).astype(np.int32)
    with open_image() as img:
        img.tile = low_tiles
        img.load()
        low = np.asarray(img).astype(np.int32)
    if _rawmode(low_tiles[0]) == "RGBA":  # 16-bit gray + alpha: bytes are gray hi, gray lo, alpha hi, lo
        v = low[..., 0] * 256 + low[..., 1]
    else:
        v = high[..., :3] * 256 + low[..., :3]
    return ((v + 128) // 257).astype(np.uint8), orientation  # round(v / 257); 257 is odd, so no ties
