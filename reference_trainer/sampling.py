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
    for chunk in latent_batches(num, G.latent_size, seed, batch_size):
        img = G(chunk.to(dev), lod).float()
        yield to_pixels(upscale2d(img, full // img.shape[-1]))


# torch's CPU randn fills a tensor from one uniform stream in blocks of 16 values, redrawing
# the last block of a tensor whose size is not a multiple of 16.  Draws of DRAW_ROWS rows (a
# multiple of 16 values for any latent size), with no last draw under 16 values, therefore
# give exactly the values of one ``randn(num, latent_size)``: a seed's images stay the same
# whatever --num is, as before latents were streamed (tests/reference_trainer check this).
DRAW_ROWS = 1024


def latent_batches(num: int, latent_size: int, seed: int, batch_size: int = 64) -> Iterator[torch.Tensor]:
    """The rows of ``torch.randn(num, latent_size)`` seeded by `seed`, in batches of
    `batch_size`, drawn as they are needed: memory stays at DRAW_ROWS rows whatever `num` is."""
    gen = torch.Generator().manual_seed(seed)
    pending, drawn = torch.empty(0, latent_size), 0
    while drawn < num or pending.shape[0]:
        while pending.shape[0] < batch_size and drawn < num:
            rows = min(DRAW_ROWS, num - drawn)
            if 0 < (num - drawn - rows) * latent_size < 16:  # a tiny last draw would differ: take it now
                rows = num - drawn
            pending = torch.cat([pending, torch.randn(rows, latent_size, generator=gen)])
            drawn += rows
        out, pending = pending[:batch_size], pending[batch_size:]
        yield out


def sample_checkpoint(path: str | Path, num: int, seed: int = 0, device: Any = None,
                      batch_size: int = 64) -> torch.Tensor:
    """All of `sample_batches` as one uint8 NCHW tensor (for sets that fit in memory)."""
    return torch.cat(list(sample_batches(path, num, seed, device, batch_size)))
