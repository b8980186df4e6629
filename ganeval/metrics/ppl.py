"""Perceptual Path Length (Karras et al. 2019, StyleGAN), in z: how much the image changes per
small step along a latent path, in LPIPS-VGG16 units.

For latent pairs (z0, z1) and t, PPL averages ``LPIPS(G(I(z0, z1, t)), G(I(z0, z1, t + eps))) /
eps**2`` after dropping distances outside the 1st..99th percentiles.  ProGAN has no mapping
network, so the path is in z (``space="z"``, the only space).  Three protocols fix the details
(`PROTOCOLS`; any of them can be changed one option at a time, and the settings record each):

* ``stylegan`` (default; NVlabs/stylegan ``metrics/perceptual_path_length.py``): StyleGAN's
  slerp (endpoints normalised, result normalised), t ~ U(0, 1) (``sampling="full"``; ``"end"``
  is t = 0), optional face crop (rows 3/8..7/8, columns 2/8..6/8), images larger than 256
  box-downsampled by the integer factor H // 256, no other resize; percentiles with numpy's
  ``lower`` (1st) and ``higher`` (99th) rules; the std over the kept distances with ddof 0;
* ``torch-fidelity`` (0.4.0 ``calculate_ppl``): lerp at t = 0 only (its only mode), LPIPS
  inputs resized to 64 (area when larger on both sides, else bilinear) after its own float32
  form of the LPIPS input scaling (on 0..255; see `ganeval.lpips.network`), the same
  percentile rules and ddof 0;
* ``torchmetrics`` (1.9.0 ``PerceptualPathLength``): as torch-fidelity, but both percentiles
  with ``torch.quantile(..., interpolation="lower")`` (so the upper cut can keep one distance
  fewer) and the std with ddof 1.

Latents follow torch-fidelity: ``numpy.random.RandomState(seed)`` draws z0 = randn(N, z_dim),
then z1 = randn(N, z_dim) (float64, cast to float32), then, for ``full``, t = rand(N); so a
seed gives torch-fidelity's latents for its ``rng_seed``.  The generator's output is used as
floats in its declared range (not clipped or quantised, as StyleGAN does) and mapped to
[-1, 1] for LPIPS.  Interpolation, LPIPS and distances run in float32, as in all three
originals: with eps = 1e-4 the latent step is a few float32 ulps of z, so the arithmetic follows
the peers' operation order (`lerp`, `slerp_any`) to stay within 1e-4 of their numbers.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Callable

import numpy as np
import torch

from ..device import exact_matmul, resolve_device
from ..dist import rank_world
from ..errors import DataError, UsageError
from ..io.generators import LatentGenerator, as_latent_generator, load_generator
from ..lpips.network import INPUT_RANGE
from ..options import check_count_arg
from ..progress import progress_bar
from ..results import MetricResult
from .base import StreamingMetric

__all__ = ["ppl", "PPL", "PROTOCOLS", "INTERPOLATIONS", "draw_latents", "lerp", "slerp", "slerp_any",
           "filter_distances", "path_distances", "DEFAULT_NUM_SAMPLES", "DEFAULT_EPSILON"]

DEFAULT_NUM_SAMPLES = 100_000  # the StyleGAN paper's
DEFAULT_EPSILON = 1e-4
_UNIT_EPS = 1e-7  # the peers' guard in slerp_any's normalisations


# -- latent paths --------------------------------------------------------------------------
def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``a + (b - a) * t`` (the peers' default and operation order)."""
    return a + (b - a) * t


def _unit(v: torch.Tensor, guard: float | None = None) -> torch.Tensor:
    n = v.pow(2).sum(dim=-1, keepdim=True).sqrt()
    return v / (n.clamp_min(guard) if guard is not None else n)


def slerp_any(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """torch-fidelity's and torchmetrics' ``slerp_any``: the angle between the unit directions,
    but the weights applied to the raw `a` and `b` (lerp where either is ~0 or they are ~collinear)."""
    au, bu = _unit(a, _UNIT_EPS), _unit(b, _UNIT_EPS)
    d = (au * bu).sum(dim=-1, keepdim=True)
    degenerate = ((au.norm(dim=-1, keepdim=True) < _UNIT_EPS) | (bu.norm(dim=-1, keepdim=True) < _UNIT_EPS)
                  | (d > 1 - _UNIT_EPS) | (d < -1 + _UNIT_EPS))
    omega = d.acos()
    denom = omega.sin().clamp_min(_UNIT_EPS)
    out = ((1 - t) * omega).sin() / denom * a + (t * omega).sin() / denom * b
    return torch.where(degenerate, lerp(a, b, t), out)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """StyleGAN's z-space slerp: along the great circle from a/|a| towards b/|b|, on the unit
    sphere (its result is normalised; the cosine is clamped to [-1, 1], where TF gave NaN)."""
    a, b = _unit(a), _unit(b)
    d = (a * b).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    p = t * d.acos()
    c = _unit(b - d * a)
    return _unit(a * p.cos() + c * p.sin())


INTERPOLATIONS: dict[str, Callable[..., torch.Tensor]] = {"slerp": slerp, "lerp": lerp, "slerp_any": slerp_any}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """The choices that tell PPL implementations apart (see the module docstring)."""

    interpolation: str
    sampling: str
    lpips_resize: int | str | None  # an int: the peers' resize; "box256": StyleGAN's; None: none
    quantiles: str  # "numpy-lower-higher" or "torch-lower-lower"
    std_ddof: int
    lpips_scaling: str  # arithmetic of LPIPS' input scaling (`ganeval.lpips.network.LPIPS`)


PROTOCOLS = {
    "stylegan": Protocol("slerp", "full", "box256", "numpy-lower-higher", 0, "lpips"),
    "torch-fidelity": Protocol("lerp", "end", 64, "numpy-lower-higher", 0, "torch-fidelity"),
    "torchmetrics": Protocol("lerp", "end", 64, "torch-lower-lower", 1, "lpips"),
}
SAMPLINGS = ("full", "end")


def draw_latents(num: int, z_dim: int, seed: int = 0, sampling: str = "full",
                 rows: int = 4096) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(z0, z1, t) as torch-fidelity draws them: ``RandomState(seed)``, z0 then z1 as
    ``randn(num, z_dim)`` cast to float32, then ``rand(num)`` for ``full`` (t is None for ``end``).

    Drawn `rows` rows at a time into float32 (numpy's legacy normal stream does not depend on
    how it is split), so 100,000 x 512 latents never exist in float64.
    """
    rng = np.random.RandomState(seed)

    def normal() -> torch.Tensor:
        out = torch.empty(num, z_dim, dtype=torch.float32)
        for s in range(0, num, rows):
            out[s:s + rows] = torch.from_numpy(rng.randn(min(rows, num - s), z_dim)).float()
        return out

    z0, z1 = normal(), normal()
    t = torch.from_numpy(rng.rand(num)).float()[:, None] if sampling == "full" else None
    return z0, z1, t


# -- images to LPIPS input ----------------------------------------------------------------
def to_lpips_range(x: torch.Tensor, input_range: tuple[float, float], name: str,
                   target: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Generator output (float, in `input_range`) as 3-channel float32 in `target`: [-1, 1], or
    0..255 for torch-fidelity's LPIPS scaling."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"{name}: PPL needs images (N, 3, H, W) or (N, 1, H, W), the generator gave "
                        f"{tuple(x.shape)}")
    x = x.float()
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{name}: the generator gave NaN or inf pixels")
    lo, hi = input_range
    if (lo, hi) == tuple(target):
        pass
    elif target == (0.0, 255.0):  # (x + 1) * (255 / 2) for [-1, 1], as StyleGAN writes it
        x = (x - lo) * (255 / (hi - lo))
    else:  # 2 * (x / 255) - 1 for (0, 255): torchmetrics' own order
        x = 2 * ((x - lo) / (hi - lo) if lo != 0 else x / hi) - 1
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def stylegan_crop(x: torch.Tensor) -> torch.Tensor:
    """StyleGAN's face crop: with c = H // 8, rows 3c..7c and columns 2c..6c."""
    c = x.shape[2] // 8
    return x[:, :, 3 * c:7 * c, 2 * c:6 * c]


def box_downsample_256(x: torch.Tensor) -> torch.Tensor:
    """StyleGAN: images taller than 256 are box-averaged by the integer factor H // 256."""
    if x.shape[2] <= 256:
        return x
    f = x.shape[2] // 256
    if x.shape[2] % f or x.shape[3] % f:
        raise DataError(f"{tuple(x.shape[2:])} images: StyleGAN's box downsampling by {f} needs sides divisible by "
                        f"{f}; pass lpips_resize=256 (the peers' resize) instead")
    return torch.nn.functional.avg_pool2d(x, f)


# -- the distances --------------------------------------------------------------------------
@torch.no_grad()
def path_distances(G: LatentGenerator, lpips: torch.nn.Module, z0: torch.Tensor, z1: torch.Tensor,
                   t: torch.Tensor | None, *, epsilon: float = DEFAULT_EPSILON, interpolation: str = "slerp",
                   crop: bool = False, box256: bool = False, batch_size: int = 64, device: Any = None,
                   starts: range | None = None, quiet: bool = True) -> torch.Tensor:
    """``LPIPS(G(I(z0, z1, t)), G(I(z0, z1, t + eps))) / eps**2`` per latent pair (float32, CPU).

    t None is t = 0 (``end``).  Each batch runs the generator once on both ends stacked (the
    peers do so too); `starts` restricts the work to some batches (a torch.distributed rank's).
    """
    interp = INTERPOLATIONS[interpolation]
    device = torch.device(device) if device is not None else z0.device
    starts = starts if starts is not None else range(0, z0.shape[0], batch_size)
    out = []
    with progress_bar(len(starts) * batch_size, unit="pair", desc="ppl", quiet=quiet) as advance, \
            exact_matmul(device):
        for s in starts:
            a, b = z0[s:s + batch_size].to(device), z1[s:s + batch_size].to(device)
            if t is None:
                e0, e1 = interp(a, b, 0.0), interp(a, b, epsilon)
            else:
                tt = t[s:s + batch_size].to(device)
                e0, e1 = interp(a, b, tt), interp(a, b, tt + epsilon)
            images = to_lpips_range(G(torch.cat([e0, e1])), G.input_range, G.name, INPUT_RANGE[lpips.scaling])
            if crop:
                images = stylegan_crop(images)
            if box256:
                images = box_downsample_256(images)
            x0, x1 = images.chunk(2)
            d = lpips(x0, x1) / epsilon ** 2
            out.append(d.float().cpu())
            advance(a.shape[0])
    return torch.cat(out) if out else torch.empty(0)


def filter_distances(d: torch.Tensor, percentiles: tuple[float, float] | None = (1.0, 99.0),
                     rule: str = "numpy-lower-higher") -> torch.Tensor:
    """The distances inside the percentiles, both cut points kept.

    ``numpy-lower-higher``: ``np.percentile(.., lo, method="lower")`` and ``(.., hi,
    method="higher")`` (StyleGAN, torch-fidelity); ``torch-lower-lower``: ``torch.quantile``
    with ``interpolation="lower"`` at lo/100 and hi/100 on the float32 values (torchmetrics).
    """
    if percentiles is None:
        return d
    p_lo, p_hi = percentiles
    if rule == "numpy-lower-higher":
        a = d.numpy()
        lo, hi = np.percentile(a, p_lo, method="lower"), np.percentile(a, p_hi, method="higher")
        return d[torch.from_numpy((lo <= a) & (a <= hi))]
    if rule == "torch-lower-lower":
        lo = torch.quantile(d, p_lo / 100, interpolation="lower")
        hi = torch.quantile(d, p_hi / 100, interpolation="lower")
        return d[(d >= lo) & (d <= hi)]
    raise UsageError(f"unknown percentile rule {rule!r}; choose numpy-lower-higher or torch-lower-lower")


class PathDistances:
    """The accumulated per-pair distances (merge = concatenation; order does not matter)."""

    def __init__(self) -> None:
        self.values = torch.empty(0)
        self.input: dict[str, Any] | None = None

    def add(self, d: torch.Tensor) -> None:
        self.values = torch.cat([self.values, d.float().cpu()])

    def merge(self, other: "PathDistances") -> None:
        self.add(other.values)

    def portable(self) -> "PathDistances":
        return self


class PPL(StreamingMetric):
    """Perceptual Path Length of a latent generator: ``update(G)`` measures `num_samples`
    latent pairs of `G` (a callable ``G(z)`` with ``z_dim``; see `ganeval.io.generators`),
    ``compute()`` filters and averages.  It measures generators, not images: ``update`` with an
    image batch is a `UsageError`.  `protocol` picks the defaults of `interpolation`,
    `sampling`, `lpips_resize`, `quantiles` and `std_ddof` (`PROTOCOLS`)."""

    name = "ppl"
    uses_real = False
    count_unit = "samples"

    def __init__(self, seed: int = 0, device: Any = None, *, num_samples: int = DEFAULT_NUM_SAMPLES,
                 epsilon: float = DEFAULT_EPSILON, protocol: str = "stylegan", space: str = "z",
                 interpolation: str | None = None, sampling: str | None = None, crop: bool = False,
                 lpips_resize: int | str | None = "protocol", percentiles: tuple[float, float] | None = (1.0, 99.0),
                 quantiles: str | None = None, std_ddof: int | None = None, lpips_weights: str | None = None,
                 lin_weights: str | None = None, batch_size: int = 64, quiet: bool = True) -> None:
        if protocol not in PROTOCOLS:
            raise UsageError(f"unknown PPL protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
        if space != "z":
            raise UsageError(f"space {space!r}: only 'z' is supported (ProGAN-style generators have no mapping "
                             "network, so there is no w to interpolate in)")
        p = PROTOCOLS[protocol]
        self.protocol, self.space = protocol, space
        self.interpolation = interpolation or p.interpolation
        self.sampling = sampling or p.sampling
        self.lpips_resize = p.lpips_resize if lpips_resize == "protocol" else lpips_resize
        self.quantiles = quantiles or p.quantiles
        self.std_ddof = p.std_ddof if std_ddof is None else std_ddof
        self.lpips_scaling = p.lpips_scaling
        if self.interpolation not in INTERPOLATIONS:
            raise UsageError(f"interpolation {self.interpolation!r}; choose from {', '.join(INTERPOLATIONS)}")
        if self.sampling not in SAMPLINGS:
            raise UsageError(f"sampling {self.sampling!r}; choose full or end")
        r = self.lpips_resize
        if not (isinstance(r, int) and not isinstance(r, bool) and r > 0) and r not in (None, "box256"):
            raise UsageError(f"lpips_resize {self.lpips_resize!r}: a positive size, 'box256' or None")
        if not (isinstance(epsilon, float) and math.isfinite(epsilon) and 0 < epsilon < 1):
            raise UsageError(f"epsilon {epsilon!r}: a small positive number, e.g. 1e-4")
        if percentiles is not None and not 0 <= percentiles[0] < percentiles[1] <= 100:
            raise UsageError(f"percentiles {percentiles!r}: need 0 <= low < high <= 100, e.g. (1, 99)")
        self.num_samples = check_count_arg(num_samples, "num_samples")
        self.batch_size = check_count_arg(batch_size, "batch_size")
        self.epsilon, self.crop, self.percentiles = epsilon, bool(crop), percentiles
        self.seed, self.device, self.quiet = seed, resolve_device(device), quiet
        self.lpips_weights, self.lin_weights = lpips_weights, lin_weights
        self._net: Any = None
        self.info: Any = None
        self.generator_name: str | None = None
        self.resolution: tuple[int, int] | None = None
        self.requested = self.num_samples
        super().__init__()

    def _new(self, real: bool) -> PathDistances:
        return PathDistances()

    def network(self) -> torch.nn.Module:
        """LPIPS-VGG16, loaded once (a missing weights file fails here, before any sampling)."""
        if self._net is None:
            from ..lpips.weights import load_lpips
            resize = self.lpips_resize if isinstance(self.lpips_resize, int) else None
            self._net, self.info = load_lpips(self.lpips_weights, self.lin_weights, self.device, resize,
                                              self.lpips_scaling)
        return self._net

    def update(self, generator: Any, real: bool = False, input_range: tuple[float, float] | None = None,
               start: int | None = None, latents: tuple[torch.Tensor, ...] | None = None) -> None:
        """Measure `generator` on this metric's latents (or `latents`: (z0, z1) or (z0, z1, t))."""
        if real:
            raise UsageError("ppl measures a generator alone; there is no real side")
        if isinstance(generator, (torch.Tensor, np.ndarray)):
            raise UsageError("ppl measures a generator (z -> images), not a batch of images; pass a callable with "
                             "z_dim, e.g. ganeval.ppl(G, ...) or `ganeval ppl CHECKPOINT`")
        G = as_latent_generator(generator, input_range)
        if isinstance(G.fn, torch.nn.Module):
            G.fn.to(self.device)
        net = self.network()
        z0, z1, t = self._latents(G, latents)
        rank, world = rank_world()
        starts = range(rank * self.batch_size, z0.shape[0], world * self.batch_size)
        d = path_distances(G, net, z0, z1, t, epsilon=self.epsilon, interpolation=self.interpolation,
                           crop=self.crop, box256=self.lpips_resize == "box256", batch_size=self.batch_size,
                           device=self.device, starts=starts, quiet=self.quiet)
        self.fake.add(d)
        self.generator_name = G.name

    def _latents(self, G: LatentGenerator, latents: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if latents is None:
            return draw_latents(self.num_samples, G.z_dim, self.seed, self.sampling)
        z0, z1, *rest = latents
        t = rest[0] if rest else None
        if z0.shape != z1.shape or z0.ndim != 2 or z0.shape[1] != G.z_dim:
            raise UsageError(f"latents of shapes {tuple(z0.shape)} and {tuple(z1.shape)}: both must be "
                             f"(N, {G.z_dim}) for {G.name}")
        if (t is None) != (self.sampling == "end"):
            raise UsageError(f"sampling {self.sampling!r} {'takes no t' if t is not None else 'needs t'} in latents")
        return z0.float(), z1.float(), (None if t is None else t.float().reshape(-1, 1))

    def _result(self, real: Any, fake: PathDistances) -> MetricResult:
        d = fake.values
        if d.numel() < 2:
            raise DataError(f"ppl: {d.numel()} latent pair(s) measured; PPL needs at least 2")
        if not bool(torch.isfinite(d).all()):
            raise DataError(f"{self.generator_name}: a path distance is NaN or inf (the generator's output or the "
                            "LPIPS weights are broken)")
        kept = filter_distances(d, self.percentiles, self.quantiles).double()
        mean, std = float(kept.mean()), float(kept.std(correction=self.std_ddof)) if kept.numel() > 1 else 0.0
        settings = {"protocol": self.protocol, "space": self.space, "interpolation": self.interpolation,
                    "sampling": self.sampling, "epsilon": self.epsilon, "crop": self.crop,
                    "lpips_resize": self.lpips_resize, "percentiles": list(self.percentiles or []),
                    "quantiles": self.quantiles, "std_ddof": self.std_ddof, "lpips_scaling": self.lpips_scaling,
                    "kept": int(kept.numel()),
                    "latents": "numpy RandomState(seed).randn: z0, z1; rand: t", **self.info.settings()}
        return MetricResult("ppl", {"PPL": mean, "PPL_std": std}, "PPL", settings, {"samples": int(d.numel())},
                            self.seed)

    def compute(self) -> MetricResult | None:
        if self.info is None:
            self.network()  # the weights' identity is part of every result
        return super().compute()


def ppl(generator: Any, *, num_samples: int = DEFAULT_NUM_SAMPLES, epsilon: float = DEFAULT_EPSILON,
        protocol: str = "stylegan", space: str = "z", interpolation: str | None = None, sampling: str | None = None,
        crop: bool = False, lpips_resize: int | str | None = "protocol",
        percentiles: tuple[float, float] | None = (1.0, 99.0), lpips_weights: str | None = None,
        lin_weights: str | None = None, seed: int = 0, device: Any = None, batch_size: int = 64,
        loader: str | Callable[..., Any] | None = None, input_range: tuple[float, float] | None = None,
        latents: tuple[torch.Tensor, ...] | None = None, quiet: bool = True) -> MetricResult | None:
    """Perceptual Path Length of `generator`: a latent generator object, a checkpoint path (a
    registered kind such as the reference trainer's, or any file with `loader`
    ``"module:function"``) or ``"module:attr"``; see `ganeval.io.generators` and the module
    docstring for the protocols.  Values ``PPL`` (headline, lower is smoother) and ``PPL_std``."""
    from ..io.fileio import sha256_of
    t0 = time.time()
    metric = PPL(seed, device, num_samples=num_samples, epsilon=epsilon, protocol=protocol, space=space,
                 interpolation=interpolation, sampling=sampling, crop=crop, lpips_resize=lpips_resize,
                 percentiles=percentiles, lpips_weights=lpips_weights, lin_weights=lin_weights,
                 batch_size=batch_size, quiet=quiet)
    metric.network()  # fail on missing weights before loading a generator
    G = load_generator(generator, loader, metric.device, input_range)
    record: dict[str, Any] = {"name": G.name}
    if isinstance(generator, (str, os.PathLike)) and os.path.isfile(generator):
        record.update(path=os.path.abspath(generator), sha256=sha256_of(generator))
    metric.inputs = {"generator": record}
    metric.update(G, latents=latents)
    result = metric.compute()
    if result is not None:
        result.settings["input_range"] = list(G.input_range)
        result.seconds = time.time() - t0
    return result


def run_ppl(real: Any, fake: Any, o: Any) -> MetricResult | None:
    """The registry's runner: `fake` must be a latent generator (or a generator checkpoint /
    ``module:attr``); image sets are a `UsageError`, since PPL needs z."""
    if isinstance(fake, (torch.Tensor, np.ndarray)) or (
            not isinstance(fake, (str, os.PathLike)) and getattr(fake, "z_dim", None) is None):
        raise UsageError("ppl measures a generator (z -> images), not an image set; run `ganeval ppl CHECKPOINT` "
                         "or ganeval.ppl(G) with a callable that has z_dim")
    return ppl(fake, num_samples=o.num_images or DEFAULT_NUM_SAMPLES, seed=o.seed, device=o.device,
               batch_size=o.batch_size, input_range=o.input_range, quiet=o.quiet)
