"""Pixel conversion: every image, array or tensor becomes uint8 RGB NCHW by one set of rules.

* grayscale is tiled to RGB; RGBA (and LA) drop the alpha channel, as torch-fidelity and
  clean-fid do; palette and CMYK images are converted to RGB;
* 16-bit data (files, PIL images, uint16 arrays) is reduced to 8 bits by ``round(v / 257)``
  before anything else happens to it (a resize included);
* float arrays must declare their range (``input_range``: (-1, 1), (0, 1) or (0, 255)); they
  are mapped to 0..255 and rounded to the nearest integer; NaN/inf are errors;
* ``resize=R`` resizes with PIL's bicubic filter on the 8-bit image, for files and arrays alike.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np
import torch

from ..errors import DataError

__all__ = ["to_uint8", "RANGES"]

RANGES = {(-1, 1): (127.5, 127.5), (0, 1): (255.0, 0.0), (0, 255): (1.0, 0.0)}



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
