"""The paper's claim, measured: progressive growing against direct training at equal wall clock.

Karras et al. (2018, Section 2 and Figure 4) report that growing reaches a given SWD sooner
and ends at a better optimum than training the final resolution from the start.  This trains
both on the built-in `shapes` set at 32x32 with the `cpu-tiny` networks, loss and learning
rates; `direct` differs only in ``lod_initial_resolution = 32``.  Each run stops when its own
training time (evaluations excluded) reaches `--budget` seconds.  The two runs of a seed go
side by side, one thread each, so that any load on the machine slows both alike.  SWD per
level of G_ema against held-out reals (512 images) is recorded every `--metrics-kimg`.

    python benchmarks/bench_progressive.py [--budget 300] [--seeds 1000 1001 1002] [--device cpu]

Prints JSON; writes the results file and a plot (SWD over wall time and over images shown).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

NUM = 512
MODES = ("progressive", "direct")


def child(args: argparse.Namespace) -> None:
    """One run: prints its records as JSON."""
    import torch

    from reference_trainer.probe import BudgetReached, Probe, held_out, measure, sample, untrained_generator
    from reference_trainer.presets import make_config
    from reference_trainer.train import train
    torch.set_num_threads(args.threads)
    over = {"seed": args.seed, "data": args.data, "metrics_kimg": args.metrics_kimg, "total_kimg": 100000.0,
            "checkpoint_kimg": 100000.0, "image_snapshot_ticks": 1000000}
    if args.lod_kimg is not None:
        over.update(lod_training_kimg=args.lod_kimg, lod_transition_kimg=args.lod_kimg)
    if args.mode == "direct":
        over["lod_initial_resolution"] = 32
    cfg = make_config("cpu-tiny", over)
    reals, _ = held_out(NUM, 32)
    start = dict(kimg=0.0, train_s=0.0, **measure(reals, sample(untrained_generator(cfg, 32), NUM,
                                                                cfg["latent_size"], 123), fid=False))
    probe = Probe(reals, cfg["latent_size"], budget_s=args.budget)
    with tempfile.TemporaryDirectory() as d:
        try:
            train(cfg, os.path.join(d, "run"), evaluator=probe, device=args.device, threads=args.threads,
                  progress=False)
        except BudgetReached:
            pass
    print(json.dumps(dict(mode=args.mode, seed=args.seed, records=[start] + probe.records)))


def on_grid(records: list[dict], key: str, x: str, grid: np.ndarray) -> np.ndarray:
    """A run's curve `key` over `x` (train_s or kimg), interpolated onto `grid` (NaN past its end)."""
    xs = np.array([r[x] for r in records])
    ys = np.array([r[key] for r in records])
    out = np.interp(grid, xs, ys)
    out[grid > xs[-1]] = np.nan
    return out


def summarise(runs: list[dict], floor: dict, budget: float) -> dict:
    from _learning import mean_ci
    keys = [k for k in runs[0]["records"][-1] if k.startswith("SWD")]
    by = {m: [r for r in runs if r["mode"] == m] for m in MODES}
    out: dict = {"floor": floor, "at_budget": {}, "at_equal_kimg": {}, "kimg_at_budget": {}, "seconds_to_reach": {}}
    common_kimg = min(r["records"][-1]["kimg"] for r in runs)
    for m, rs in by.items():
        out["kimg_at_budget"][m] = mean_ci([r["records"][-1]["kimg"] for r in rs])
        out["at_budget"][m] = {k: mean_ci([r["records"][-1][k] for r in rs]) for k in keys}
        out["at_equal_kimg"][m] = {k: mean_ci([float(on_grid(r["records"], k, "kimg", np.array([common_kimg]))[0])
                                                for r in rs]) for k in keys}
    out["equal_kimg"] = common_kimg
    # Time to reach twice the floor on the average SWD: the paper's "reaches a given SWD faster".
    target = 2 * floor["SWDx1e3_avg"]
    for m, rs in by.items():
        hit = [next((rec["train_s"] for rec in r["records"] if rec["SWDx1e3_avg"] <= target), None) for r in rs]
        out["seconds_to_reach"][m] = dict(target_swd_avg=target, seconds=hit)
    out["budget_s"] = budget
    return out


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs, floor = result["runs"], result["summary"]["floor"]
    keys = [k for k in runs[0]["records"][-1] if k.startswith("SWD")]
    fig, axes = plt.subplots(2, len(keys), figsize=(4 * len(keys), 6.4), squeeze=False)
    for row, x in enumerate(("train_s", "kimg")):
        end = max(r["records"][-1][x] for r in runs)
        grid = np.linspace(0, end, 200)
        for col, k in enumerate(keys):
            ax = axes[row][col]
            for m, colour in zip(MODES, ("C0", "C3")):
                curves = np.array([on_grid(r["records"], k, x, grid) for r in runs if r["mode"] == m])
                mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0, ddof=1)
                ax.plot(grid, mean, color=colour, label=f"{m} (mean of {len(curves)})")
                ax.fill_between(grid, mean - std, mean + std, color=colour, alpha=0.2)
            ax.axhline(floor[k], color="k", ls="--", lw=1, label="real vs real")
            ax.set_yscale("log")
            ax.set_title(k)
            ax.set_xlabel("training seconds" if x == "train_s" else "kimg shown")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Progressive vs direct, shapes 32x32, cpu-tiny networks, {result['budget_s']:.0f} s each (±1 std)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=300.0, help="training seconds per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    ap.add_argument("--metrics-kimg", type=float, default=3.0)
    ap.add_argument("--lod-kimg", type=float, default=None, help="kimg per phase of growth (default: the preset's, 3)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    from _common import machine
    from reference_trainer.probe import held_out, measure
    from reference_trainer.dataset import build_builtin
    tag = "cpu2" if args.device == "cpu" else args.device.replace(":", "")
    out = args.out or os.path.join(HERE, "results", f"progressive-vs-direct-shapes32-{int(args.budget)}s-{tag}.json")
    reals, other = held_out(NUM, 32)
    floor = measure(reals, other, fid=False)
    runs = []
    with tempfile.TemporaryDirectory() as d:
        data = str(build_builtin(os.path.join(d, "shapes-32"), 32, 4096, seed=0, kind="shapes"))
        for seed in args.seeds:  # the two modes of a seed side by side: the same load on both
            procs = [subprocess.Popen([sys.executable, __file__, "--child", "--mode", m, "--seed", str(seed),
                                       "--data", data, "--budget", str(args.budget), "--threads", str(args.threads),
                                       "--metrics-kimg", str(args.metrics_kimg), "--device", args.device]
                                      + (["--lod-kimg", str(args.lod_kimg)] if args.lod_kimg is not None else []),
                                      stdout=subprocess.PIPE, text=True) for m in MODES]
            for p in procs:
                stdout, _ = p.communicate()
                if p.returncode != 0:
                    raise SystemExit(f"a run failed (exit {p.returncode})")
                runs.append(json.loads(stdout.strip().splitlines()[-1]))
                last = runs[-1]["records"][-1]
                print(f"seed {seed} {runs[-1]['mode']}: {last['kimg']:.1f} kimg, SWD avg {last['SWDx1e3_avg']:.1f}",
                      file=sys.stderr, flush=True)
    result = dict(benchmark="progressive-vs-direct", data="builtin shapes 32x32, 4096 images", preset="cpu-tiny",
                  held_out_images=NUM, budget_s=args.budget, lod_kimg=args.lod_kimg, threads=args.threads, device=args.device,
                  machine=machine(), runs=runs)
    result["summary"] = summarise(runs, floor, args.budget)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    plot(result, os.path.splitext(out)[0] + ".png")
    print(json.dumps(result["summary"]))


if __name__ == "__main__":
    main()
