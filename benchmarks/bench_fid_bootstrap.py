"""Cost of ``fid --bootstrap B`` beyond feature extraction, rows' space against the dense path.

    python benchmarks/bench_fid_bootstrap.py [--sizes 1000,2000,5000] [--replicates 200]
                                             [--dense-replicates 5] [-o FILE]

For each N: Inception-like random features (ReLU of Gaussians, float32, 2048-d) for N reals
and N fakes, held in `FeatureStats` as FID gets them after extraction; then FID's value and
``--replicates`` bootstrap replicates (`ganeval.metrics.uncertainty.bootstrap_stats` with FID's
result function: exactly the path of ``ganeval fid --bootstrap``).  A resample of N images
draws about 0.632 N distinct ones, so below about 3200 images both sides take the rows' space
(`ganeval.metrics.fid.LowRank`); above it the dense path, as before.  The dense path
(``frechet_distance(mu, sigma, ...)`` on each resample's covariances, what every replicate
cost before) is timed on the first ``--dense-replicates`` replicates for the ratio, and the
largest relative difference between the two paths' replicates is reported.  Each N runs in
a fresh process (peak RSS is its own).  Prints one JSON object (and writes it to ``-o``).
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


def _stats(n: int, seed: int, shift: float):
    import torch
    from ganeval.features.stats import FeatureStats
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=g).mul_(1 + shift).relu_()
    st = FeatureStats(DIM, keep_features=True)
    for part in x.split(1000):
        st.update(part)
    return st


def child(n: int, replicates: int, dense_replicates: int) -> dict:
    import warnings

    import numpy as np
    import torch
    from ganeval.features.stats import ResampledStats
    from ganeval.inception.weights import WeightsInfo
    from ganeval.metrics.fid import FID, frechet_distance
    from ganeval.metrics.uncertainty import bootstrap_stats, resample_indices
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    warnings.simplefilter("ignore")
    real, fake = _stats(n, 1, 0.0), _stats(n, 2, 0.01)
    m = FID.__new__(FID)
    m.info, m.seed = WeightsInfo("bench", "bench", "0" * 64, True, "bench"), 0
    t0 = time.time()
    value = m._result(real, fake)
    one = time.time() - t0
    t0 = time.time()
    unc = bootstrap_stats(value.values, real, fake, replicates, 0, m._result)["FID"]
    spent = time.time() - t0
    fr, ff = real.all_features(), fake.all_features()
    dense, t0 = [], time.time()
    for b in range(dense_replicates):  # what each replicate cost before: both covariances, dense FID
        r = ResampledStats(fr, None, resample_indices(n, 0, b, 0), DIM)
        f = ResampledStats(ff, None, resample_indices(n, 0, b, 1), DIM)
        dense.append(frechet_distance(r.mu, r.sigma, f.mu, f.sigma))
    per_dense = (time.time() - t0) / max(dense_replicates, 1)
    fast = np.asarray(unc["replicates"][:dense_replicates])
    drawn = len(np.unique(resample_indices(n, 0, 0, 1)))
    return {"n": n, "replicates": replicates, "distinct_rows_drawn_replicate0": drawn,
            "path": "rows" if drawn < DIM else "dense", "value": value.value, "seconds_one_value": one,
            "seconds_bootstrap": spent, "seconds_per_replicate": spent / replicates,
            "seconds_per_replicate_dense_path": per_dense, "dense_replicates_timed": dense_replicates,
            "speedup_per_replicate": per_dense / (spent / replicates),
            "max_rel_diff_vs_dense": float(np.max(np.abs(fast - dense) / np.abs(dense))) if dense else None,
            "std": unc["std"], "lo": unc["lo"], "hi": unc["hi"], "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,5000")
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--dense-replicates", type=int, default=5)
    ap.add_argument("-o", "--output")
    ap.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(*a.child)))
        return
    me = os.path.abspath(__file__)
    out = {"benchmark": "fid-bootstrap", "machine": machine(), "threads": int(os.environ.get("BENCH_THREADS", "2")),
           "runs": []}
    for n in (int(s) for s in a.sizes.split(",") if s):
        out["runs"].append(run_child(me, ["--child", str(n), str(a.replicates), str(a.dense_replicates)]))
        print(json.dumps(out["runs"][-1]), file=sys.stderr)
    text = json.dumps(out, indent=1)
    if a.output:
        from ganeval.io.fileio import atomic_write_text
        atomic_write_text(a.output, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
