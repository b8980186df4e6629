"""Images from a trainer checkpoint: the one place G_ema output becomes uint8 pixels.

`generate`, the snapshot grids, the demo and the leaderboard's "checkpoint"/"run" entries all
sample through here, so every one of them sees the same pixels for the same seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import torch

from ganeval.io.sources import to_uint8


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] (NCHW) as uint8 on the CPU.

    ProGAN's generator has no output nonlinearity, so values past the range are clipped, as
    the official code's ``convert_to_pil_image`` does, before rounding to the nearest level.
    """
    return to_uint8(images.detach().float().clamp(-1, 1).cpu(), (-1, 1), name="generator output")


@torch.no_grad()
def sample_batches(path: str | Path, num: int, seed: int = 0, device: Any = None,
                   batch_size: int = 64) -> Iterator[torch.Tensor]:
    """`num` uint8 NCHW images from a checkpoint's G_ema in batches, latents drawn from `seed`.

    A snapshot taken before the last resolution is reached is sampled at its current level of
    detail and nearest-upscaled to full size, as the official Gs output always is.
    """
    from .checkpoint import load_G_ema
    from .layers import upscale2d
    G, lod, dev = load_G_ema(str(path), device)
    full = 2 ** G.resolution_log2
    z = torch.randn(num, G.latent_size, generator=torch.Generator().manual_seed(seed))
    for chunk in z.split(batch_size):
        img = G(chunk.to(dev), lod).float()
        yield to_pixels(upscale2d(img, full // img.shape[-1]))


def sample_checkpoint(path: str | Path, num: int, seed: int = 0, device: Any = None,
                      batch_size: int = 64) -> torch.Tensor:
    """All of `sample_batches` as one uint8 NCHW tensor (for sets that fit in memory)."""
    return torch.cat(list(sample_batches(path, num, seed, device, batch_size)))
