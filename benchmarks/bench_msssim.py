"""MS-SSIM diversity-metric speed, ganeval against the original ProGAN code when given.

    python benchmarks/bench_msssim.py --pairs 1024 --resolution 128 [--reference-dir PATH/metrics]

Prints one JSON object: the fastest of --repeats runs (and all of them), pairs/s and peak RSS
per implementation (each in its own process), the values, and the speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_data, load_reference_module, machine, peak_rss_mb, run_child  # noqa: E402


def _measure(impl: str, path: str, device: str, ref_dir: str | None, repeats: int) -> dict:
    # Minimum over repeats: on a shared machine the fastest run is the least disturbed one.
    times = []
    for _ in range(repeats):
        sec, value = _once(impl, path, device, ref_dir)
        times.append(sec)
    x_len = len(np.load(path, mmap_mode="r"))
    return {"impl": impl, "seconds": min(times), "all_seconds": times, "pairs_per_s": x_len / 2 / min(times),
            "peak_rss_mb": peak_rss_mb(), "value": value}


def _once(impl: str, path: str, device: str, ref_dir: str | None) -> tuple[float, float]:
    x = np.load(path, mmap_mode="r")
    t0 = time.time()
    if impl == "ganeval":
        import torch
        from ganeval import ms_ssim
        value = ms_ssim(x, num_pairs=None, device=device).value
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    else:
        mod = load_reference_module(ref_dir, "ms_ssim")
        api = mod.API(len(x), x.shape[1:], x.dtype, 64)
        api.begin("fakes")
        for s in range(0, len(x), 64):
            api.feed("fakes", x[s:s + 64])
        value = float(api.end("fakes")[0])
    return time.time() - t0, value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=1024)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--device", default="cuda" if __import__("torch").cuda.is_available() else "cpu")
    ap.add_argument("--reference-dir", default=None, help="metrics/ folder of tkarras/progressive_growing_of_gans")
    ap.add_argument("--repeats", type=int, default=3, help="Report the fastest of this many runs.")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    path = bench_data(2 * args.pairs, args.resolution)[0]
    if args.child:
        print(json.dumps(_measure(args.child, path, args.device, args.reference_dir, args.repeats)))
        return
    common = ["--pairs", str(args.pairs), "--resolution", str(args.resolution), "--device", args.device,
              "--repeats", str(args.repeats)]
    if args.reference_dir:
        common += ["--reference-dir", args.reference_dir]
    result = {"benchmark": "msssim", "pairs": args.pairs, "resolution": args.resolution, "device": args.device,
              "machine": machine(), "ganeval": run_child(__file__, common + ["--child", "ganeval"])}
    if args.reference_dir:
        result["reference"] = run_child(__file__, common + ["--child", "reference"])
        result["speedup"] = result["reference"]["seconds"] / result["ganeval"]["seconds"]
        result["abs_diff"] = abs(result["reference"]["value"] - result["ganeval"]["value"])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
