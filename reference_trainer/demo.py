"""`make demo`: the main job end to end on built-in data, in a few minutes on 2 CPU cores.

1. builds the built-in real dataset (`shapes`: coloured discs, squares, triangles and rings
   on gradients, which a person can judge at a glance);
2. trains the reference ProGAN with the `cpu-tiny` preset, with ganeval hooks measuring SWD
   and MS-SSIM on the EMA generator during training;
3. evaluates the final EMA generator (SWD, MS-SSIM, and FID/IS when Inception weights are
   available; it says so when they are not);
4. writes the HTML report;
5. prints where everything is.

Every step runs the public command lines, exactly as a user would type them.
"""
from __future__ import annotations

import argparse
import glob
import os
import shlex
import signal
import subprocess
import sys
import time


class _Stopped(Exception):
    """A step failed or was interrupted; the child has already said why."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _run(cmd: list[str]) -> None:
    """Run one step as a child process; a failure or Ctrl-C stops the demo with its code.

    Ctrl-C in a terminal reaches the child too, which then stops on its own and says where
    its outputs are; the child is given a few seconds for that (and is sent SIGINT itself when
    only the demo got the signal), and is terminated only if it does not stop."""
    print("\n$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    child = subprocess.Popen(cmd)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        try:
            child.send_signal(signal.SIGINT)
            child.wait(timeout=10)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            child.terminate()
            child.wait()
        raise _Stopped(130) from None
    if code != 0:
        raise _Stopped(code)


def _inception_metrics() -> str:
    """',fid' (and ',is' when the weights have the classifier) if Inception weights are found."""
    from ganeval.errors import WeightsError
    from ganeval.inception.weights import load_inception
    try:
        _, info = load_inception(None, "cpu", allow_download=False)
    except WeightsError as e:
        print(f"\nInception weights: none found, so FID and IS are skipped.\n  {e}", flush=True)
        return ""
    print(f"\nInception weights: {info.path} ({info.format}, sha256 {info.sha256[:12]}...)", flush=True)
    if not info.has_logits:
        print("  these weights have no classifier layer: FID runs, IS is skipped.", flush=True)
    return ",fid" + (",is" if info.has_logits else "")


def main(argv: list[str] | None = None) -> int:
    try:
        return _demo(argv)
    except _Stopped as e:
        if e.code == 130:
            print("\ndemo interrupted; what it made so far is in its --out folder (rerun `make demo` to start again)",
                  file=sys.stderr, flush=True)
        return e.code
    except KeyboardInterrupt:  # between two steps
        print("\ndemo interrupted", file=sys.stderr, flush=True)
        return 130


def _demo(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="demo_out")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--num-real", type=int, default=4096)
    ap.add_argument("--eval-images", type=int, default=256)
    args = ap.parse_args(argv)
    t0 = time.time()
    py = sys.executable
    data, runs = os.path.join(args.out, "data"), os.path.join(args.out, "runs")
    samples, report = os.path.join(args.out, "samples"), os.path.join(args.out, "report")

    _run([py, "-m", "reference_trainer.dataset", "builtin", data, "--kind", "shapes",
          "--resolution", str(args.resolution), "--num", str(args.num_real)])
    _run([py, "-m", "reference_trainer", "train", "--preset", "cpu-tiny", "--data", data, "--out", runs,
          "--metrics", "swd,msssim"])
    run_dir = sorted(glob.glob(os.path.join(runs, "*")), key=os.path.getmtime)[-1]
    ckpts = sorted(glob.glob(os.path.join(run_dir, "*.pt")), key=os.path.getmtime)
    _run([py, "-m", "reference_trainer", "generate", ckpts[-1], samples, "--num", str(args.eval_images),
          "--seed", "123"])

    metrics = "swd,msssim" + _inception_metrics()
    final = os.path.join(run_dir, "final-metrics.json")
    real = os.path.join(data, f"res{args.resolution:04d}.npy")  # the cache's full-resolution level
    _run([py, "-m", "ganeval", "all", real, samples, "--metrics", metrics, "--num-images", str(args.eval_images),
          "-o", final])
    _run([py, "-m", "ganeval", "report", run_dir, "-o", report])

    print(f"\nDone in {time.time() - t0:.0f} s.")
    print(f"  training data     {data}")
    print(f"  run directory     {run_dir}  (config.json, log.jsonl, metrics.jsonl, fakes*.png, checkpoints)")
    print(f"  EMA samples       {samples}")
    print(f"  final metrics     {final}")
    print(f"  report            {os.path.join(report, 'index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
