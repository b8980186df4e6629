"""The files of a run folder that training code writes and `ganeval report` reads.

A run folder holds ``metrics.jsonl`` (`ganeval.hooks.Evaluator`), and by these names:
``reals.png`` (a grid of the real images, written by the Evaluator at its first call),
``fakes*.png`` (sample grids; the report shows the last in name order, so names carry a
zero-padded kimg: the reference trainer's ``fakes000030.png``, the Evaluator's
``fakes000030.000.png``), ``real-baselines.json`` (the real set measured against itself, once)
and ``final-metrics*.json`` (``ganeval all -o`` results, also looked for in the parent folder).
`save_grid` writes a uint8 batch as the squarest grid (``ceil(sqrt(n))`` columns; a last row
that is not full is padded with black).  torch is imported only by `save_grid`, so the report
reads these names without it.
"""
from __future__ import annotations

import math
import os
from typing import Any

from .fileio import atomic_write

__all__ = ["REALS_GRID", "FAKES_GLOB", "BASELINES_FILE", "FINAL_GLOB", "grid_shape", "save_grid"]

REALS_GRID = "reals.png"
FAKES_GLOB = "fakes*.png"
BASELINES_FILE = "real-baselines.json"
FINAL_GLOB = "final-metrics*.json"


def grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) of the squarest grid that holds `n` images (n ≥ 1)."""
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def save_grid(images: Any, path: str | os.PathLike) -> None:
    """Save uint8 NCHW `images` (1 or 3 channels) as a PNG grid at `path`, atomically.

    Images are laid out row by row in their order, `grid_shape(len(images))` of them; the file
    is replaced only once it is complete (`fileio.atomic_write`), so a report never copies a
    half-written grid.
    """
    import torch
    from PIL import Image
    x = images.detach().to("cpu")
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"save_grid takes a non-empty uint8 NCHW batch, got {x.dtype} of shape {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # grey -> RGB, so every grid is one PNG mode
    n, c, h, w = x.shape
    cols, rows = grid_shape(n)
    if cols * rows > n:
        x = torch.cat([x, x.new_zeros(cols * rows - n, c, h, w)])
    x = x.reshape(rows, cols, c, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, cols * w, c)
    with atomic_write(path, "wb") as f:
        Image.fromarray(x.contiguous().numpy()).save(f, format="PNG")
