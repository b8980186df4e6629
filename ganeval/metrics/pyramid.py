"""Laplacian pyramid exactly as the ProGAN SWD reference builds it.

The reference (`metrics/sliced_wasserstein.py` of tkarras/progressive_growing_of_gans)
blurs with the 5x5 binomial kernel, the outer product of [1, 4, 6, 4, 1] / 16, using
``scipy.ndimage.convolve(..., mode='mirror')``: reflection about the edge pixel without
repeating it, which is what ``F.pad(mode='reflect')`` does.  ``pyr_down`` is blur then every
second pixel; ``pyr_up`` is zero insertion then the same blur times 4.  The kernel is
separable, so it is applied as two 1-D passes (same result up to float32 rounding).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def _taps(x: torch.Tensor, dim: int, step: int) -> torch.Tensor:
    # 5-tap binomial along `dim` as a sum of shifted slices: much faster on CPU than a
    # depthwise conv2d.  `step` 2 computes only every second output (pyr_down).
    n = x.shape[dim] - 4
    sl = [x.narrow(dim, i, n) for i in range(5)]
    if step > 1:
        sl = [t.narrow(dim, 0, n).unfold(dim, 1, step).squeeze(-1) for t in sl]
    return (sl[0] + sl[4] + 4.0 * (sl[1] + sl[3]) + 6.0 * sl[2]) * (1.0 / 16.0)


def _blur(x: torch.Tensor, gain: float = 1.0, step: int = 1) -> torch.Tensor:
    x = _taps(F.pad(x, (0, 0, 2, 2), mode="reflect"), 2, step)
    x = _taps(F.pad(x, (2, 2, 0, 0), mode="reflect"), 3, step)
    return x * gain if gain != 1.0 else x


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Blur with the binomial kernel (mirror boundary), keep every second pixel."""
    return _blur(x, step=2)


def _up1d(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Zero insertion to `size` along `dim`, then the binomial blur times 2, computed polyphase.

    With mirror boundaries on the zero-inserted signal, even outputs are
    (x[k-1] + 6 x[k] + x[k+1]) / 8 and odd outputs (x[k] + x[k+1]) / 2, where x[-1] = x[1] and
    x[n] = x[n-1] for an even `size` (x[n-2] for an odd one).  This skips the 3/4 of the
    work the zero-inserted form spends multiplying zeros.
    """
    n = x.shape[dim]
    right = x.narrow(dim, n - 1 if size % 2 == 0 else n - 2, 1)
    xp = torch.cat([x.narrow(dim, 1, 1), x, right], dim)
    lo, mid, hi = xp.narrow(dim, 0, n), xp.narrow(dim, 1, n), xp.narrow(dim, 2, n)
    even = (lo + hi + 6.0 * mid) * 0.125
    odd = (mid + hi) * 0.5
    out = torch.stack([even, odd], dim + 1).flatten(dim, dim + 1)
    return out.narrow(dim, 0, size)


def pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Insert zeros to reach `size`, then blur with 4x the binomial kernel (mirror boundary)."""
    return _up1d(_up1d(x, 2, size[0]), 3, size[1])


def pyramid_resolutions(height: int, width: int, min_res: int = 16) -> list[int]:
    """Heights of the pyramid levels, full resolution down to `min_res` (both sides)."""
    res, h, w = [], height, width
    while min(h, w) >= min_res:
        res.append(h)
        h, w = (h + 1) // 2, (w + 1) // 2
    return res


def laplacian_pyramid(images: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of float32 images on the 0..255 scale.

    Level 0 is full resolution; every level but the last is a band-pass
    ``G_k - pyr_up(G_{k+1})``; the last is the Gaussian low-pass ``G_{num_levels-1}``.
    """
    gauss = images.float()
    levels = []
    for _ in range(num_levels - 1):
        down = pyr_down(gauss)
        levels.append(gauss - pyr_up(down, gauss.shape[2:]))
        gauss = down
    levels.append(gauss)
    return levels
