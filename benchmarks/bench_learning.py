"""Evidence that the reference trainer learns: SWD, FID and mode coverage of G_ema over training.

Trains the `cpu-tiny` preset on the built-in `shapes` set (32x32, 4096 images) for several
seeds and, at every evaluation, measures G_ema on a fixed set of latents against held-out
reals (scenes of another seed): SWD per level on 1024 images, FID on 256 (every other
evaluation: Inception on a CPU costs more than the training step it measures), and the
classifier-free mode coverage of `reference_trainer.shapes`.  Beside them: the untrained
generator and the real-vs-real floor (two disjoint held-out sets of the same size).

    python benchmarks/bench_learning.py [--seeds 1000 1001 1002] [--out benchmarks/results/...]

Prints JSON; writes the results file and a curve plot next to it.  ``--summarise FILE``
recomputes the summary and plot of a results file without training.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import machine  # noqa: E402
from _learning import mean_ci  # noqa: E402
from reference_trainer.probe import Probe, held_out, measure, sample, untrained_generator  # noqa: E402
from reference_trainer.dataset import build_builtin  # noqa: E402
from reference_trainer.presets import make_config  # noqa: E402
from reference_trainer.shapes import mode_coverage  # noqa: E402
from reference_trainer.train import train  # noqa: E402

SWD_NUM, FID_NUM = 1024, 256


def run_seed(seed: int, data: str, reals: np.ndarray, fid_reals: np.ndarray, args: argparse.Namespace) -> dict:
    over = {"seed": seed, "data": data, "metrics_kimg": args.metrics_kimg}
    if args.total_kimg is not None:
        over["total_kimg"] = args.total_kimg
    cfg = make_config("cpu-tiny", over)
    untrained = sample(untrained_generator(cfg, 32), SWD_NUM, cfg["latent_size"], 123)
    start = dict(kimg=0.0, train_s=0.0, **measure(reals, untrained, fid=False),
                 FID=measure(fid_reals, untrained[:FID_NUM], fid=True)["FID"],
                 **{k: mode_coverage(untrained)[k] for k in ("modes_covered", "recognised")})
    probe = Probe(reals, cfg["latent_size"], fid_reals=fid_reals, fid_every=args.fid_every, modes=True)
    with tempfile.TemporaryDirectory() as run_dir:
        t0 = time.time()
        train(cfg, os.path.join(run_dir, "run"), evaluator=probe, device=args.device, threads=args.threads,
              progress=False)
    print(f"seed {seed}: {time.time() - t0:.0f} s, final {probe.records[-1]}", file=sys.stderr, flush=True)
    return dict(seed=seed, records=[start] + probe.records, train_s=probe.train_seconds())


def growth_end_kimg() -> float:
    """kimg at which cpu-tiny reaches full resolution (the last fade-in ends)."""
    cfg = make_config("cpu-tiny")
    growths = math.log2(cfg["resolution"] / cfg["lod_initial_resolution"])
    return growths * (cfg["lod_training_kimg"] + cfg["lod_transition_kimg"])


def summarise(runs: list[dict], floor: dict) -> dict:
    keys = [k for k in runs[0]["records"][-1] if k.startswith("SWD") or k in ("FID", "modes_covered", "recognised")]
    final = {k: mean_ci([r["records"][-1][k] for r in runs]) for k in keys}
    start = {k: mean_ci([r["records"][0][k] for r in runs]) for k in keys}
    ratio = {k: final[k]["mean"] / floor[k] for k in keys if k in floor}
    # "Falls over training": from the end of growth on (before it, the finest level is only an
    # upscaled coarser one), each level's SWD falls at every evaluation, in every seed.
    end = growth_end_kimg()
    falls = {k: all(bool(np.all(np.diff([rec[k] for rec in r["records"] if rec["kimg"] >= end]) < 0)) for r in runs)
             for k in keys if k.startswith("SWD")}
    return dict(start=start, final=final, final_over_floor=ratio, growth_end_kimg=end,
                swd_falls_at_every_evaluation_after_growth=falls)


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs, floor = result["runs"], result["floor"]
    keys = [k for k in runs[0]["records"][-1] if k.startswith("SWD")] + ["FID"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4))
    for ax, k in zip(axes, keys):
        for r in runs:
            pts = [(rec["kimg"], rec[k]) for rec in r["records"] if k in rec]
            ax.plot(*zip(*pts), marker="o", ms=3, label=f"seed {r['seed']}")
        ax.axhline(floor[k], color="k", ls="--", lw=1, label="real vs real")
        ax.set_yscale("log")
        ax.set_title(k + (f" ({FID_NUM} images)" if k == "FID" else f" ({SWD_NUM} images)"))
        ax.set_xlabel("kimg shown")
    axes[0].legend(fontsize=7)
    fig.suptitle("cpu-tiny on shapes 32x32: G_ema against held-out reals (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    ap.add_argument("--total-kimg", type=float, default=None, help="default: the preset's")
    ap.add_argument("--metrics-kimg", type=float, default=6)
    ap.add_argument("--fid-every", type=int, default=2, help="FID at every N-th evaluation (and at the start)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                  "learning-cpu-tiny-shapes-cpu2.json"))
    ap.add_argument("--summarise", metavar="FILE", help="recompute the summary and plot of a results file")
    args = ap.parse_args()
    if args.summarise:
        with open(args.summarise) as f:
            result = json.load(f)
        result["summary"] = summarise(result["runs"], result["floor"])
        with open(args.summarise, "w") as f:
            json.dump(result, f, indent=1)
        plot(result, os.path.splitext(args.summarise)[0] + ".png")
        print(json.dumps(result["summary"]))
        return
    torch.set_num_threads(args.threads)
    reals, other = held_out(SWD_NUM, 32)
    floor = dict(measure(reals, other, fid=False), FID=measure(reals[:FID_NUM], other[:FID_NUM], fid=True)["FID"],
                 **{k: mode_coverage(other)[k] for k in ("modes_covered", "recognised")})
    with tempfile.TemporaryDirectory() as d:
        data = str(build_builtin(os.path.join(d, "shapes-32"), 32, 4096, seed=0, kind="shapes"))
        runs = [run_seed(s, data, reals, reals[:FID_NUM], args) for s in args.seeds]
    result = dict(benchmark="learning", preset="cpu-tiny", data="builtin shapes 32x32, 4096 images (seed 0)",
                  held_out="shapes seed 7", swd_images=SWD_NUM, fid_images=FID_NUM, threads=args.threads,
                  device=args.device, machine=machine(), floor=floor, runs=runs)
    result["summary"] = summarise(runs, floor)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    plot(result, os.path.splitext(args.out)[0] + ".png")
    print(json.dumps(result["summary"]))


if __name__ == "__main__":
    main()
