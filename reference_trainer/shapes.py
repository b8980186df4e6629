"""The built-in `shapes` data set: anti-aliased shapes on smooth backgrounds, and its mode check.

A small ProGAN learns this set on a CPU in minutes, and a person tells a good sample from a bad
one at a glance: one disc, square, triangle or ring, in one of four saturated colours, at a
random position and size, on a two-colour gradient of low-saturation greys.  Its discrete
factors (shape x colour = 16 modes) are known, so `classify` can say which mode a generated
image shows without a trained classifier, and `mode_coverage` how many modes a generator
covers.

Decision: one shape per image.  A count factor would multiply the modes and make the
classifier-free check ambiguous where shapes touch, for no gain in what the check can show.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

SHAPES = ("disc", "square", "triangle", "ring")
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (240, 200, 40)}
NUM_MODES = len(SHAPES) * len(COLOURS)
SUPERSAMPLE = 4          # coverage of each pixel from a 4x4 grid: the edges are anti-aliased
RING_INNER = 0.55        # inner radius of a ring, as a fraction of its outer radius
SQUARE_HALF = math.sqrt(math.pi) / 2   # a square of the disc's area, for equal visual weight
TRIANGLE_R = 1.25        # circumradius of the triangle, in units of the shape's size
CHROMA_MIN = 70          # max-min channel spread above which a pixel belongs to a shape
_PALETTE = np.array(list(COLOURS.values()), np.float64)


def _coverage(kind: np.ndarray, cx: np.ndarray, cy: np.ndarray, r: np.ndarray, res: int) -> np.ndarray:
    """(N, res, res) fraction of each pixel inside each image's shape (4x4 supersampled)."""
    s = res * SUPERSAMPLE
    t = (np.arange(s) + 0.5) / s                          # sample positions in [0, 1]
    dx = t[None, None, :] - cx[:, None, None]
    dy = t[None, :, None] - cy[:, None, None]              # y grows downwards, as in an image
    rr = r[:, None, None]
    dist2 = dx * dx + dy * dy
    k = kind[:, None, None]
    tri_r = TRIANGLE_R * rr                                # upright equilateral triangle
    inside = np.where(k == 0, dist2 <= rr * rr, False)
    inside |= (k == 1) & (np.abs(dx) <= SQUARE_HALF * rr) & (np.abs(dy) <= SQUARE_HALF * rr)
    inside |= ((k == 2) & (dy <= tri_r / 2) & (0.8660254 * dx - 0.5 * dy <= tri_r / 2)
               & (-0.8660254 * dx - 0.5 * dy <= tri_r / 2))
    inside |= (k == 3) & (dist2 <= rr * rr) & (dist2 >= (RING_INNER * rr) ** 2)
    return inside.reshape(len(kind), res, SUPERSAMPLE, res, SUPERSAMPLE).mean(axis=(2, 4))


def shapes_images(num: int, resolution: int = 32, seed: int = 0, *,
                  with_factors: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """`num` seeded shape images as uint8 NCHW at `resolution` (and their factors if asked).

    Each image holds one shape (`SHAPES`) in one colour (`COLOURS`), centred uniformly in the
    middle 40% of the image, of size 0.18-0.30 of the side, over a linear gradient between
    two tinted greys in a random direction.  The factors are `shape` and `colour` indices
    (the mode is ``shape * 4 + colour``).  The same (num, resolution, seed) always gives the
    same images, and a resolution's images are the same scenes as another's.
    """
    rng = np.random.default_rng([seed, 0x5A4E])
    kind = rng.integers(len(SHAPES), size=num)
    colour = rng.integers(len(COLOURS), size=num)
    cx, cy = rng.uniform(0.3, 0.7, num), rng.uniform(0.3, 0.7, num)
    r = rng.uniform(0.18, 0.30, num)
    grey = rng.uniform(40, 215, (num, 2, 1)) + rng.uniform(-15, 15, (num, 2, 3))   # (N, end, RGB)
    angle = rng.uniform(0, 2 * math.pi, num)
    out = np.empty((num, 3, resolution, resolution), np.uint8)
    t = (np.arange(resolution) + 0.5) / resolution - 0.5
    for a in range(0, num, 256):                           # bounded memory: 256 images at a time
        b = slice(a, min(a + 256, num))
        proj = (np.cos(angle[b])[:, None, None] * t[None, None, :]
                + np.sin(angle[b])[:, None, None] * t[None, :, None]) / math.sqrt(2) + 0.5   # in [0, 1]
        bg = grey[b, 0, None, None, :] * (1 - proj[..., None]) + grey[b, 1, None, None, :] * proj[..., None]
        cov = _coverage(kind[b], cx[b], cy[b], r[b], resolution)[..., None]
        img = bg * (1 - cov) + _PALETTE[colour[b]][:, None, None, :] * cov
        out[b] = np.clip(np.rint(img), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2)
    if with_factors:
        return out, {"shape": kind, "colour": colour}
    return out


def classify(images: np.ndarray) -> np.ndarray:
    """The mode (``shape * 4 + colour``) each uint8 NCHW image shows, or -1 for none.

    Classifier-free: pixels whose channel spread exceeds `CHROMA_MIN` are shape pixels (the
    backgrounds are near-grey); their majority nearest palette colour is the colour, which
    must hold 80% of them, cover 2-40% of the image, and leave a background of which 90% is
    near-grey (spread under `CHROMA_MIN` / 2).  The shape comes from that colour's mask: a
    hole at the centre of its bounding box is a ring, and otherwise the fill of the bounding
    box tells square (> 0.86), disc (> 0.64) and triangle.  Anything else (no shape, two
    colours, a coloured wash, a mask that fills its box as no shape does) is -1.
    """
    x = np.asarray(images).astype(np.float64).transpose(0, 2, 3, 1)        # NHWC
    n, h, w, _ = x.shape
    chroma = x.max(axis=3) - x.min(axis=3)
    nearest = ((x[..., None, :] - _PALETTE) ** 2).sum(axis=4).argmin(axis=3)
    out = np.full(n, -1, np.int64)
    for i in range(n):
        shape_px = chroma[i] > CHROMA_MIN
        count = int(shape_px.sum())
        grey = chroma[i][~shape_px] < CHROMA_MIN / 2
        if not 0.02 * h * w <= count <= 0.4 * h * w or grey.mean() < 0.9:
            continue
        votes = np.bincount(nearest[i][shape_px], minlength=len(COLOURS))
        c = int(votes.argmax())
        if votes[c] < 0.8 * count:
            continue
        mask = shape_px & (nearest[i] == c)
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        fill = len(ys) / ((y1 - y0 + 1) * (x1 - x0 + 1))
        my, mx = (y0 + y1) / 2, (x0 + x1) / 2
        centre = mask[int(math.floor(my)):int(math.ceil(my)) + 1, int(math.floor(mx)):int(math.ceil(mx)) + 1]
        if centre.mean() < 0.5 and fill < 0.86:
            s = 3                                                            # ring: hollow centre
        elif fill > 0.86:
            s = 1
        elif fill > 0.64:
            s = 0
        elif fill > 0.35:
            s = 2
        else:
            continue
        out[i] = s * len(COLOURS) + c
    return out


def mode_coverage(images: np.ndarray, min_share: float = 0.25) -> dict[str, Any]:
    """How many of the `NUM_MODES` modes `images` cover, by `classify`.

    A mode is covered when it holds at least `min_share` of its fair share (1/16) of the
    recognised images, so a mode seen once by chance in a thousand images does not count.
    Returns the counts per mode, the recognised fraction and the number of modes covered.
    """
    modes = classify(images)
    known = modes[modes >= 0]
    counts = np.bincount(known, minlength=NUM_MODES)
    fair = len(known) / NUM_MODES
    covered = int((counts >= max(min_share * fair, 1)).sum()) if len(known) else 0
    names = [f"{c}-{s}" for s in SHAPES for c in COLOURS]
    return dict(num_images=int(len(modes)), recognised=float(len(known) / max(len(modes), 1)),
                modes_covered=covered, num_modes=NUM_MODES, min_share=min_share,
                counts={name: int(k) for name, k in zip(names, counts)})
