"""SWD speed and peak memory, ganeval against the original ProGAN code when it is given.

    python benchmarks/bench_swd.py --num 2048 --resolution 128 [--reference-dir PATH/metrics]

Prints one JSON object: seconds, images/s (both sets counted) and peak RSS per
implementation, each measured in its own process, and the speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_data, load_reference_module, machine, npy_batches, npy_len, peak_rss_mb, run_child  # noqa: E402


def _measure(impl: str, real: str, fake: str, device: str, ref_dir: str | None) -> dict:
    t0 = time.time()
    if impl == "ganeval":
        import torch
        from ganeval import swd
        n = npy_len(real)  # streamed in batches like a folder, so input pages don't count
        r = swd(npy_batches(real), npy_batches(fake), device=device, num_images=n)
        values = r.values
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    else:
        a, b = np.load(real, mmap_mode="r"), np.load(fake, mmap_mode="r")
        mod = load_reference_module(ref_dir, "sliced_wasserstein")
        np.random.seed(0)
        api = mod.API(len(a), a.shape[1:], a.dtype, 64)
        for mode, data in (("reals", a), ("fakes", b)):
            api.begin(mode)
            for s in range(0, len(data), 64):
                api.feed(mode, data[s:s + 64])
            res = api.end(mode)
        values = dict(zip(api.get_metric_names(), map(float, res)))
    sec = time.time() - t0
    out = {"impl": impl, "seconds": sec, "images_per_s": 2 * npy_len(real) / sec, "peak_rss_mb": peak_rss_mb(), "values": values}
    if impl == "ganeval" and device.startswith("cuda"):
        import torch
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=2048)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--device", default="cuda" if __import__("torch").cuda.is_available() else "cpu")
    ap.add_argument("--reference-dir", default=None, help="metrics/ folder of tkarras/progressive_growing_of_gans")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    real, fake = bench_data(args.num, args.resolution)
    if args.child:
        print(json.dumps(_measure(args.child, real, fake, args.device, args.reference_dir)))
        return
    common = ["--num", str(args.num), "--resolution", str(args.resolution), "--device", args.device]
    if args.reference_dir:
        common += ["--reference-dir", args.reference_dir]
    result = {"benchmark": "swd", "num_images_per_set": args.num, "resolution": args.resolution,
              "device": args.device, "machine": machine()}
    result["ganeval"] = run_child(__file__, common + ["--child", "ganeval"])
    if args.reference_dir:
        result["reference"] = run_child(__file__, common + ["--child", "reference"])
        result["speedup"] = result["reference"]["seconds"] / result["ganeval"]["seconds"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
