import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"

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
