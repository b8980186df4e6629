"""G_paper and D_paper of official networks.py, grown by level of detail (lod).

Official lod semantics: ``lod`` counts halvings below the final resolution, so the networks
run at ``2 ** (resolution_log2 - floor(lod))`` and the newest layer is blended with weight
``alpha = 1 - frac(lod)`` (official ``lerp_clip(new, upscaled_old, lod_in - lod)``).  Unlike
the official 'linear' structure we compute only up to the current resolution instead of
nearest-upscaling to full size; the forward values are identical because D's first op on an
upscaled image is the box downscale that undoes it (see `loss.py` for the gradient-penalty
consequence).  Feature maps: ``nf(stage) = min(int(fmap_base / 2 ** (stage * fmap_decay)), fmap_max)``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import (SQRT2, EqualizedConv2d, EqualizedLinear, downscale2d, lrelu, minibatch_stddev,
                     pixel_norm, upscale2d)


def lod_to_level(lod: float, resolution_log2: int) -> tuple[int, float]:
    """Map official ``lod`` to (current resolution, alpha of the newest layer)."""
    level = int(math.floor(lod))
    return 2 ** (resolution_log2 - level), 1.0 - (lod - level)


class _Nf:
    def __init__(self, fmap_base: int, fmap_decay: float, fmap_max: int) -> None:
        self.base, self.decay, self.max = fmap_base, fmap_decay, fmap_max

    def __call__(self, stage: int) -> int:
        return min(int(self.base / (2.0 ** (stage * self.decay))), self.max)


class G_paper(nn.Module):
    """Official G_paper (normalize_latents, use_pixelnorm, use_leakyrelu, use_wscale all True).

    4x4 block: pixelnorm(latent) -> dense to nf(1)*16 with gain sqrt(2)/4 (official override
    "to match the original Theano implementation") -> reshape -> bias, LReLU 0.2, pixelnorm ->
    3x3 conv.  Each higher block: nearest 2x upscale, two 3x3 convs each with LReLU and
    pixelnorm (epsilon 1e-8).  ToRGB: 1x1 conv, gain 1, linear.  Output is linear (no tanh).
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, latent_size: int = 512,
                 fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_max: int = 512,
                 pixelnorm_epsilon: float = 1e-8) -> None:
        super().__init__()
        self.resolution_log2 = int(math.log2(resolution))
        assert resolution == 2 ** self.resolution_log2 and resolution >= 4
        self.latent_size, self.eps = latent_size, pixelnorm_epsilon
        nf = _Nf(fmap_base, fmap_decay, fmap_max)
        self.dense = EqualizedLinear(latent_size, nf(1) * 16, gain=SQRT2 / 4, bias=False)
        self.dense_bias = nn.Parameter(torch.zeros(nf(1)))
        self.blocks = nn.ModuleList([nn.ModuleList([EqualizedConv2d(nf(1), nf(1), 3)])])
        for res in range(3, self.resolution_log2 + 1):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(nf(res - 2), nf(res - 1), 3),
                                              EqualizedConv2d(nf(res - 1), nf(res - 1), 3)]))
        self.torgb = nn.ModuleList([EqualizedConv2d(nf(res - 1), num_channels, 1, gain=1.0)
                                    for res in range(2, self.resolution_log2 + 1)])

    def _block(self, x: torch.Tensor, i: int) -> torch.Tensor:
        if i == 0:
            x = pixel_norm(x, self.eps)  # official normalize_latents
            x = self.dense(x).view(x.shape[0], -1, 4, 4)
            x = pixel_norm(lrelu(x + self.dense_bias.view(1, -1, 1, 1)), self.eps)
        else:
            x = upscale2d(x)
        for conv in self.blocks[i]:
            x = pixel_norm(lrelu(conv(x)), self.eps)
        return x

    def forward_at(self, z: torch.Tensor, resolution: int, alpha: float = 1.0) -> torch.Tensor:
        """Images at `resolution`, the newest block blended in with weight `alpha` in [0, 1]."""
        n = int(math.log2(resolution)) - 2
        x = prev = self._block(z, 0)
        for i in range(1, n + 1):
            prev, x = x, self._block(x, i)
        img = self.torgb[n](x)
        if n > 0 and alpha < 1.0:
            img = torch.lerp(upscale2d(self.torgb[n - 1](prev)), img, alpha)
        return img

    def forward(self, z: torch.Tensor, lod: float = 0.0) -> torch.Tensor:
        """Images at the resolution of official `lod` (see module docstring)."""
        return self.forward_at(z, *lod_to_level(lod, self.resolution_log2))


def build_G(cfg: dict, resolution: int) -> G_paper:
    """G_paper for a trainer config (its latent, feature-map and pixelnorm keys) at `resolution`.

    The one place a config becomes a generator: training, checkpoint loading and the learning
    probes build the same network, so a probe's "untrained G" is the run's own initial G."""
    return G_paper(resolution, latent_size=cfg["latent_size"], fmap_base=cfg["fmap_base"],
                   fmap_decay=cfg["fmap_decay"], fmap_max=cfg["fmap_max"], pixelnorm_epsilon=cfg["pixelnorm_epsilon"])


class D_paper(nn.Module):
    """Official D_paper (use_wscale True, mbstd_group_size 4, fused_scale False, no labels).

    FromRGB: 1x1 conv to nf(res-1) + LReLU.  Block at res >= 8: 3x3 conv to nf(res-1), 3x3
    conv to nf(res-2), each + LReLU, then 2x2 average pooling (official non-fused ordering:
    Conv0, Conv1, downscale2d).  4x4 block: minibatch stddev -> 3x3 conv to nf(1) -> dense
    to nf(0) -> dense to 1 with gain 1 (linear).  Returns scores of shape [N].
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, fmap_base: int = 8192,
                 fmap_decay: float = 1.0, fmap_max: int = 512, mbstd_group_size: int = 4) -> None:
        super().__init__()
        self.resolution_log2 = int(math.log2(resolution))
        assert resolution == 2 ** self.resolution_log2 and resolution >= 4
        self.mbstd_group_size = mbstd_group_size
        nf = _Nf(fmap_base, fmap_decay, fmap_max)
        self.fromrgb = nn.ModuleList([EqualizedConv2d(num_channels, nf(res - 1), 1)
                                      for res in range(2, self.resolution_log2 + 1)])
        self.blocks = nn.ModuleList([nn.ModuleList([
            EqualizedConv2d(nf(1) + (1 if mbstd_group_size > 1 else 0), nf(1), 3),
            EqualizedLinear(nf(1) * 16, nf(0)),
            EqualizedLinear(nf(0), 1, gain=1.0)])])
        for res in range(3, self.resolution_log2 + 1):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(nf(res - 1), nf(res - 1), 3),
                                              EqualizedConv2d(nf(res - 1), nf(res - 2), 3)]))

    def _block(self, x: torch.Tensor, i: int) -> torch.Tensor:
        if i > 0:
            conv0, conv1 = self.blocks[i]
            return downscale2d(lrelu(conv1(lrelu(conv0(x)))))
        conv, dense0, dense1 = self.blocks[0]
        if self.mbstd_group_size > 1:
            x = minibatch_stddev(x, self.mbstd_group_size)
        return dense1(lrelu(dense0(lrelu(conv(x))))).squeeze(1)

    def forward_at(self, img: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Scores of images at their own resolution, the newest block blended with `alpha`."""
        n = int(math.log2(img.shape[-1])) - 2
        x = self._block(lrelu(self.fromrgb[n](img)), n)
        if n > 0 and alpha < 1.0:
            x = torch.lerp(lrelu(self.fromrgb[n - 1](downscale2d(img))), x, alpha)
        for i in range(n - 1, -1, -1):
            x = self._block(x, i)
        return x

    def forward(self, img: torch.Tensor, lod: float = 0.0) -> torch.Tensor:
        """Scores at official `lod`; `img` must be at that lod's resolution."""
        return self.forward_at(img, lod_to_level(lod, self.resolution_log2)[1])
