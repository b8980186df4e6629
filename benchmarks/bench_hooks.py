"""Cost of metric hooks inside a training loop.

    python benchmarks/bench_hooks.py --num-images 1024 --resolution 64

Times `ganeval.hooks.Evaluator` with SWD (and MS-SSIM) on a small convolutional generator:
the first call (which also measures the real set) and the steady-state per-call cost.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, peak_rss_mb  # noqa: E402


def toy_generator(resolution: int, latent_dim: int = 128) -> torch.nn.Module:
    layers = [torch.nn.Linear(latent_dim, 64 * 4 * 4), torch.nn.Unflatten(1, (64, 4, 4))]
    res = 4
    while res < resolution:
        layers += [torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.LeakyReLU(0.2)]
        res *= 2
    layers += [torch.nn.Conv2d(64, 3, 1), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-images", type=int, default=1024)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--metrics", default="swd")
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    from ganeval.hooks import Evaluator
    from ganeval.io.samples import photo_crops
    real = photo_crops(args.num_images, args.resolution, seed=1)
    G = toy_generator(args.resolution).to(args.device).eval()
    ev = Evaluator(real, metrics=args.metrics.split(","), num_images=args.num_images, latent_dim=128,
                   device=args.device)
    times = []
    for i in range(args.calls):
        t0 = time.time()
        ev(G, kimg=float(i))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.time() - t0)
    t0 = time.time()
    with torch.no_grad():
        for s in range(0, args.num_images, 64):
            G(torch.randn(min(64, args.num_images - s), 128, device=args.device))
    gen_only = time.time() - t0
    print(json.dumps({"benchmark": "hooks", "metrics": args.metrics, "num_images": args.num_images,
                      "resolution": args.resolution, "device": args.device, "machine": machine(),
                      "first_call_seconds": times[0], "steady_call_seconds": min(times[1:] or times),
                      "generation_only_seconds": gen_only, "peak_rss_mb": peak_rss_mb()}, indent=2))


if __name__ == "__main__":
    main()
