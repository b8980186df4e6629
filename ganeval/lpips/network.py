"""The LPIPS-VGG16 network: VGG16 features to five taps, unit-normalised, weighted, averaged.

For two batches of images in [-1, 1] (NCHW, RGB), `LPIPS` returns one distance per pair:
the inputs go through LPIPS' scaling layer (shift -0.030/-0.088/-0.188, scale
0.458/0.448/0.450), an optional resize to R x R, then torchvision VGG16's convolutions; at each
tap the features are divided by their channel norm (+1e-10, as the ``lpips`` package and
torch-fidelity do), squared differences are weighted per channel by the 1x1 linear layer, and
the spatial means of the five layers are summed.  Module indices follow torchvision's
``vgg16().features`` so its state dict loads key for key.

``scaling="torch-fidelity"`` takes images in [0, 255] instead and applies the same scaling
folded into one affine map the way torch-fidelity writes it (``(x - (1 + shift) * 255 / 2) *
(2 / (scale * 255))``).  It is the same function; the float32 roundings differ, and with PPL's
1e-4 steps that moves single distances by up to ~5e-4 relative, so each protocol keeps its
peer's arithmetic.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LPIPS", "VGG16_CONV", "TAPS", "CHANNELS", "SCALINGS", "INPUT_RANGE", "resize_like_lpips"]

# torchvision's vgg16 "D" configuration: (index in `features`, in, out) of each 3x3 conv; a
# ReLU follows every conv and max-pools sit at 4, 9, 16, 23.
VGG16_CONV = ((0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
              (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512))
POOLS = (4, 9, 16, 23)
TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
CHANNELS = (64, 128, 256, 512, 512)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
SCALINGS = ("lpips", "torch-fidelity")
INPUT_RANGE = {"lpips": (-1.0, 1.0), "torch-fidelity": (0.0, 255.0)}  # what each scaling takes


def resize_like_lpips(x: torch.Tensor, size: int) -> torch.Tensor:
    """The peers' LPIPS resize (torch-fidelity, torchmetrics): area averaging when both sides
    exceed `size`, else bilinear (half-pixel centres); applied after the scaling layer."""
    if x.shape[-1] > size and x.shape[-2] > size:
        return F.interpolate(x, (size, size), mode="area")
    return F.interpolate(x, (size, size), mode="bilinear", align_corners=False)


class LPIPS(nn.Module):
    """LPIPS-VGG16 v0.1 distance; ``forward(x0, x1)`` -> (N,) float32, inputs in [-1, 1]
    (``scaling="lpips"``) or 0..255 (``scaling="torch-fidelity"``).

    `resize` (None: keep the size) resizes after the scaling layer with `resize_like_lpips`.
    `weights_sha256` names the two files the parameters came from (set by the loader).
    """

    def __init__(self, resize: int | None = None, scaling: str = "lpips") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        convs = {i: (cin, cout) for i, cin, cout in VGG16_CONV}
        for i in range(TAPS[-1] + 1):
            if i in convs:
                layers.append(nn.Conv2d(*convs[i], kernel_size=3, padding=1))
            elif i in POOLS:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.ReLU())
        self.features = nn.Sequential(*layers)
        for k, c in enumerate(CHANNELS):
            self.register_parameter(f"lin{k}", nn.Parameter(torch.zeros(1, c, 1, 1)))
        if scaling not in SCALINGS:
            raise ValueError(f"scaling {scaling!r}: choose from {', '.join(SCALINGS)}")
        shift, scale = torch.tensor(SHIFT)[None, :, None, None], torch.tensor(SCALE)[None, :, None, None]
        if scaling == "torch-fidelity":
            shift, scale = (1 + shift) * 255 / 2, 2 / (scale * 255)  # an offset and a factor on 0..255
        self.register_buffer("shift", shift, persistent=False)
        self.register_buffer("scale", scale, persistent=False)
        self.resize, self.scaling = resize, scaling
        self.weights_sha256: dict[str, str] = {}
        self.requires_grad_(False)
        self.eval()

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five tap activations of images already scaled (and resized)."""
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x)
        return out

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Images ([-1, 1]; 0..255 under torch-fidelity's scaling) -> VGG input: the scaling
        layer, then the optional resize."""
        if self.scaling == "torch-fidelity":
            x = (x.float() - self.shift) * self.scale
        else:
            x = (x.float() - self.shift) / self.scale
        return resize_like_lpips(x, self.resize) if self.resize else x

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        # Each side through the network on its own, as the lpips package and both peers do.
        f0, f1 = self.taps(self.prepare(x0)), self.taps(self.prepare(x1))
        total: torch.Tensor | int = 0
        for k, (a, b) in enumerate(zip(f0, f1)):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
            total = total + F.conv2d((a - b) ** 2, getattr(self, f"lin{k}")).mean(dim=(2, 3))
        return total[:, 0]
