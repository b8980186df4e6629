"""Trainer throughput against torch's CPU thread count, on an idle and on a loaded machine.

    python benchmarks/bench_threads.py                    # 1 and 2 threads, idle and loaded
    python benchmarks/bench_threads.py --threads 1,2,4 --kimg 0.5 --out results.json

Prints one JSON object.  Each measurement is one `python -m reference_trainer train --preset
cpu-tiny --threads N` process held at one resolution (4x4, where cpu-tiny starts, and 32x32,
where it ends) for `--kimg` thousand images; its images/s is the log's rate over the ticks
after the first.  "loaded" runs start one CPU-burning process per core first (and stop them
after), which is what a shared machine with other jobs looks like to torch's thread pool.
Configurations are interleaved, so slow drift in the machine's own load hits them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine  # noqa: E402

BURN = "while True: pass"


@contextmanager
def cpu_load(processes: int) -> Iterator[list[int]]:
    """Run `processes` busy-looping Python processes for the duration; yields their pids."""
    procs = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # let them reach the run queue before the measurement starts
        yield [p.pid for p in procs]
    finally:
        for p in procs:  # only the processes started here
            p.kill()
            p.wait()


def train_rate(data: str, threads: int, resolution: int, kimg: float, max_seconds: float) -> dict:
    """images/s of one trainer process at `resolution` with `threads` torch threads.

    A run still going after `max_seconds` is stopped and measured on the ticks it logged:
    a collapsed configuration (1.5 images/s was reported) would otherwise take many minutes.
    """
    sets = dict(lod_initial_resolution=resolution, lod_training_kimg=10 ** 6, total_kimg=kimg,
                tick_kimg_base=kimg / 8, tick_kimg_dict={}, checkpoint_kimg=10 ** 6, image_snapshot_ticks=10 ** 6)
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "reference_trainer", "train", "--preset", "cpu-tiny", "--data", data,
               "--out", out, "--metrics", "none", "--device", "cpu", "--threads", str(threads)]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={json.dumps(v)}"]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=max_seconds)
            stopped = False
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its handle
            proc.wait()
            stopped = True
        if not stopped and proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
        wall = time.time() - t0
        (run,) = [os.path.join(out, d) for d in os.listdir(out)]
        path = os.path.join(run, "log.jsonl")
        log = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
    if not log:  # not even one tick of kimg / 8 images in max_seconds
        return dict(images_per_s=None, below_images_per_s=round(kimg / 8 * 1000 / wall, 1), ticks=0,
                    wall_s=round(wall, 1), stopped=True)
    steady = log[1:] or log  # the first tick holds the warm-up
    assert all(t["threads"] == threads for t in log), "the trainer did not apply --threads"
    first, last = log[0], log[-1]
    rate = ((last["kimg"] - first["kimg"]) * 1000 / (last["total_time_s"] - first["total_time_s"])
            if len(log) > 1 else first["images_per_s"])
    return dict(images_per_s=round(rate, 1), ticks=len(steady), wall_s=round(wall, 1), stopped=stopped)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="Comma list of thread counts.")
    ap.add_argument("--resolutions", default="4,32", help="Comma list of training resolutions.")
    ap.add_argument("--kimg", type=float, default=0.4, help="Thousand images per measurement.")
    ap.add_argument("--max-seconds", type=float, default=30, help="Stop a run after this long.")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 1, help="Busy processes in the loaded runs.")
    ap.add_argument("--loads", default="none,busy", help="Comma list: none (as found), busy (burners added).")
    ap.add_argument("--rounds", type=int, default=1, help="Repeat every configuration (interleaved).")
    ap.add_argument("--out", default=None, help="Also write the JSON here.")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    resolutions = [int(r) for r in args.resolutions.split(",")]
    t_start = time.time()
    data = tempfile.mkdtemp(prefix="bench-threads-")
    subprocess.run([sys.executable, "-m", "reference_trainer.dataset", "builtin", data, "--resolution", "32",
                    "--num", "1024"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    for rnd in range(args.rounds):
        for loaded in [name == "busy" for name in args.loads.split(",")]:
            for res in resolutions:
                for n in threads:
                    load_before = os.getloadavg()[0]
                    if loaded:
                        with cpu_load(args.load):
                            r = train_rate(data, n, res, args.kimg, args.max_seconds)
                    else:
                        r = train_rate(data, n, res, args.kimg, args.max_seconds)
                    runs.append(dict(round=rnd, load="busy x%d" % args.load if loaded else "none added",
                                     resolution=res, threads=n, loadavg_1min_before=round(load_before, 2), **r))
                    print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    summary: dict[str, dict[str, float]] = {}
    for r in runs:
        key = f"{r['resolution']}x{r['resolution']} {r['load']}"
        summary.setdefault(key, {})
        best = summary[key].get(f"{r['threads']} threads", 0.0)
        summary[key][f"{r['threads']} threads"] = max(best, r["images_per_s"] or 0.0)  # best of the rounds
    report = dict(benchmark="threads", machine=machine(), command="python benchmarks/bench_threads.py " +
                  " ".join(argv if argv is not None else sys.argv[1:]), kimg_per_run=args.kimg,
                  summary_images_per_s=summary, runs=runs, seconds=round(time.time() - t_start, 1))
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
