"""CLIP input preprocessing, as each reference does it: torch-fidelity's (FD_CLIP) and CMMD's.

* ``torch-fidelity`` (``FeatureExtractorCLIP.forward`` in torch-fidelity 0.4.0): uint8 -> float32
  in 0..255, TF1-style bilinear resize straight to the encoder's side (224 or 336; no crop, no
  antialiasing, its ``method="slow"`` arithmetic: sample positions ``i * (in / out)`` in float32,
  truncated, linear blend along x and then along y), then ``(x - 255 mean) / (255 std)`` with
  CLIP's mean and std.  `tf1_bilinear` repeats that arithmetic operation for operation, so the
  encoder input is bit-identical on the CPU.
* ``cmmd`` (google-research ``cmmd/io_util.py`` + ``embedding.py``, Jayasumana et al. 2024): a
  centre crop to the largest square (offsets ``(side - min side) // 2``), Pillow's bicubic
  resize to 336x336 (antialiased, 8-bit fixed point; `ganeval.dinov2.preprocess.
  pil_bicubic_resize` reproduces it exactly), ``/ 255`` in float32, then ``(x - mean) / std``.
  The reference then calls ``jax.image.resize(..., 'bicubic')`` to the same side, which is the
  identity on an image already of that side, and is left out here.  Its images are decoded by
  PIL from files; here they are whatever `ganeval.io.sources` decoded (the same pixels for
  PNG/JPEG files read with Pillow).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from ..dinov2.preprocess import pil_bicubic_resize

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _check(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 RGB NCHW images, got {images.dtype} of shape {tuple(images.shape)}")


def _positions(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # torch-fidelity: arange in the input's dtype times the scale as a float32 tensor, truncated.
    pos = torch.arange(n_out, dtype=torch.float32, device=device) * torch.tensor(n_in / n_out, dtype=torch.float32)
    lo = pos.long()
    hi = (lo + 1).clamp_max(n_in - 1)
    return lo, hi, pos - lo.float()


def tf1_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """float32 NCHW -> (N, C, size, size) with TF1's legacy bilinear sampling (align_corners
    False, no half-pixel offset), in torch-fidelity's order of operations."""
    ylo, yhi, dy = _positions(x.shape[-2], size, x.device)
    xlo, xhi, dx = _positions(x.shape[-1], size, x.device)
    top, bottom = x[:, :, ylo], x[:, :, yhi]
    dx = dx.view(1, 1, 1, size)
    row0 = top[..., xlo] + (top[..., xhi] - top[..., xlo]) * dx
    row1 = bottom[..., xlo] + (bottom[..., xhi] - bottom[..., xlo]) * dx
    return row0 + (row1 - row0) * dy.view(1, 1, size, 1)


def _stats(device: torch.device, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    # The float64 products are cast to float32 once, as torchvision's normalize casts its tuples.
    mean = torch.tensor([scale * m for m in CLIP_MEAN], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor([scale * s for s in CLIP_STD], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return mean, std


def torch_fidelity(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 RGB NCHW -> float32 encoder input, as torch-fidelity's CLIP extractor prepares it."""
    _check(images)
    x = tf1_bilinear(images.to(torch.float32), size)
    mean, std = _stats(x.device, 255.0)
    return x.sub(mean).div(std)


def centre_crop(images: torch.Tensor) -> torch.Tensor:
    """The largest centred square, with the CMMD reference's (PIL box) offsets."""
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return images[..., top:top + side, left:left + side]


def cmmd(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 RGB NCHW -> float32 encoder input, as the CMMD reference prepares it."""
    _check(images)
    x = pil_bicubic_resize(centre_crop(images), (size, size)).to(torch.float32).contiguous().div(255)
    mean, std = _stats(x.device, 1.0)
    return x.sub(mean).div(std)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """One reference's rule: `prepare(uint8 images, side)` and the `id` recorded in settings and cache keys."""

    name: str
    id: str
    prepare: Callable[[torch.Tensor, int], torch.Tensor]


PREPROCESSING = {
    "torch-fidelity": Preprocessing("torch-fidelity", "tf1-bilinear clip-norm", torch_fidelity),
    "cmmd": Preprocessing("cmmd", "centre-crop pil-bicubic clip-norm", cmmd),
}
