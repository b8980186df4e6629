"""Density and coverage: time and peak memory on random 2048-d features, and parity with prdc.

    python benchmarks/bench_dc.py [--n 10000] [--big 50000] [--big-blocks 3] [--full-big] [-o FILE]

Each measurement runs in a fresh process (its peak RSS is its own) on Inception-like random
features (ReLU of Gaussians, float32, 2048-d) held in `FeatureStats` as the metric gets them,
and measures ``dc_from_stats`` (the path of `ganeval dc`, `evaluate` and the streaming object):

- ``n_vs_n``: the whole computation on N reals vs N fakes (default 10k vs 10k): seconds, peak RSS.
- ``prdc``: the authors' ``prdc.compute_prdc`` on the same float32 features (skipped when it does
  not import): its seconds, peak RSS, values and our differences.
- ``big``: the BIG x BIG problem (default 50k x 50k).  A full run is O(N^2 d) (about 8-9 min on
  two cores at ~40 GFLOP/s float64), so unless ``--full-big`` only the first ``--big-blocks``
  row blocks are processed: the whole-set float64 matrices and norms are built as in a full run
  and every block allocates the same, so the peak memory is reached in the first block; the
  time of a full run is extrapolated from the per-block time.
Prints one JSON object (and writes it to ``-o``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's ganeval, not whichever one the environment installed
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, peak_rss_mb, run_child  # noqa: E402

DIM = 2048


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _features(n: int, seed: int, shift: float):
    import torch
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, DIM, generator=g).mul_(1 + shift).relu_()


def _stats(x):
    """`FeatureStats` holding `x` as kept batches of 1000 rows (skipping update()'s float64
    moments, which density and coverage never read)."""
    from ganeval.features.stats import FeatureStats
    st = FeatureStats(DIM, keep_features=True)
    st.features = list(x.split(1000))
    st.n = x.shape[0]
    return st


def _setup(n: int, m: int):
    import torch
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    a = _stats(_features(n, 1, 0.0))
    b = _stats(_features(m, 2, 0.01))
    return a, b


def child_run(n: int, m: int) -> dict:
    from ganeval.inception.weights import WeightsInfo
    from ganeval.metrics import dc
    a, b = _setup(n, m)
    rss0 = _rss_mb()
    t0 = time.time()
    r = dc.dc_from_stats(a, b, WeightsInfo("bench", "bench", "0" * 64, False, "bench"))
    return {"real": n, "fake": m, "seconds": time.time() - t0, "peak_rss_mb": peak_rss_mb(),
            "rss_with_features_mb": rss0, "rows_per_block": dc._rows(max(n, m)),
            "blocks": -(-n // dc._rows(max(n, m))), **r.values}


def child_prdc(n: int, m: int) -> dict:
    import contextlib
    import io

    import prdc
    a, b = _setup(n, m)
    real, fake = a.all_features().numpy(), b.all_features().numpy()
    a.features = b.features = []
    rss0 = _rss_mb()
    t0 = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        ref = prdc.compute_prdc(real, fake, nearest_k=5)
    return {"seconds": time.time() - t0, "peak_rss_mb": peak_rss_mb(), "rss_with_features_mb": rss0,
            "density": float(ref["density"]), "coverage": float(ref["coverage"]),
            "note": "prdc also computes precision and recall (fake k-NN radii); its 3 N x N float32 "
                    "matrices are held at once"}


class _Stop(Exception):
    pass


def child_big(n: int, blocks: int) -> dict:
    from ganeval.inception.weights import WeightsInfo
    from ganeval.metrics import dc
    a, b = _setup(n, n)
    rss0 = _rss_mb()
    rows = dc._rows(n)
    total_blocks = -(-n // rows)
    stamps = []
    inner = dc._sqdist

    def counted(*args):
        # Two products per block (real-real for the radii, real-fake); stop after `blocks` blocks.
        if len(stamps) == 2 * blocks:
            raise _Stop
        stamps.append(time.time())
        return inner(*args)

    if blocks < total_blocks:
        dc._sqdist = counted
    t0 = time.time()
    try:
        r = dc.dc_from_stats(a, b, WeightsInfo("bench", "bench", "0" * 64, False, "bench"))
        done, values = total_blocks, r.values
    except _Stop:
        done, values = blocks, None
    t1 = time.time()
    out = {"real": n, "fake": n, "rows_per_block": rows, "blocks_total": total_blocks, "blocks_processed": done,
           "seconds": t1 - t0, "peak_rss_mb": peak_rss_mb(), "rss_with_features_mb": rss0,
           "rss_after_mb": _rss_mb()}
    if values is not None:
        out.update(values)
    else:
        setup = stamps[0] - t0  # float64 copies and norms, before the first block
        per_block = (t1 - stamps[2]) / (blocks - 1) if blocks > 1 else t1 - stamps[0]
        out.update(setup_seconds=setup, seconds_per_block=per_block,
                   estimated_full_seconds=setup + per_block * n / rows,  # the last block may be partial
                   note=f"only the first {blocks} of {total_blocks} row blocks processed; the peak memory is "
                        "reached in the first block (every block allocates the same), the full time is extrapolated")
    gib = 2 ** 30
    out["expected_bytes"] = {
        "kept_float32_features_gib": 2 * n * DIM * 4 / gib,
        "float64_sets_gib": 2 * n * DIM * 8 / gib,
        "one_block_gib": rows * n * (8 + 1) / gib,
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=["run", "prdc", "big"])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--big", type=int, default=50000)
    ap.add_argument("--big-blocks", type=int, default=3)
    ap.add_argument("--full-big", action="store_true")
    ap.add_argument("--no-prdc", action="store_true")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    if args.child == "run":
        print(json.dumps(child_run(args.n, args.n)))
        return
    if args.child == "prdc":
        print(json.dumps(child_prdc(args.n, args.n)))
        return
    if args.child == "big":
        print(json.dumps(child_big(args.big, 10 ** 9 if args.full_big else args.big_blocks)))
        return
    me = os.path.abspath(__file__)
    out = {"benchmark": "density_coverage", "k": 5, "dim": DIM, "dtype": "float64 (features kept as float32)",
           "threads": int(os.environ.get("BENCH_THREADS", "2")), "machine": machine(),
           "features": "ReLU(N(0,1)) reals, ReLU(1.01 N(0,1)) fakes, 2048-d float32, random"}
    out["n_vs_n"] = run_child(me, ["--child", "run", "--n", str(args.n)])
    if not args.no_prdc:
        try:
            import prdc  # noqa: F401
        except ImportError as e:
            out["prdc"] = f"not run: {e}"
        else:
            p = run_child(me, ["--child", "prdc", "--n", str(args.n)])
            p["abs_diff_density"] = abs(p["density"] - out["n_vs_n"]["density"])
            p["abs_diff_coverage"] = abs(p["coverage"] - out["n_vs_n"]["coverage"])
            out["prdc"] = p
    big = ["--child", "big", "--big", str(args.big), "--big-blocks", str(args.big_blocks)]
    out["big"] = run_child(me, big + (["--full-big"] if args.full_big else []))
    out["big"]["under_4_gib"] = out["big"]["peak_rss_mb"] < 4096
    text = json.dumps(out, indent=2)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
