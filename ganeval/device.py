"""Device selection shared by every metric."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch


def resolve_device(device: Any = None) -> torch.device:
    """The device to run on: the given one, else CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def exact_matmul(device: torch.device) -> Iterator[None]:
    """Full float32 matrix products and convolutions on CUDA for the duration, restoring the
    caller's settings afterwards (TF32 would cost parity digits)."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
