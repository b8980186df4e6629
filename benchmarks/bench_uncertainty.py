"""Cost of error bars: bootstrap replicates per feature metric, and SWD seed repeats.

    python benchmarks/bench_uncertainty.py [--n 10000] [--replicates 1000] [--metrics fid,is,kid,pr,dc]
                                           [--max-seconds 600] [--swd-images 2048] [--swd-repeats 5] [-o FILE]

Bootstrap: Inception-like random features (ReLU of Gaussians, float32, 2048-d, and 1008
logits for IS) for N reals and N fakes, held in `FeatureStats` as the metrics get them; each
metric's streaming object computes its value and then ``--replicates`` bootstrap replicates
(`ganeval.metrics.uncertainty.bootstrap_stats`, the path of ``--bootstrap``).  Replicates all
cost the same, so a metric whose replicates would take longer than ``--max-seconds`` runs
as many as fit (at least 2) and reports the measured per-replicate time with the projected
total, marked ``"projected": true``.

SWD: ``swd(--swd-images vs --swd-images at 128 px, repeats=K)`` against the plain run, for
``redraw="patches"`` and ``"directions"``, with peak RSS of each in a fresh process.
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
from _common import bench_data, machine, peak_rss_mb, run_child  # noqa: E402

DIM = 2048


def _stats(n: int, seed: int, shift: float, logits: bool):
    import torch
    from ganeval.features.stats import FeatureStats
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=g).mul_(1 + shift).relu_()
    st = FeatureStats(DIM, keep_features=True, keep_logits=logits)
    for part in x.split(1000):
        st.update(part, (part @ torch.randn(DIM, 1008, generator=g) / 45) if logits else None)
    return st


def child_bootstrap(metric: str, n: int, replicates: int, max_seconds: float) -> dict:
    import warnings

    import torch
    from ganeval.inception.weights import WeightsInfo
    from ganeval.metrics.registry import get_metric
    from ganeval.metrics.uncertainty import bootstrap_stats
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    warnings.simplefilter("ignore")
    spec = get_metric({"dc": "density"}.get(metric, metric))
    real, fake = _stats(n, 1, 0.0, metric == "is"), _stats(n, 2, 0.01, metric == "is")
    m = spec.make(seed=0)
    m.info = WeightsInfo("bench", "bench", "0" * 64, True, "bench")
    t0 = time.time()
    value = m._result(real if m.uses_real else None, fake)
    one = time.time() - t0
    # Replicates cost about what the metric costs once (FID a little less: only drawn rows
    # enter its covariances); time two, then as many as fit in the budget.
    t0 = time.time()
    bootstrap_stats(value.values, real if m.uses_real else None, fake, 2, 0, m._result)
    per = (time.time() - t0) / 2
    count = replicates if per * replicates <= max_seconds else max(2, int(max_seconds // per))
    t0 = time.time()
    unc = bootstrap_stats(value.values, real if m.uses_real else None, fake, count, 0, m._result)
    spent = time.time() - t0
    per = spent / count
    head = unc[value.primary]
    return {"metric": spec.name, "n": n, "value": value.value, "seconds_one_value": one,
            "replicates_run": count, "seconds_run": spent, "seconds_per_replicate": per,
            "seconds_for_requested": per * replicates, "projected": count < replicates,
            "std": head["std"], "lo": head["lo"], "hi": head["hi"], "peak_rss_mb": peak_rss_mb()}


def child_swd(num: int, repeats: int, redraw: str) -> dict:
    import torch
    from ganeval.metrics.swd import swd
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    real, fake = bench_data(num, 128)
    t0 = time.time()
    r = swd(real, fake, num_images=num, repeats=repeats, redraw=redraw)
    out = {"images": num, "repeats": repeats, "redraw": redraw if repeats else None, "seconds": time.time() - t0,
           "peak_rss_mb": peak_rss_mb(), "SWDx1e3_avg": r.value}
    if repeats:
        u = r.uncertainty["SWDx1e3_avg"]
        out.update(std=u["std"], lo=u["lo"], hi=u["hi"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--metrics", default="fid,is,kid,pr,dc")
    ap.add_argument("--max-seconds", type=float, default=600.0)
    ap.add_argument("--swd-images", type=int, default=2048)
    ap.add_argument("--swd-repeats", type=int, default=5)
    ap.add_argument("-o", "--output")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        kind, *rest = a.child
        res = (child_bootstrap(rest[0], int(rest[1]), int(rest[2]), float(rest[3])) if kind == "bootstrap"
               else child_swd(int(rest[0]), int(rest[1]), rest[2]))
        print(json.dumps(res))
        return
    me = os.path.abspath(__file__)
    out = {"machine": machine(), "threads": int(os.environ.get("BENCH_THREADS", "2")), "bootstrap": [], "swd": []}
    for metric in a.metrics.split(","):
        if metric:
            out["bootstrap"].append(run_child(me, ["--child", "bootstrap", metric, str(a.n), str(a.replicates),
                                                   str(a.max_seconds)]))
            print(json.dumps(out["bootstrap"][-1]), file=sys.stderr)
    if a.swd_images:
        for repeats, redraw in ((0, "patches"), (a.swd_repeats, "patches"), (a.swd_repeats, "directions")):
            out["swd"].append(run_child(me, ["--child", "swd", str(a.swd_images), str(repeats), redraw]))
            print(json.dumps(out["swd"][-1]), file=sys.stderr)
    text = json.dumps(out, indent=1)
    if a.output:
        from ganeval.io.fileio import atomic_write_text
        atomic_write_text(a.output, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
