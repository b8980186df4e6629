"""DINOv2 preprocessing as dgm-eval does it: PIL bicubic resize to 224x224, then ImageNet norm.

dgm-eval (Stein et al. 2023, ``dgm_eval/models/dinov2.py``, default ``clean_resize=False``)
opens each image with PIL and applies torchvision's
``Resize((224, 224), BICUBIC)`` -> ``ToTensor()`` -> ``Normalize(mean, std)``.  On a PIL image
``Resize`` is ``PIL.Image.resize(..., BICUBIC)``: Pillow's two-pass convolution with the
a = -0.5 cubic kernel, widened by the scale when shrinking (antialiasing), 22-bit fixed-point
coefficients, and each pass rounded and clipped to uint8 (``libImaging/Resample.c``).
`pil_bicubic_resize` reproduces that arithmetic exactly as two matrix products in float64
(every intermediate is an integer below 2**31, so the result is bit-identical to Pillow's on
any device, and the images never leave it).  ``ToTensor`` divides by 255 in float32 and
``Normalize`` subtracts the float32 mean and divides by the float32 std; `preprocess` does the
same operations in the same order.

Pass order: Pillow up to 12 always runs the horizontal pass first; Pillow 13 runs the vertical
one first when the height shrinks much more than the width (python-pillow/Pillow#9549), which
changes pixels of such non-square inputs (by up to ~20 levels on noise, measured with Pillow
13.0).  ganeval keeps the horizontal-first order that dgm-eval's published numbers were
computed with; square inputs, the usual case, are identical under every Pillow version.
"""
from __future__ import annotations

import torch

from ..resample import PIL_PRECISION_BITS, pil_coeffs

INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESS_ID = "pil-bicubic-224 imagenet-norm"

_PRECISION_BITS = PIL_PRECISION_BITS


def _coeffs(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix of Pillow's 22-bit fixed-point bicubic weights for one axis."""
    return pil_coeffs(n_in, n_out, True)


def _round(acc: torch.Tensor) -> torch.Tensor:
    """Pillow's ``clip8``: add half, shift right by 22 bits, clip to 0..255.  Every term and
    partial sum before it is an integer below 2**31, so float64 holds them exactly."""
    return torch.floor((acc + float(1 << (_PRECISION_BITS - 1))) / float(1 << _PRECISION_BITS)).clamp_(0, 255)


def pil_bicubic_resize(images: torch.Tensor, size: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)) -> torch.Tensor:
    """Resize uint8 NCHW images to `size` = (H, W) exactly as ``PIL.Image.resize(BICUBIC)`` did
    up to Pillow 12 (horizontal pass, then vertical; see the module docstring); returns float64
    holding the uint8 values (MPS, which has no float64, computes on the CPU)."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 NCHW images, got {images.dtype} of shape {tuple(images.shape)}")
    dev = images.device
    x = images.to("cpu" if dev.type == "mps" else dev, torch.float64)
    if x.shape[-1] != size[1]:  # Pillow runs a pass only where the size changes: rows first
        x = _round(x @ _coeffs(x.shape[-1], size[1]).T.to(x.device))
    if x.shape[-2] != size[0]:
        x = _round(_coeffs(x.shape[-2], size[0]).to(x.device) @ x)
    return x.to(dev) if dev.type == "mps" else x


def preprocess(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """uint8 RGB NCHW images of any size -> float32 (N, 3, size, size) network input."""
    x = pil_bicubic_resize(images, (size, size)).to(torch.float32).contiguous().div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return x.sub(mean).div(std)
