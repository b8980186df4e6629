"""Command line: ``python -m reference_trainer {train,generate,interpolate}``.

    python -m reference_trainer train --preset cpu-tiny --out runs/        # built-in data
    python -m reference_trainer train --preset paper-v2-1gpu --data celebahq-cache/ --out runs/
    python -m reference_trainer train --resume runs/00000-cpu-tiny --set total_kimg=30
    python -m reference_trainer generate runs/00000-cpu-tiny/network-snapshot-000021.pt out/ --num 16
    python -m reference_trainer interpolate runs/00000-cpu-tiny/network-snapshot-000021.pt lerp.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from . import checkpoint as ckpt
from .presets import PRESETS, make_config, parse_set


def _next_run_dir(out: Path, desc: str) -> Path:
    # Official result-subdir naming: 00000-desc, 00001-desc, ...
    out.mkdir(parents=True, exist_ok=True)
    ids = [int(p.name[:5]) for p in out.iterdir() if p.is_dir() and p.name[:5].isdigit()]
    return out / f"{max(ids, default=-1) + 1:05d}-{desc}"


def _to_uint8(img: torch.Tensor) -> torch.Tensor:
    return ((img.float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def cmd_train(a: argparse.Namespace) -> int:
    from .train import setup_distributed, train
    device, rank, world = setup_distributed(a.device)
    overrides = parse_set(a.set or [])
    if a.data is not None:
        overrides["data"] = a.data
    if a.seed is not None:
        overrides["seed"] = a.seed
    if a.metrics_kimg is not None:
        overrides["metrics_kimg"] = a.metrics_kimg
    if a.resume:
        run_dir = Path(a.resume)
        cfg = {**ckpt.load(ckpt.latest(run_dir) or run_dir)["config"], **overrides}
    else:
        cfg = make_config(a.preset, overrides)
        name = [str(_next_run_dir(Path(a.out), a.preset or "default")) if rank == 0 else None]
        if world > 1:  # every rank must write into rank 0's new folder
            torch.distributed.broadcast_object_list(name, src=0)
        run_dir = Path(name[0])
    evaluator = None
    if a.metrics:
        from ganeval.hooks import Evaluator  # lazy: the trainer works without ganeval.hooks
        from .dataset import MANIFEST, MultiResDataset, builtin_images
        data = cfg["data"]
        if data in (None, "builtin"):  # the same images train() will build
            real = builtin_images(cfg["resolution"] or 32, cfg["builtin_num"])
        elif (Path(data) / MANIFEST).is_file():  # a cache: its full-resolution level
            real = MultiResDataset(data).full_resolution_path()
        else:
            real = data
        evaluator = Evaluator(real, metrics=tuple(a.metrics.split(",")), num_images=a.metrics_num, seed=0,
                              out_dir=run_dir, latent_dim=cfg["latent_size"], input_range=(-1, 1))
    if rank == 0:
        print(f"run dir: {run_dir}", file=sys.stderr)
    path = train(cfg, run_dir, evaluator=evaluator, resume=a.resume, device=str(device))
    if rank == 0:
        print(path)
    return 0


def cmd_generate(a: argparse.Namespace) -> int:
    from PIL import Image
    G, lod, dev = ckpt.load_G_ema(a.checkpoint, a.device)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    z = torch.randn(a.num, G.latent_size, generator=torch.Generator().manual_seed(a.seed))
    with torch.no_grad():
        for i, chunk in enumerate(z.split(64)):
            for j, img in enumerate(_to_uint8(G(chunk.to(dev), lod))):
                Image.fromarray(img.permute(1, 2, 0).numpy()).save(out / f"seed{a.seed:04d}-{i * 64 + j:06d}.png")
    print(f"wrote {a.num} images to {out}")
    return 0


def cmd_interpolate(a: argparse.Namespace) -> int:
    from .train import save_grid
    G, lod, dev = ckpt.load_G_ema(a.checkpoint, a.device)
    z = torch.randn(a.rows, 2, G.latent_size, generator=torch.Generator().manual_seed(a.seed))
    t = torch.linspace(0, 1, a.steps).view(1, -1, 1)
    # Spherical interpolation: Gaussian latents keep their norm along the path.
    omega = torch.acos((torch.nn.functional.normalize(z[:, 0], dim=1) * torch.nn.functional.normalize(z[:, 1], dim=1))
                       .sum(1).clamp(-1, 1)).view(-1, 1, 1)
    path = (torch.sin((1 - t) * omega) * z[:, :1] + torch.sin(t * omega) * z[:, 1:]) / torch.sin(omega)
    with torch.no_grad():
        images = G(path.reshape(-1, G.latent_size).to(dev), lod)
    save_grid(images.clamp(-1, 1), (a.steps, a.rows), a.out)
    print(f"wrote {a.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reference_trainer", description="Reference ProGAN trainer.")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or --resume) a ProGAN")
    t.add_argument("--preset", choices=sorted(PRESETS), default="cpu-tiny")
    t.add_argument("--data", default=None, help="cache folder, image folder/zip/npy, or 'builtin' (default)")
    t.add_argument("--out", default="runs", help="parent folder of the new run folder")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (JSON value)")
    t.add_argument("--resume", default=None, metavar="RUNDIR", help="continue RUNDIR exactly where it stopped")
    t.add_argument("--metrics", default=None, help="comma list for ganeval.hooks.Evaluator, e.g. swd,msssim")
    t.add_argument("--metrics-kimg", type=float, default=None)
    t.add_argument("--metrics-num", type=int, default=1024, help="images per metric evaluation")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    t.set_defaults(fn=cmd_train)
    for name, fn, help_ in (("generate", cmd_generate, "write N PNGs from G_ema"),
                            ("interpolate", cmd_interpolate, "write a latent interpolation grid")):
        g = sub.add_parser(name, help=help_)
        g.add_argument("checkpoint")
        g.add_argument("out_dir" if name == "generate" else "out")
        g.add_argument("--seed", type=int, default=0)
        g.add_argument("--device", default=None)
        if name == "generate":
            g.add_argument("--num", type=int, default=16)
        else:
            g.add_argument("--steps", type=int, default=8)
            g.add_argument("--rows", type=int, default=4)
        g.set_defaults(fn=fn)
    a = p.parse_args(argv)
    try:
        return a.fn(a)
    except Exception as e:
        from ganeval.errors import GanevalError
        if isinstance(e, (GanevalError, KeyError, FileNotFoundError)):
            print(f"error: {e}", file=sys.stderr)
            return getattr(e, "exit_code", 2)
        raise


if __name__ == "__main__":
    sys.exit(main())
