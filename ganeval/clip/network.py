"""A compact CLIP image encoder (ViT) whose parameter names are those of OpenAI's checkpoints.

It follows the vision half of ``openai/CLIP`` (``clip/model.py``, ``VisionTransformer``) as
torch-fidelity 0.4 rebuilds it from a checkpoint: a bias-free patch convolution ``conv1``, a
``class_embedding`` row, learned ``positional_embedding`` for the checkpoint's fixed grid,
``ln_pre``, pre-norm residual blocks (``ln_1``, multi-head attention with a fused
``in_proj_weight``/``in_proj_bias`` and ``out_proj``, ``ln_2``, an MLP ``c_fc`` -> QuickGELU ->
``c_proj``), ``ln_post`` on the class token and the projection ``proj``.  LayerNorms use
eps 1e-5 and heads are width / 64, as in OpenAI's ``build_model``.  The output is the projected
image embedding, not normalised (CMMD normalises it, FD_CLIP does not).
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import exact_matmul
from .preprocess import PREPROCESSING


@dataclasses.dataclass(frozen=True)
class CLIPConfig:
    """One CLIP ViT image encoder: input side, patch, width, depth and embedding width."""

    name: str
    resolution: int
    patch: int
    width: int
    layers: int
    embed_dim: int

    @property
    def heads(self) -> int:
        # OpenAI's rule (64-wide heads); encoders narrower than one head (tests only) get one.
        return max(1, self.width // 64)

    @property
    def grid(self) -> int:
        return self.resolution // self.patch


ARCHS = {
    "vitb32": CLIPConfig("vitb32", 224, 32, 768, 12, 512),
    "vitl14": CLIPConfig("vitl14", 224, 14, 1024, 24, 768),
    "vitl14-336": CLIPConfig("vitl14-336", 336, 14, 1024, 24, 768),
}


class Attention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s parameter names."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return self.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)  # OpenAI's approximation, which the weights were trained with


class Mlp(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.gelu = QuickGELU()
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = Attention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = Mlp(width)
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.resblocks = nn.Sequential(*(ResidualAttentionBlock(width, heads) for _ in range(layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """``forward(normalised float NCHW at the configured side) -> (N, embed_dim)`` embeddings."""

    def __init__(self, config: CLIPConfig):
        super().__init__()
        self.config = config
        w = config.width
        scale = w ** -0.5
        self.conv1 = nn.Conv2d(3, w, config.patch, stride=config.patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(scale * torch.randn(config.grid ** 2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, config.layers, config.heads)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(scale * torch.randn(w, config.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(t.dtype).expand(t.shape[0], 1, -1)
        t = self.ln_pre(torch.cat((cls, t), dim=1) + self.positional_embedding.to(t.dtype))
        t = self.transformer(t)
        return self.ln_post(t[:, 0]) @ self.proj


class CLIPExtractor(nn.Module):
    """The CLIP image encoder as a ganeval feature network: uint8 images in, embeddings out.

    `preprocess` is one of `ganeval.clip.preprocess.PREPROCESSING` (torch-fidelity's for
    FD_CLIP, the CMMD reference's for CMMD); ``forward`` runs it and the encoder in float32
    (TF32 off on CUDA) and returns the projected embeddings, not normalised.
    """

    def __init__(self, vit: VisionTransformer, weights_sha256: str = "", preprocessing: str = "torch-fidelity"):
        super().__init__()
        self.vit = vit
        self.name = f"clip-{vit.config.name}"
        self.dim = vit.config.embed_dim
        self.weights_sha256 = weights_sha256
        self.preprocessing = PREPROCESSING[preprocessing]
        self.eval()

    @property
    def extractor_id(self) -> str:
        """Everything about the network that changes the features (for results and cache keys)."""
        c = self.vit.config
        return (f"{self.name} w{c.width} l{c.layers} p{c.patch} r{c.resolution} e{c.embed_dim} "
                f"{self.preprocessing.id} fp16-rounded-linear projected fp32")

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return self.preprocessing.prepare(images, self.vit.config.resolution)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with exact_matmul(images.device):
            return self.vit(self.preprocess(images)).float()


def config_from_state(state: dict[str, torch.Tensor], name: str = "file") -> CLIPConfig | None:
    """The architecture a ``visual.*``-stripped OpenAI ViT state dict describes, inferred as
    OpenAI's ``build_model`` does (None when it is not a ViT image encoder)."""
    need = ("conv1.weight", "positional_embedding", "proj")
    if not all(k in state for k in need) or state["conv1.weight"].ndim != 4 or state["proj"].ndim != 2:
        return None
    width, patch = state["conv1.weight"].shape[0], state["conv1.weight"].shape[-1]
    grid = math.isqrt(max(state["positional_embedding"].shape[0] - 1, 0))
    layers = len([k for k in state if k.startswith("transformer.resblocks.") and k.endswith(".attn.in_proj_weight")])
    if grid * grid + 1 != state["positional_embedding"].shape[0] or grid == 0:
        return None
    return CLIPConfig(name, grid * patch, patch, width, layers, state["proj"].shape[1])
