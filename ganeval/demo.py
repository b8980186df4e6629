"""`make demo`: ganeval's main job on built-in data, end to end.

Builds two image sets from scikit-image's photos (sharp crops as "real", blurred and noised
crops as "fake"), writes them as PNG folders, and runs `ganeval swd` and `ganeval msssim`
through the CLI, printing a table.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np


def _write_pngs(images: np.ndarray, folder: str) -> None:
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img.transpose(1, 2, 0)).save(os.path.join(folder, f"{i:05d}.png"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="demo_out")
    ap.add_argument("--num", type=int, default=1024)
    ap.add_argument("--resolution", type=int, default=64)
    args = ap.parse_args(argv)
    from ganeval.samples import photo_crops
    real, other, fake = (os.path.join(args.out, n) for n in ("real", "real2", "fake"))
    print(f"building 3 x {args.num} images of {args.resolution}px in {args.out}/ ...", flush=True)
    _write_pngs(photo_crops(args.num, args.resolution, seed=1), real)
    _write_pngs(photo_crops(args.num, args.resolution, seed=2), other)
    _write_pngs(photo_crops(args.num, args.resolution, seed=3, blur_sigma=1.0, noise_sigma=6.0), fake)
    cli = [sys.executable, "-m", "ganeval"]
    jobs = {"swd-real-vs-real2": ["swd", real, other], "swd-real-vs-fake": ["swd", real, fake],
            "msssim-real": ["msssim", real], "msssim-fake": ["msssim", fake]}
    for name, cmd in jobs.items():
        print("\n$ ganeval " + " ".join(cmd), flush=True)
        subprocess.run(cli + cmd + ["--quiet", "-o", os.path.join(args.out, name + ".json")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
