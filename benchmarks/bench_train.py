"""Reference ProGAN trainer: training throughput per resolution, and a quality check.

    python benchmarks/bench_train.py                 # images/s per resolution (CPU; CUDA too if present)
    python benchmarks/bench_train.py --quality       # cpu-tiny on built-in data: SWD start vs end,
                                                     # and progressive vs full-resolution-from-start

Prints one JSON object.  Throughput runs the real training loop (`reference_trainer.train`)
held at one resolution, and reports images/s over the ticks after the first (warm-up).
The quality check measures SWD (ganeval.swd, x1e3, average over levels) between G_ema
samples (nearest-upscaled to full resolution, as the official code evaluates) and the
training images: at initialization, after the progressive cpu-tiny schedule, and after
the same number of images shown with training at full resolution from the start
(the paper's claim, Section 2: growing reaches better quality for the same budget).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine  # noqa: E402

from reference_trainer.dataset import MultiResDataset, build_builtin  # noqa: E402
from reference_trainer.networks import G_paper  # noqa: E402
from reference_trainer.presets import make_config  # noqa: E402
from reference_trainer.train import train  # noqa: E402


def throughput(device: str, preset: str, resolutions: list[int], kimg: float, data: str) -> dict:
    """images/s of the full loop (D step + G_ema + G step) held at each resolution."""
    out = {}
    for res in resolutions:
        cfg = make_config(preset, dict(data=data, lod_initial_resolution=res, lod_training_kimg=10**6,
                                       total_kimg=kimg, tick_kimg_base=kimg / 4, tick_kimg_dict={},
                                       checkpoint_kimg=10**6, image_snapshot_ticks=10**6, metrics_kimg=None))
        with tempfile.TemporaryDirectory() as run_dir:
            train(cfg, run_dir, device=device, progress=False)
            log = [json.loads(line) for line in open(os.path.join(run_dir, "log.jsonl"))]
        steady = log[1:] or log
        out[str(res)] = dict(images_per_s=round(float(np.mean([t["images_per_s"] for t in steady])), 1),
                             minibatch=log[-1]["minibatch"], peak_mem_mb=round(log[-1]["peak_mem_mb"], 1))
    return out


def _samples(state: dict, lod: float, n: int, full: int) -> np.ndarray:
    c = state["config"]
    G = G_paper(full, latent_size=c["latent_size"], fmap_base=c["fmap_base"], fmap_decay=c["fmap_decay"],
                fmap_max=c["fmap_max"])
    G.load_state_dict(state["G_ema"])
    z = torch.randn(n, c["latent_size"], generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        x = torch.cat([G(chunk, lod) for chunk in z.split(256)])
    f = full // x.shape[-1]
    x = x.repeat_interleave(f, 2).repeat_interleave(f, 3)
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def quality(work: str, num: int) -> dict:
    """SWD of cpu-tiny G_ema at init, after progressive training, after full-res training."""
    from ganeval import swd
    from reference_trainer import checkpoint as ckpt
    cfg = make_config("cpu-tiny")
    data = str(build_builtin(os.path.join(work, "data"), cfg["resolution"], cfg["builtin_num"]))
    real = np.asarray(MultiResDataset(data).levels[cfg["resolution"]])[:num]
    runs = {"progressive": dict(data=data),
            # Same images-seen budget, all of it at 32x32 (lod 0 from the first image).
            "full_res_from_start": dict(data=data, lod_initial_resolution=cfg["resolution"])}
    out = {"num_images": num, "total_kimg": cfg["total_kimg"]}
    for name, over in runs.items():
        t0 = time.time()
        last = train(make_config("cpu-tiny", over), os.path.join(work, name), device="cpu", progress=False)
        secs = time.time() - t0
        state = ckpt.load(last)
        end = swd(real, _samples(state, 0.0, num, cfg["resolution"]), num_images=num, seed=0).values
        out[name] = dict(swd_end=end, train_seconds=round(secs, 1))
        if name == "progressive":
            torch.manual_seed(cfg["seed"])  # train() initializes G (hence G_ema) right after this seed
            G0 = G_paper(cfg["resolution"], latent_size=cfg["latent_size"], fmap_base=cfg["fmap_base"],
                         fmap_decay=cfg["fmap_decay"], fmap_max=cfg["fmap_max"])
            start_lod = math.log2(cfg["resolution"]) - math.log2(cfg["lod_initial_resolution"])
            init = dict(state, G_ema=G0.state_dict())
            out["swd_start"] = swd(real, _samples(init, start_lod, num, cfg["resolution"]), num_images=num,
                                   seed=0).values
    start, prog, flat = (out["swd_start"]["SWDx1e3_avg"], out["progressive"]["swd_end"]["SWDx1e3_avg"],
                         out["full_res_from_start"]["swd_end"]["SWDx1e3_avg"])
    out["summary"] = dict(swd_avg_start=round(start, 2), swd_avg_progressive=round(prog, 2),
                          swd_avg_full_res=round(flat, 2), progressive_below_half_start=prog < start / 2,
                          progressive_beats_full_res=prog < flat)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quality", action="store_true", help="run the SWD quality check instead of throughput")
    p.add_argument("--num", type=int, default=2048, help="images per SWD set (quality)")
    p.add_argument("--kimg", type=float, default=2.0, help="kimg per resolution (throughput)")
    p.add_argument("--work", default=None, help="folder for data and runs (default: a temp folder)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                   help="CPU threads (use 1 on a machine shared with other jobs: spinning OpenMP threads thrash)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    work = a.work or tempfile.mkdtemp(prefix="bench-train-")
    result: dict = {"machine": dict(machine(), torch_threads=a.threads)}
    if a.quality:
        result["quality"] = quality(work, a.num)
    else:
        data = str(build_builtin(os.path.join(work, "data32"), 32, 1024))
        result["cpu"] = {"preset": "cpu-tiny", "images_per_s": throughput("cpu", "cpu-tiny", [4, 8, 16, 32], a.kimg, data)}
        if torch.cuda.is_available():
            data = str(build_builtin(os.path.join(work, "data256"), 256, 1024))
            result["cuda"] = {"preset": "paper-v2-1gpu", "images_per_s": throughput(
                "cuda", "paper-v2-1gpu", [4, 8, 16, 32, 64, 128, 256], 10 * a.kimg, data)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
