"""Command line: ``python -m reference_trainer {train,generate,interpolate}``.

    python -m reference_trainer train --preset cpu-tiny --out runs/        # built-in data, SWD curve
    python -m reference_trainer train --preset paper-v2-1gpu --data celebahq-cache/ --out runs/
    python -m reference_trainer train --resume runs/00000-cpu-tiny --set total_kimg=30
    python -m reference_trainer generate runs/00000-cpu-tiny/network-snapshot-000036.pt out/ --num 16
    python -m reference_trainer interpolate runs/00000-cpu-tiny/network-snapshot-000036.pt lerp.png

Errors are one line on stderr: exit code 1 for data (missing, torn or foreign files), 2 for
usage (options, ``--set`` keys and values, devices), each found before any work starts;
``--debug`` (before or after the command name) shows the traceback instead.
"""
from __future__ import annotations

import difflib
import itertools
import sys
from pathlib import Path
from typing import Any, Callable

import click
import torch

from ganeval.cli.boundary import BoundaryGroup, debug_option, set_debug
from ganeval.cli.options import check_count_option, check_output_dir, check_output_file, seed_option, writable_target
from ganeval.device import validate_device
from ganeval.errors import Interrupted, UsageError
from ganeval.options import check_seed

from . import checkpoint as ckpt
from .dataset import CONTEXT, run_cli
from .presets import PRESETS, check_value, make_config, parse_set

METRICS = ("swd", "msssim", "fid", "is", "kid")
# Smallest image side each metric accepts (ganeval's SWD pyramid and 5-scale MS-SSIM); the
# Inception metrics resize to 299 themselves.
MIN_SIDE = {"swd": 16, "msssim": 16}
_DEVICE_HELP = "cpu, cuda, cuda:N or mps (default: cuda if available)."


def _check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else str(validate_device(value))


def _check_sets(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any]:
    return parse_set(list(value))


def _check_metrics(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(m.strip().lower() for m in value.split(",") if m.strip())
    if names in ((), ("none",)):
        return ()
    for name in names:
        if name not in METRICS:
            close = difflib.get_close_matches(name, METRICS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UsageError(f"--metrics: unknown metric {name!r}; {hint}choose from {', '.join(METRICS)} or none")
    return names


def _training_resolution(cfg: dict[str, Any], run_dir: Path) -> int | None:
    """The resolution the run will train at, as train() will find it (None if unknown)."""
    from .dataset import MANIFEST, MultiResDataset
    from .train import data_cache_path
    if cfg["resolution"]:
        return int(cfg["resolution"])
    cache = data_cache_path(cfg, run_dir)
    if (cache / MANIFEST).is_file():
        return MultiResDataset(cache).resolution
    if cfg["data"] in (None, "builtin"):
        return 32  # train() builds the built-in data at 32x32 when no resolution is set
    from ganeval.io.sources import open_source
    size = open_source(cfg["data"]).resolution
    return size[0] if size else None


def _measurable(metrics: tuple[str, ...], cfg: dict[str, Any], run_dir: Path, *, explicit: bool,
                say: bool) -> tuple[str, ...]:
    """`metrics` less those the training resolution is too small for: a usage error when the
    user asked for them, a note when they are only the default (a toy run at 8x8 still trains)."""
    small = [m for m in metrics if m in MIN_SIDE]
    res = _training_resolution(cfg, run_dir) if small else None
    too_small = [m for m in small if res is not None and res < MIN_SIDE[m]]
    if too_small and explicit:
        raise UsageError(f"--metrics {','.join(too_small)}: needs at least {MIN_SIDE[too_small[0]]}x"
                         f"{MIN_SIDE[too_small[0]]} images, this run trains at {res}x{res}; use --metrics none "
                         "or a larger resolution")
    if too_small and say:
        click.echo(f"note: no in-training {', '.join(too_small)} at {res}x{res} (needs at least "
                   f"{MIN_SIDE[too_small[0]]}x{MIN_SIDE[too_small[0]]})", err=True)
    return tuple(m for m in metrics if m not in too_small)


def _next_run_dir(out: Path, desc: str) -> Path:
    # Official result-subdir naming: 00000-desc, 00001-desc, ...  Nothing is created here;
    # train() makes the folder and removes it again if the start fails.
    ids = [int(p.name[:5]) for p in out.iterdir() if p.is_dir() and p.name[:5].isdigit()] if out.is_dir() else []
    return out / f"{max(ids, default=-1) + 1:05d}-{desc}"


class _RunEvaluator:
    """`ganeval.hooks.Evaluator`, made at its first call, against the full-resolution level of
    the cache the run trains on, so the reals are the training images at the training
    resolution (a raw folder's own files may be larger), and a run that fails before its
    first evaluation has read none of them."""

    def __init__(self, cfg: dict[str, Any], run_dir: Path, metrics: tuple[str, ...], num_images: int,
                 device: str, **error_bars: int) -> None:
        self.cfg, self.run_dir, self.metrics, self.num_images, self.device = cfg, run_dir, metrics, num_images, device
        self.error_bars = error_bars  # repeats (SWD) and bootstrap (feature metrics), for ganeval's Evaluator
        self._evaluator: Callable | None = None

    def __call__(self, generate: Callable, kimg: float | None = None) -> Any:
        if self._evaluator is None:
            from ganeval.hooks import Evaluator
            from .dataset import MultiResDataset
            from .train import data_cache_path
            real = MultiResDataset(data_cache_path(self.cfg, self.run_dir)).full_resolution_path()
            self._evaluator = Evaluator(real, metrics=self.metrics, num_images=self.num_images, seed=0,
                                        out_dir=self.run_dir, latent_dim=self.cfg["latent_size"],
                                        input_range=(-1, 1), device=self.device, **self.error_bars)
        return self._evaluator(generate, kimg=kimg)


@click.group(cls=BoundaryGroup, context_settings=CONTEXT)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
def cli(debug: bool) -> None:
    """Reference ProGAN trainer."""
    set_debug(debug)


@cli.command("train")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="cpu-tiny", show_default=True)
@click.option("--data", default=None, help="Cache folder, image folder/zip/npy, or 'builtin' (default).")
@click.option("--out", default="runs", show_default=True, help="Parent folder of the new run folder.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", callback=_check_sets,
              help="Override a config key (JSON value, type-checked against the default). Repeat.")
@click.option("--resume", default=None, metavar="RUNDIR",
              help="Continue RUNDIR (or a checkpoint file) exactly where it stopped.")
@click.option("--metrics", default="swd", show_default=True, callback=_check_metrics,
              help="Comma list for ganeval.hooks.Evaluator (swd, msssim, fid, is, kid), measured every "
                   "metrics_kimg and at the end into metrics.jsonl; 'none' turns it off.")
@click.option("--metrics-kimg", type=float, default=None, help="Evaluation interval (default: the preset's).")
@click.option("--metrics-num", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Images per metric evaluation.")
@click.option("--metrics-repeats", type=int, default=0, show_default=True, callback=check_count_option,
              help="SWD error bars over K seeds in every metrics.jsonl record (0: off).")
@click.option("--metrics-bootstrap", type=int, default=0, show_default=True, callback=check_count_option,
              help="Bootstrap error bars for msssim/fid/is/kid from B resamples of their pairs or features (0: off).")
@seed_option(default=None, help="Training seed, 0 to 2**32 - 1 (default: the preset's).")
@click.option("--device", default=None, callback=_check_device, help=_DEVICE_HELP)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: $GANEVAL_THREADS, else 1, the fastest on a busy machine).")
@debug_option
@click.pass_context
def train_cmd(ctx, preset, data, out, sets, resume, metrics, metrics_kimg, metrics_num, metrics_repeats,
              metrics_bootstrap, seed, device, threads):
    """Train (or --resume) a ProGAN."""
    from .train import setup_distributed, train
    if metrics_repeats or metrics_bootstrap:  # refused now, not at the first evaluation of a running job
        from ganeval.metrics.registry import check_error_bars, resolve
        check_error_bars(resolve(metrics, what="metrics for --metrics-repeats/--metrics-bootstrap"), repeats=metrics_repeats,
                         bootstrap=metrics_bootstrap)
    overrides = dict(sets)
    for key, value in (("data", data), ("seed", seed), ("metrics_kimg", metrics_kimg)):
        if value is not None:
            overrides[key] = check_value(key, value)
    if "seed" in overrides:  # --set seed=... gets the range check --seed has
        overrides["seed"] = check_seed(overrides["seed"], "--seed" if seed is not None else "--set seed")
    if not resume:  # --out is used (and checked, like ganeval's -o) only for a new run
        writable_target(out, directory=True, what="--out")
    device, rank, world = setup_distributed(device)
    resume_path = None
    if resume:
        resume_path, state = ckpt.resume_point(resume, warn=None if rank == 0 else (lambda message: None))
        cfg = {**state["config"], **overrides}
        run_dir = resume_path.parent
        # The resumed run writes there: an unwritable folder is a usage error now, as --out's is.
        writable_target(str(run_dir), directory=True, what="--resume")
    else:
        cfg = make_config(preset, overrides)
        name = [str(_next_run_dir(Path(out), preset)) if rank == 0 else None]
        if world > 1:  # every rank must write into rank 0's new folder
            torch.distributed.broadcast_object_list(name, src=0)
        run_dir = Path(name[0])
    metrics = _measurable(metrics, cfg, run_dir, explicit=ctx.get_parameter_source("metrics")
                          is not click.core.ParameterSource.DEFAULT, say=rank == 0)
    evaluator = (_RunEvaluator(cfg, run_dir, metrics, metrics_num, str(device), repeats=metrics_repeats,
                               bootstrap=metrics_bootstrap) if metrics else None)
    try:
        path = train(cfg, run_dir, evaluator=evaluator, resume=resume_path, device=str(device), threads=threads)
    except KeyboardInterrupt:
        # One line, not a traceback: where training can be continued from, if anywhere.
        last = ckpt.latest(run_dir) if run_dir.is_dir() else None
        where = (f"last checkpoint {last}; continue with --resume {run_dir}" if last is not None
                 else "no checkpoint was written yet")
        raise Interrupted(f"interrupted; {where}") from None
    if rank == 0:
        click.echo(str(path))


@cli.command("generate")
@click.argument("checkpoint")
@click.argument("out_dir", callback=check_output_dir)
@seed_option()
@click.option("--device", default=None, callback=_check_device, help=_DEVICE_HELP)
@click.option("--num", type=click.IntRange(min=1), default=16, show_default=True, help="Number of images.")
@debug_option
def generate_cmd(checkpoint, out_dir, seed, device, num):
    """Write NUM PNGs from G_ema of CHECKPOINT into OUT_DIR (full resolution, as ganeval sees it).

    Latents are drawn batch by batch (the same ones as a single draw of NUM); the size to be
    written, measured on the first batch, is printed and checked against the free space first."""
    from ganeval.io.fileio import atomic_write

    from .sampling import sample_batches
    batches = sample_batches(checkpoint, num, seed, device)  # latents are drawn batch by batch
    first = next(batches)  # loads the checkpoint: a file that is not one fails before OUT_DIR exists
    out = Path(out_dir)
    encoded = [_png(img) for img in first]
    _check_space(out, num, sum(map(len, encoded)) / len(encoded), tuple(first.shape[2:]))
    out.mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(num - 1)))  # names sort in image order however many there are
    i = 0
    for batch in itertools.chain([encoded], batches):
        for img in batch:
            with atomic_write(out / f"seed{seed:04d}-{i:0{width}d}.png", "wb") as f:  # never a torn PNG
                f.write(img if isinstance(img, bytes) else _png(img))
            i += 1
    click.echo(f"wrote {num} images to {out}")


def _png(img: torch.Tensor) -> bytes:
    """One uint8 CHW image as PNG bytes."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(buf, format="PNG")
    return buf.getvalue()


def _check_space(out: Path, num: int, bytes_per_image: float, size: tuple[int, int]) -> None:
    """Say how much `generate` will write (from the first batch's PNG sizes), and refuse, before
    writing anything, when that does not fit in the free space of `out`'s filesystem."""
    import shutil
    existing = out
    while not existing.exists():  # the nearest existing folder is on the filesystem OUT_DIR will use
        existing = existing.parent
    estimate = 1.1 * bytes_per_image * num  # 10% margin: later images may compress less well
    free = shutil.disk_usage(existing).free
    click.echo(f"writing {num} images of {size[1]}x{size[0]} to {out}: about {_size(estimate)} "
               f"({_size(free)} free there)", err=True)
    if estimate > free:
        raise UsageError(f"{out}: {num} images need about {_size(estimate)} ({_size(bytes_per_image)} each, measured "
                         f"on the first batch) but only {_size(free)} is free there; lower --num, free some space or "
                         "choose another OUT_DIR")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


@cli.command("interpolate")
@click.argument("checkpoint")
@click.argument("out", callback=check_output_file)
@seed_option()
@click.option("--device", default=None, callback=_check_device, help=_DEVICE_HELP)
@click.option("--steps", type=click.IntRange(min=1), default=8, show_default=True, help="Images per path.")
@click.option("--rows", type=click.IntRange(min=1), default=4, show_default=True, help="Number of paths.")
@debug_option
def interpolate_cmd(checkpoint, out, seed, device, steps, rows):
    """Write ROWS spherical latent paths of STEPS images each from CHECKPOINT as one grid OUT."""
    from .train import save_grid
    G, lod, dev = ckpt.load_G_ema(checkpoint, device)
    z = torch.randn(rows, 2, G.latent_size, generator=torch.Generator().manual_seed(seed))
    t = torch.linspace(0, 1, steps).view(1, -1, 1)
    # Spherical interpolation: Gaussian latents keep their norm along the path.
    omega = torch.acos((torch.nn.functional.normalize(z[:, 0], dim=1) * torch.nn.functional.normalize(z[:, 1], dim=1))
                       .sum(1).clamp(-1, 1)).view(-1, 1, 1)
    path = (torch.sin((1 - t) * omega) * z[:, :1] + torch.sin(t * omega) * z[:, 1:]) / torch.sin(omega)
    with torch.no_grad():
        images = G(path.reshape(-1, G.latent_size).to(dev), lod)
    save_grid(images.clamp(-1, 1), (steps, rows), out)
    click.echo(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line on `argv` (default sys.argv[1:]) and return the exit code."""
    return run_cli(cli, argv, "python -m reference_trainer")


if __name__ == "__main__":
    sys.exit(main())
