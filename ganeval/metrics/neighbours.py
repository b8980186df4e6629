"""Nearest training images of generated ones: the memorization check of GAN papers.

For each of `num_fake` generated images, `neighbours` finds its `num_neighbours` nearest real
images by L2 distance in a feature extractor's space (Inception pool3, DINOv2, CLIP: any
registered extractor) and in pixel space (the uint8 RGB values as floats, at the generated
images' resolution), and `NeighboursResult.save_figure` draws them as a grid: one row per
generated image, its feature-space neighbours, then its pixel-space ones.  A generator that
copies its training set shows a neighbour at (nearly) distance 0.

The reals stream through once per space and only the best `num_neighbours` per generated
image are kept (distances, indices and their images), so 50,000 reals need no N x k x pixels
array; their features come from `extract_features` and so from the statistics cache that
``ganeval fid`` and the others fill.  Distances are exact differences (`torch.cdist` without
its matrix-product shortcut), so an exact copy is at distance 0, and ties go to the lower
real index.  This is not a scalar metric and is not in the metric registry.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import torch

from ..device import resolve_device
from ..errors import DataError, UsageError
from .. import extractors as _extractors  # noqa: F401  (registers the built-in extractors)
from ..features.extract import extract_features
from ..features.extractor import Extractor
from ..features.registry import extractor_names, load_extractor
from ..features.stats import is_stats_file
from ..inception.names import DEFAULT as DEFAULT_PROTOCOL
from ..io.inputs import input_record
from ..io.sources import FileSource, ImageSource, TensorSource, open_source
from ..options import check_count_arg
from ..progress import progress
from ..results import provenance

__all__ = ["Neighbour", "FakeNeighbours", "NeighboursResult", "neighbours", "merge_nearest", "space_names",
           "PIXELS"]

PIXELS = "pixels"
# Real feature rows moved to the device at a time (x 2048 floats: 32 MiB).
_ROWS_PER_BLOCK = 4096


def space_names() -> list[str]:
    """What ``features=`` accepts: every registered extractor, and ``pixels`` (pixel space only)."""
    return sorted(extractor_names()) + [PIXELS]


@dataclasses.dataclass(frozen=True)
class Neighbour:
    """One real image near a generated one: its index in the real set, its name (file name
    relative to the folder or zip, or ``index N`` for arrays) and the L2 distance."""

    index: int
    name: str
    distance: float


@dataclasses.dataclass
class FakeNeighbours:
    """One generated image (index and name in its set) and its nearest reals, nearest first:
    in feature space (empty with ``features="pixels"``) and in pixel space."""

    index: int
    name: str
    features: list[Neighbour]
    pixels: list[Neighbour]


@dataclasses.dataclass
class NeighboursResult:
    """What `neighbours` found: one `FakeNeighbours` per generated image, the space (extractor
    name or ``pixels``), counts, settings (everything that changes the answer, weights sha256
    included) and provenance.  `tiles` holds the images the figure shows (not serialised)."""

    space: str
    fakes: list[FakeNeighbours]
    num_images: dict[str, int]
    settings: dict[str, Any]
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    tiles: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "neighbours", "space": self.space, "distance": "L2", "num_images": dict(self.num_images),
                "settings": self.settings, "generated": [dataclasses.asdict(f) for f in self.fakes],
                "provenance": self.provenance}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save_figure(self, path: Any, labels: bool = True) -> None:
        """Write the grid as a PNG at `path`, atomically (`ganeval.metrics.neighbours_figure`)."""
        from .neighbours_figure import save_figure
        save_figure(self, path, labels=labels)


def merge_nearest(best: tuple[torch.Tensor, torch.Tensor] | None, dist: torch.Tensor, start: int,
                  n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `n` smallest of the running best (distances, real indices), each (k, <=n), and a new
    block `dist` (k, B) of reals ``start .. start+B-1``; ties go to the lower index.

    The running best holds only indices below `start`, sorted by (distance, index), so a stable
    sort of the two side by side keeps that order."""
    idx = torch.arange(start, start + dist.shape[1], device=dist.device).expand(dist.shape[0], -1)
    if best is not None:
        dist, idx = torch.cat([best[0], dist], 1), torch.cat([best[1], idx], 1)
    order = torch.sort(dist, dim=1, stable=True).indices[:, :n]
    return dist.gather(1, order), idx.gather(1, order)


def _l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Differences, not |a|^2 + |b|^2 - 2ab: an exact copy must come out at 0, not at rounding noise.
    return torch.cdist(a[None], b[None], compute_mode="donot_use_mm_for_euclid_dist")[0]


def _finite(x: torch.Tensor, what: str) -> torch.Tensor:
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{what}: features hold NaN or inf; check the extractor's weights and the images")
    return x


def _open_real(real: Any, kw: dict[str, Any]) -> ImageSource:
    src = open_source(real, **kw)
    if not isinstance(src, (FileSource, TensorSource)):
        raise UsageError(f"{getattr(src, 'name', 'REAL')}: the real set must be a folder, zip or array (it is read "
                         "once per space, and its images are named in the result); save the images first")
    return src


def neighbours(real: Any, fake: Any, *, features: str = "inception", model: str | None = None,
               weights: str | None = None, protocol: str = DEFAULT_PROTOCOL, num_fake: int = 8,
               num_neighbours: int = 5, num_real: int | None = None, subset: str = "first", seed: int = 0,
               device: Any = None, batch_size: int = 64, workers: int | None = None, recursive: bool = False,
               resize: int | None = None, input_range: tuple[float, float] | None = None, cache: bool = True,
               content_hash: bool = False, allow_download: bool = False, quiet: bool = True) -> NeighboursResult:
    """The `num_neighbours` nearest reals of `num_fake` generated images, in the space of
    extractor `features` (``inception``, ``dinov2``, ``clip`` when installed; `model`,
    `weights`, `protocol` (Inception) and `allow_download` pick its network) and in pixel
    space; ``features="pixels"`` skips the feature space.

    `real` is a folder, zip or array of the training images (`num_real`: the first N, or a
    random N with ``subset="random"``); `fake` is any image source, of which the first
    `num_fake` (or a seeded random `num_fake`, ``subset="random"``) are looked up.  Both sets
    must have one resolution, or `resize` both to R x R.  See the module docstring.
    """
    if features not in space_names():
        raise UsageError(f"features: unknown space {features!r}; choose from {', '.join(space_names())}")
    num_fake = check_count_arg(num_fake, "num_fake")
    num_neighbours = check_count_arg(num_neighbours, "num_neighbours")
    for what, x in (("REAL", real), ("FAKE", fake)):
        if is_stats_file(x):
            raise UsageError(f"{what} {x}: is a statistics file; nearest neighbours need the images themselves")
    dev = resolve_device(device)
    kw = dict(subset=subset, seed=seed, recursive=recursive, resize=resize, input_range=input_range)
    fake_src = open_source(fake, num_images=num_fake, **kw)
    fakes = fake_src.array(dev)[:num_fake]
    real_kw = dict(num_images=num_real, **kw)
    real_src = _open_real(real, real_kw)
    if tuple(real_src.resolution or ()) != tuple(fakes.shape[2:]):
        (h, w), (fh, fw) = real_src.resolution, fakes.shape[2:]
        raise DataError(f"{real_src.name} holds {w}x{h} images but {fake_src.name} {fw}x{fh}; pixel distances need "
                        "one size: pass --resize R (resize=R) to bring both sets to R x R")
    n = min(num_neighbours, len(real_src))
    settings: dict[str, Any] = {"features": features, "num_neighbours": n, "subset": subset, "seed": seed,
                                "image_resize": resize, "pixel_distance": f"L2 of uint8 RGB values at "
                                f"{fakes.shape[3]}x{fakes.shape[2]}", "feature_distance": None}
    feat_best = None
    if features != PIXELS:
        net = _extractor(features, model, weights, dev, protocol, allow_download)
        settings.update(feature_distance="L2 of feature vectors", extractor=net.id, **net.settings)
        stats = extract_features(net, real, features=True, batch_size=batch_size, device=dev, workers=workers,
                                 cache=cache, content_hash=content_hash, quiet=quiet, **real_kw)
        rows = stats.all_features()
        if rows.shape[0] != len(real_src):  # the set changed between the two openings
            raise DataError(f"{real_src.name}: read {rows.shape[0]} feature rows for {len(real_src)} images; "
                            "was the folder changed while ganeval ran?")
        with torch.no_grad():
            q = _finite(torch.cat([net.forward(b, False)[0].float() for b in fakes.split(batch_size)]), "FAKE")
            for s in range(0, rows.shape[0], _ROWS_PER_BLOCK):
                block = _finite(rows[s:s + _ROWS_PER_BLOCK].to(dev, torch.float32), "REAL")
                feat_best = merge_nearest(feat_best, _l2(q, block), s, n)
    pix_best, images = _pixel_pass(real_src, fakes, n, feat_best, batch_size, dev, workers, quiet)

    def listed(best: tuple[torch.Tensor, torch.Tensor] | None, i: int) -> list[Neighbour]:
        if best is None:
            return []
        return [Neighbour(int(j), real_src.image_name(int(j)), float(d)) for d, j in zip(best[0][i].tolist(),
                                                                                          best[1][i].tolist())]

    found = [FakeNeighbours(i, fake_src.image_name(i), listed(feat_best, i), listed(pix_best, i))
             for i in range(fakes.shape[0])]
    tiles = {"fakes": fakes.cpu(), "pixels": torch.stack([images[int(j)] for j in pix_best[1].flatten().tolist()])}
    if feat_best is not None:
        tiles["features"] = torch.stack([images[int(j)] for j in feat_best[1].flatten().tolist()])
    inputs = {"real": input_record(real, real_src, None, content_hash), "fake": input_record(fake, fake_src)}
    return NeighboursResult(features, found, {"real": len(real_src), "fake": fakes.shape[0]}, settings,
                            provenance(inputs, dev), tiles)


def _extractor(name: str, model: str | None, weights: str | None, dev: torch.device, protocol: str,
               allow_download: bool) -> Extractor:
    if name == "inception":  # the registry's loader takes no protocol
        from ..inception.features import extractor
        return extractor(weights, dev, protocol)
    return load_extractor(name, model, weights, dev, allow_download)


def _pixel_pass(src: ImageSource, fakes: torch.Tensor, n: int, feat_best: tuple[torch.Tensor, torch.Tensor] | None,
                batch_size: int, dev: torch.device, workers: int | None,
                quiet: bool) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[int, torch.Tensor]]:
    """One pass over the reals: the running pixel-space best, and the images of every real the
    figure shows (the feature-space neighbours, known before, and the pixel-space ones, kept
    while they are among the best), on the CPU."""
    q = fakes.flatten(1).float()
    wanted = set(feat_best[1].flatten().tolist()) if feat_best is not None else set()
    best, kept = None, {}
    for start, batch in progress(src.shard(batch_size, dev, workers), total=len(src), desc="pixels", quiet=quiet):
        best = merge_nearest(best, _l2(q, batch.flatten(1).float()), start, n)
        keep = wanted | set(best[1].flatten().tolist())
        for j in keep:
            if start <= j < start + batch.shape[0] and j not in kept:
                kept[j] = batch[j - start].cpu()
        kept = {j: x for j, x in kept.items() if j in keep}
    if best is None:
        raise DataError(f"{src.name}: no images could be read")
    return best, kept
