"""DINOv2 preprocessing as dgm-eval does it: PIL bicubic resize to 224x224, then ImageNet norm.

dgm-eval (Stein et al. 2023, ``dgm_eval/models/dinov2.py``, default ``clean_resize=False``)
opens each image with PIL and applies torchvision's
``Resize((224, 224), BICUBIC)`` -> ``ToTensor()`` -> ``Normalize(mean, std)``.  On a PIL image
``Resize`` is ``PIL.Image.resize(..., BICUBIC)``: Pillow's two-pass (horizontal, then vertical)
convolution with the a = -0.5 cubic kernel, widened by the scale when shrinking
(antialiasing), with 22-bit fixed-point coefficients and each pass rounded and clipped to
uint8 (``libImaging/Resample.c``).  `pil_bicubic_resize` reproduces that arithmetic exactly as
two matrix products in float64 (every intermediate is an integer below 2**53, so the result is
bit-identical to Pillow's on any device), so the images stay on their device.
``ToTensor`` divides by 255 in float32 and ``Normalize`` subtracts the float32 mean and divides
by the float32 std; `preprocess` does the same operations in the same order.
"""
from __future__ import annotations

import functools
import math

import torch

INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESS_ID = "pil-bicubic-224 imagenet-norm"

_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images
_SUPPORT = 2.0  # the cubic kernel's support


def _bicubic(x: float) -> float:
    # Pillow's bicubic_filter with a = -0.5, written with the same operations in the same order.
    a = -0.5
    if x < 0.0:
        x = -x
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


@functools.lru_cache(maxsize=32)
def _coeffs(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) fixed-point coefficients of Pillow's ``precompute_coeffs`` +
    ``normalize_coeffs_8bpc`` (float64 holding integers)."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    ss = 1.0 / filterscale
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    one = float(1 << _PRECISION_BITS)
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # int() truncates toward zero, like C's cast
        xmax = min(int(center + support + 0.5), n_in)
        w = [_bicubic((x - center + 0.5) * ss) for x in range(xmin, xmax)]
        ww = 0.0
        for v in w:  # summed in order, as Pillow does
            ww += v
        for i, v in enumerate(w):
            k = v / ww if ww != 0.0 else v
            m[xx, xmin + i] = math.trunc(-0.5 + k * one) if k < 0 else math.trunc(0.5 + k * one)
    return m


def _pass(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """One Pillow pass along the last dim: fixed-point sum, round half up, clip to 0..255."""
    acc = x @ m.T.to(x.device)
    return torch.floor((acc + float(1 << (_PRECISION_BITS - 1))) / float(1 << _PRECISION_BITS)).clamp_(0, 255)


def pil_bicubic_resize(images: torch.Tensor, size: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)) -> torch.Tensor:
    """Resize uint8 NCHW images to `size` = (H, W) exactly as ``PIL.Image.resize(BICUBIC)``;
    returns float64 holding the uint8 values (MPS, which has no float64, computes on the CPU)."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 NCHW images, got {images.dtype} of shape {tuple(images.shape)}")
    dev = images.device
    x = images.to("cpu" if dev.type == "mps" else dev, torch.float64)
    h, w = x.shape[-2:]
    if w != size[1]:  # Pillow runs a pass only where the size changes: horizontal first
        x = _pass(x, _coeffs(w, size[1]))
    if h != size[0]:
        x = _pass(x.transpose(-1, -2), _coeffs(h, size[0])).transpose(-1, -2)
    return x.to(dev) if dev.type == "mps" else x


def preprocess(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """uint8 RGB NCHW images of any size -> float32 (N, 3, size, size) network input."""
    x = pil_bicubic_resize(images, (size, size)).to(torch.float32).contiguous().div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return x.sub(mean).div(std)
