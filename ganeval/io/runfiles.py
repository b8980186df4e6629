"""The files of a run folder that training code writes and `ganeval report` reads.

A run folder holds ``metrics.jsonl`` (`ganeval.hooks.Evaluator`), and by these names:
``reals.png`` (a grid of the real images, written by the Evaluator at its first call),
``fakes*.png`` (sample grids; the report shows the last in name order, so names carry a
zero-padded kimg: the reference trainer's ``fakes000030.png``, the Evaluator's
``fakes000030.000.png``), ``real-baselines.json`` (the real set measured against itself, once)
and ``final-metrics*.json`` (``ganeval all -o`` results, also looked for in the parent folder).
`save_grid` writes a uint8 batch as the squarest grid (``ceil(sqrt(n))`` columns; a last row
that is not full is padded with black) and records its layout in the PNG (a ``ganeval-grid``
text chunk: image count, columns, rows, tile height and width), so that `grid_tiles` can cut
the images back out (the report's nearest-neighbour figure does).  torch is imported only by
`save_grid`, so the report reads these names without it.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

from .fileio import atomic_write

__all__ = ["REALS_GRID", "FAKES_GLOB", "BASELINES_FILE", "FINAL_GLOB", "GRID_KEY", "grid_shape", "grid_array",
           "save_grid", "write_png", "grid_tiles"]

REALS_GRID = "reals.png"
FAKES_GLOB = "fakes*.png"
BASELINES_FILE = "real-baselines.json"
FINAL_GLOB = "final-metrics*.json"
GRID_KEY = "ganeval-grid"  # the PNG text chunk that records a grid's layout


def grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) of the squarest grid that holds `n` images (n ≥ 1)."""
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def grid_array(images: Any, columns: int | None = None) -> Any:
    """uint8 NCHW `images` (1 or 3 channels) laid out row by row as one HxWx3 numpy array:
    `columns` per row (default: `grid_shape`'s squarest), a last row that is not full padded
    with black."""
    import torch
    x = images.detach().to("cpu")
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"a grid takes a non-empty uint8 NCHW batch, got {x.dtype} of shape {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # grey -> RGB, so every grid is one PNG mode
    n, c, h, w = x.shape
    cols = grid_shape(n)[0] if columns is None else max(1, min(int(columns), n))
    rows = math.ceil(n / cols)
    if cols * rows > n:
        x = torch.cat([x, x.new_zeros(cols * rows - n, c, h, w)])
    return x.reshape(rows, cols, c, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, cols * w, c).contiguous().numpy()


def write_png(array: Any, path: str | os.PathLike, text: dict[str, str] | None = None) -> None:
    """Save an HxWx3 uint8 array as a PNG at `path`, atomically, with `text` chunks."""
    from PIL import Image, PngImagePlugin
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    with atomic_write(path, "wb") as f:
        Image.fromarray(array).save(f, format="PNG", pnginfo=info)


def save_grid(images: Any, path: str | os.PathLike) -> None:
    """Save uint8 NCHW `images` (1 or 3 channels) as a PNG grid at `path`, atomically.

    Images are laid out row by row in their order, `grid_shape(len(images))` of them; the file
    is replaced only once it is complete (`fileio.atomic_write`), so a report never copies a
    half-written grid.
    """
    n, _, h, w = images.shape if getattr(images, "ndim", 0) == 4 else (0, 0, 0, 0)
    array = grid_array(images)  # checks the batch
    cols, rows = grid_shape(n)
    layout = {"images": int(n), "columns": cols, "rows": rows, "height": int(h), "width": int(w)}
    write_png(array, path, {GRID_KEY: json.dumps(layout)})


def grid_tiles(data: bytes, tile: tuple[int, int] | None = None) -> Any:
    """The images of a PNG grid (its bytes, already checked to decode) as a uint8 NCHW numpy
    array, or None when its layout cannot be known.

    The layout is the grid's own record (`save_grid`'s ``ganeval-grid`` chunk); a grid without
    one (another writer's, such as the reference trainer's sample grids) is cut into tiles of
    `tile` (height, width) when given and it divides the image, and its trailing all-black
    tiles are taken for padding.  A record that does not fit the image is ignored: the file
    may be anyone's.
    """
    import io

    import numpy as np
    from PIL import Image
    with Image.open(io.BytesIO(data)) as im:
        raw = im.info.get(GRID_KEY)
        a = np.asarray(im.convert("RGB"))
    H, W = a.shape[:2]
    n = None
    try:
        rec = json.loads(raw) if isinstance(raw, str) and len(raw) < 1000 else None
        if isinstance(rec, dict):
            n, cols, rows, h, w = (rec.get(k) for k in ("images", "columns", "rows", "height", "width"))
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n, cols, rows, h, w)) \
                    or (cols * w, rows * h) != (W, H) or not (cols * rows - cols < n <= cols * rows):
                n = None
    except ValueError:
        n = None
    if n is None:
        if tile is None or tile[0] <= 0 or tile[1] <= 0 or H % tile[0] or W % tile[1]:
            return None
        (h, w), rows, cols = tile, H // tile[0], W // tile[1]
    x = a.reshape(rows, h, cols, w, 3).transpose(0, 2, 4, 1, 3).reshape(rows * cols, 3, h, w)
    if n is None:  # no record: trailing black tiles are the padding of a last row
        n = rows * cols
        while n > 1 and not x[n - 1].any():
            n -= 1
    return np.ascontiguousarray(x[:n])
