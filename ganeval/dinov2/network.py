"""A compact DINOv2 ViT whose parameter names are those of the official hub checkpoints.

It follows ``facebookresearch/dinov2`` (``dinov2/models/vision_transformer.py`` and
``dinov2/layers``) as ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')`` builds it,
which is what dgm-eval runs: a 14x14 patch-embedding convolution, a class token, learned
position embeddings for a 37x37 grid (518 px) resized bicubically to the input's grid, pre-norm
blocks (LayerNorm eps 1e-6, multi-head attention with a fused ``qkv``, LayerScale ``ls1``/``ls2``,
GELU MLP ``fc1``/``fc2``), and a final LayerNorm whose class-token row is the feature
(``x_norm_clstoken``; the hub model's head is the identity).  ``mask_token`` is kept so the
official state dict loads key for key; it is unused at inference.  Only the plain MLP variants
(ViT-S/B/L) are covered; ViT-g's SwiGLU and the register variants are not.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import exact_matmul
from .preprocess import INPUT_SIZE, PREPROCESS_ID, preprocess

PATCH = 14
INTERPOLATE_OFFSET = 0.1  # DINOv2's "historical kludge" in interpolate_pos_encoding; it shifts the samples


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    """One DINOv2 architecture: width, depth and heads (the position grid comes from the weights)."""

    name: str
    dim: int
    depth: int
    heads: int
    mlp_ratio: int = 4


ARCHS = {
    "vitb14": ViTConfig("vitb14", 768, 12, 12),
    "vitl14": ViTConfig("vitl14", 1024, 24, 16),
}


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, PATCH, stride=PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoVisionTransformer(nn.Module):
    """``forward(normalised float NCHW) -> (N, dim)`` final-norm class tokens."""

    def __init__(self, config: ViTConfig, pos_grid: int = 37):
        super().__init__()
        self.config, self.pos_grid = config, pos_grid
        d = config.dim
        self.patch_embed = PatchEmbed(d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pos_grid * pos_grid, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.blocks = nn.ModuleList(Block(d, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def interpolate_pos_encoding(self, h: int, w: int) -> torch.Tensor:
        """Position embeddings for an h x w pixel input, as DINOv2 computes them: the class
        row as it is, the patch grid resized bicubically (no antialiasing) with the *scale
        factor* (grid + 0.1) / M, which samples slightly differently from asking for the size."""
        h0, w0, m = h // PATCH, w // PATCH, self.pos_grid
        if h0 == w0 == m:
            return self.pos_embed
        pos = self.pos_embed.float()
        grid = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((h0 + INTERPOLATE_OFFSET) / m, (w0 + INTERPOLATE_OFFSET) / m),
                             mode="bicubic", antialias=False)
        assert grid.shape[-2:] == (h0, w0)
        grid = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)
        return torch.cat((pos[:, :1], grid), dim=1).to(self.pos_embed.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        t = self.patch_embed(x)
        t = torch.cat((self.cls_token.expand(t.shape[0], -1, -1), t), dim=1)
        t = t + self.interpolate_pos_encoding(h, w)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)[:, 0]


class DINOv2Extractor(nn.Module):
    """DINOv2 as a ganeval feature extractor (see `ganeval.dinov2`): uint8 images in, features out.

    ``preprocess`` is dgm-eval's (PIL bicubic 224x224, ImageNet mean/std); ``forward`` runs it
    and returns the final-norm class token in float32 (TF32 off on CUDA).
    """

    def __init__(self, vit: DinoVisionTransformer, weights_sha256: str = "", input_size: int = INPUT_SIZE):
        super().__init__()
        self.vit = vit
        self.name = f"dinov2-{vit.config.name}"
        self.dim = vit.config.dim
        self.input_size = input_size
        self.weights_sha256 = weights_sha256
        self.eval()

    @property
    def extractor_id(self) -> str:
        """Everything about the network that changes the features (for results and cache keys)."""
        return f"{self.name} d{self.vit.config.depth} h{self.vit.config.heads} grid{self.vit.pos_grid} " \
               f"{PREPROCESS_ID.replace('224', str(self.input_size))} cls-final-norm fp32"

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return preprocess(images, self.input_size)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with exact_matmul(images.device):
            return self.vit(self.preprocess(images)).float()


def grid_of(num_pos: int) -> int:
    """The position grid side M of a ``pos_embed`` with ``num_pos`` = 1 + M*M rows (0 if not square)."""
    m = math.isqrt(max(num_pos - 1, 0))
    return m if m * m == num_pos - 1 and m > 0 else 0
