"""Seeded test images: smooth colour fields with texture, so that resize rules matter."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def image_set(n: int, h: int, w: int, seed: int, *, gray: bool = False) -> np.ndarray:
    """uint8 (n, 3, h, w) (channels equal when `gray`): low-frequency colour fields upsampled
    to (h, w) plus fine noise, with a per-set colour cast so two seeds differ in distribution."""
    g = torch.Generator().manual_seed(seed)
    c = 1 if gray else 3
    coarse = torch.rand(n, c, 4, 4, generator=g)
    base = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    cast = torch.rand(1, c, 1, 1, generator=g) * 0.4 - 0.2
    fine = torch.rand(n, c, h, w, generator=g) * 0.25
    x = ((base * 0.75 + fine + cast).clamp(0, 1) * 255).round().to(torch.uint8)
    return x.expand(n, 3, h, w).contiguous().numpy() if gray else x.numpy()


def write_folder(images: np.ndarray, folder: Path, *, gray: bool = False) -> Path:
    """PNG files 0000.png, ...; mode L for a gray set (every tool converts it to RGB)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        arr = img[0] if gray else np.ascontiguousarray(img.transpose(1, 2, 0))
        Image.fromarray(arr, mode="L" if gray else "RGB").save(folder / f"{i:04d}.png")
    return folder


def read_folder(folder: Path) -> torch.Tensor:
    """uint8 NCHW as a user of torchmetrics loads files: PIL ``convert('RGB')``, sorted names."""
    files = sorted(folder.glob("*.png"))
    return torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files])
