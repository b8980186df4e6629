"""The nearest-neighbour figure: one row per generated image, then its nearest reals.

Each row shows the generated image, a gap, its nearest reals in feature space (nearest first),
a wider gap, and its nearest reals in pixel space; the blocks are `ganeval.io.runfiles`'
grids.  With `labels`, a band above names the blocks and a band under each row gives every
neighbour's distance, in PIL's built-in font (no font file is read); images narrower than 48
pixels are enlarged (nearest) so that it fits, text that still does not fit its tile is left
out, and the JSON (`NeighboursResult.to_dict`) has every number anyway.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..io.runfiles import grid_array, write_png

__all__ = ["save_figure", "figure_array"]

_GAP_COLOUR = 255  # white between blocks: the images' own black padding stays distinguishable
_LABEL_WIDTH = 48  # pixels a tile needs for a distance in the default font


def _fmt(d: float) -> str:
    return f"{d:.0f}" if d >= 1000 else f"{d:.3g}"


def figure_array(result: Any, labels: bool = True) -> np.ndarray:
    """The figure of a `NeighboursResult` as an HxWx3 uint8 array."""
    fakes = result.tiles["fakes"]
    k, _, h, w = fakes.shape
    n = result.settings["num_neighbours"]
    gap = max(2, w // 8)
    blocks = [grid_array(fakes, columns=1)]
    titles = [("fake", 1)]
    for key, title in (("features", f"nearest: {result.space}"), ("pixels", "nearest: pixels")):
        if key in result.tiles:
            blocks.append(grid_array(result.tiles[key], columns=n))
            titles.append((title, n))
    parts, x0s, x = [], [], 0
    for i, b in enumerate(blocks):
        if i:
            width = gap if i == 1 else 2 * gap
            parts.append(np.full((b.shape[0], width, 3), _GAP_COLOUR, np.uint8))
            x += width
        parts.append(b)
        x0s.append(x)
        x += b.shape[1]
    body = np.concatenate(parts, axis=1)
    if not labels:
        return body
    s = -(-_LABEL_WIDTH // w)  # small images are enlarged (nearest) so that a distance fits under each
    if s > 1:
        body, x0s, h, w = body.repeat(s, 0).repeat(s, 1), [x * s for x in x0s], h * s, w * s
    try:
        return _labelled(result, body, x0s, titles, h, w)
    except (OSError, ImportError):  # no usable default font: the figure without text
        return body


def _labelled(result: Any, body: np.ndarray, x0s: list[int], titles: list[tuple[str, int]], h: int,
              w: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = probe.textbbox((0, 0), "0.123e+04 Ag", font=font)[3] + 3
    k = len(result.fakes)
    out = Image.new("RGB", (body.shape[1], line + k * (h + line)), (255, 255, 255))
    draw = ImageDraw.Draw(out)

    def put(text: str, x: int, y: int, width: int) -> None:
        if draw.textlength(text, font=font) <= width:  # text that does not fit is left out
            draw.text((x + 1, y + 1), text, fill=(0, 0, 0), font=font)

    for (title, cols), x0 in zip(titles, x0s):
        put(title, x0, 0, cols * w)
    for r, f in enumerate(result.fakes):
        y = line + r * (h + line)
        out.paste(Image.fromarray(np.ascontiguousarray(body[r * h:(r + 1) * h])), (0, y))
        for (x0, found) in zip(x0s[1:], [f.features, f.pixels] if f.features else [f.pixels]):
            for c, nb in enumerate(found):
                put(_fmt(nb.distance), x0 + c * w, y + h, w)
    return np.asarray(out)


def save_figure(result: Any, path: Any, labels: bool = True) -> None:
    """Write the figure of `result` as a PNG at `path`, atomically."""
    write_png(figure_array(result, labels), path)
