import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]

# Two cores: keep torch from oversubscribing them when pytest runs beside other work.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def crops():
    """The shared reference fixture: two uint8 NCHW sets of 256 64x64 crops."""
    d = np.load(DATA / "crops64.npz")
    return d["a"], d["b"]


@pytest.fixture(scope="session")
def reference():
    return json.loads((DATA / "crops64-reference.json").read_text())


def write_pngs(images: np.ndarray, folder: Path, prefix: str = "") -> Path:
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(folder / f"{prefix}{i:04d}.png")
    return folder


class TinyInception(torch.nn.Module):
    """A deterministic stand-in for the Inception network with logits, so every Inception
    metric (IS included) runs in milliseconds; the metric plumbing, not the network, is what
    tests using it check."""

    has_logits = True

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = torch.randn(3 * 8 * 8, 2048, generator=g) / 8
        self.fc = torch.randn(2048, 1008, generator=g) / 45

    def forward(self, x, with_logits=False, protocol="tf1"):  # the protocol's resize is not the point here
        small = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 8).flatten(1)
        pool = torch.relu(small @ self.proj)
        return pool, (pool @ self.fc if with_logits else None)


def tiny_weights_info():
    from ganeval.inception.weights import WeightsInfo
    return WeightsInfo("tiny", "test", "0" * 64, True, "test")


@pytest.fixture
def tiny_inception(monkeypatch):
    """Patch `TinyInception` in as the network every Inception metric loads."""
    import ganeval.inception.features
    model, info = TinyInception(), tiny_weights_info()
    monkeypatch.setattr(ganeval.inception.features, "inception",
                        lambda weights=None, device=None, allow_pickle=False: (model, info))
    return model


def write_random_vgg16(path, seed: int = 0) -> str:
    """A seeded random VGG16 in torchvision's layout (the backbone LPIPS loads), saved to `path`."""
    import math

    from ganeval.lpips.network import VGG16_CONV
    g = torch.Generator().manual_seed(seed)
    vgg = {}
    for i, cin, cout in VGG16_CONV:
        vgg[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (cout * 9))
        vgg[f"features.{i}.bias"] = torch.zeros(cout)
    torch.save(vgg, path)
    return str(path)
