"""SWD speed and peak memory, ganeval against the original ProGAN code when it is given.

    python benchmarks/bench_swd.py --num 2048 --resolution 128 [--reference-dir PATH/metrics]
    python benchmarks/bench_swd.py --whole-process --rounds 3 --reference-dir PATH/metrics [-o FILE]

Prints one JSON object: seconds, images/s (both sets counted) and peak RSS per
implementation, each measured in its own process, and the speed-up.

``--whole-process`` times what a user waits for: from the same two PNG folders (written once
from the built-in photo crops) to the printed number, each run a fresh process timed from
its start to its exit (interpreter, imports, decoding, everything).  ganeval runs as its CLI,
``python -m ganeval swd REAL FAKE``; the reference runs a small driver that decodes the
PNGs with PIL in minibatches of 64 and feeds its ``API`` (as its own ``train.py`` does).
Runs are interleaved (ganeval, reference, ganeval, ...) for ``--rounds`` rounds, so load from
other work on a shared machine falls on both alike; the speed-up is taken from each side's
fastest run, and every run's time is kept.
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


def _png_dirs(num: int, resolution: int) -> tuple[str, str]:
    """PNG folders of the benchmark crops (written once next to the .npy files)."""
    from PIL import Image
    out = []
    for path in bench_data(num, resolution):
        d = path[:-4] + "-png"
        if not os.path.isdir(d) or len(os.listdir(d)) < num:
            os.makedirs(d, exist_ok=True)
            for i, im in enumerate(np.load(path)):
                Image.fromarray(np.ascontiguousarray(im.transpose(1, 2, 0))).save(os.path.join(d, f"{i:05d}.png"))
        out.append(d)
    return out[0], out[1]


def _reference_png(real: str, fake: str, ref_dir: str) -> None:
    """The reference's whole process on PNG folders: decode with PIL, feed its API, print."""
    from PIL import Image
    mod = load_reference_module(ref_dir, "sliced_wasserstein")
    np.random.seed(0)
    names = [sorted(os.listdir(d)) for d in (real, fake)]
    first = np.asarray(Image.open(os.path.join(real, names[0][0])))
    api = mod.API(len(names[0]), (3,) + first.shape[:2], np.uint8, 64)
    for mode, d, files in (("reals", real, names[0]), ("fakes", fake, names[1])):
        api.begin(mode)
        for s in range(0, len(files), 64):
            batch = np.stack([np.asarray(Image.open(os.path.join(d, f)).convert("RGB")) for f in files[s:s + 64]])
            api.feed(mode, batch.transpose(0, 3, 1, 2))
        res = api.end(mode)
    print(json.dumps(dict(zip(api.get_metric_names(), map(float, res)))))


def _timed(cmd: list[str]) -> dict:
    """Run `cmd` to completion: wall seconds from spawn to exit, its peak RSS, its last stdout line."""
    import subprocess
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    sec = time.time() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out, err = p.stdout.read(), p.stderr.read()
    if p.returncode != 0:
        raise RuntimeError(err[-2000:])
    return {"seconds": sec, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024.0,
            "values": json.loads(out)}


def floor(real: str, num: int, resolution: int) -> dict:
    """What any implementation of the protocol pays at these sizes on this machine, each part
    at its fastest known CPU form: numpy's SIMD quicksort of every projection row (two
    threads), OpenBLAS's GEMM of every projection, and PIL decoding of every PNG (one thread,
    then halved for two).  Levels x 512 directions x (num x 128) descriptors per set."""
    import concurrent.futures
    from PIL import Image
    from ganeval.metrics import swd as S
    from ganeval.metrics.pyramid import pyramid_resolutions
    levels = len(pyramid_resolutions(resolution, resolution))
    rows, dims = num * S.NHOODS_PER_IMAGE, 3 * S.NHOOD_SIZE ** 2
    total_dirs, dirs = S.DIR_REPEATS * S.DIRS_PER_REPEAT, 128  # one chunk of directions, timed, then scaled
    rng = np.random.default_rng(0)
    x = rng.standard_normal((dirs, rows), dtype=np.float32)
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: x[i].sort(kind="quicksort"), range(dirs)))
    sort_s = (time.perf_counter() - t) * (total_dirs // dirs) * 2 * levels
    a, w = rng.standard_normal((rows, dims), dtype=np.float32), rng.standard_normal((dirs, dims), dtype=np.float32)
    t = time.perf_counter()
    np.matmul(w, a.T, out=x)
    gemm_s = (time.perf_counter() - t) * (total_dirs // dirs) * 2 * levels
    names = sorted(os.listdir(real))[:512]
    t = time.perf_counter()
    for name in names:
        np.asarray(Image.open(os.path.join(real, name)).convert("RGB"))
    decode_s = (time.perf_counter() - t) * (2 * num / len(names)) / 2
    return {"sort_s": sort_s, "projection_gemm_s": gemm_s, "decode_s_two_threads": decode_s,
            "sum_s": sort_s + gemm_s + decode_s,
            "note": "lower bound without the interpreter, imports, pyramid, patch gather and normalisation"}


def whole_process(args: argparse.Namespace) -> dict:
    real, fake = _png_dirs(args.num, args.resolution)
    cmds = {"ganeval": [sys.executable, "-m", "ganeval", "swd", real, fake, "--device", args.device, "-q", "--json"]}
    if args.reference_dir:
        cmds["reference"] = [sys.executable, os.path.abspath(__file__), "--reference-png", real, fake,
                             "--reference-dir", args.reference_dir]
    runs: dict[str, list[dict]] = {k: [] for k in cmds}
    for _ in range(args.rounds):
        for impl, cmd in cmds.items():
            runs[impl].append(_timed(cmd))
            print(impl, json.dumps({k: v for k, v in runs[impl][-1].items() if k != "values"}), file=sys.stderr)
    result = {"benchmark": "swd-whole-process", "num_images_per_set": args.num, "resolution": args.resolution,
              "device": args.device, "input": "PNG folders", "rounds": args.rounds, "machine": machine()}
    for impl, rs in runs.items():
        best = min(rs, key=lambda r: r["seconds"])
        values = best["values"]
        if impl == "ganeval":
            values = values.get("values", values)
        result[impl] = {"seconds_min": best["seconds"], "seconds_all": [r["seconds"] for r in rs],
                        "cpu_seconds_of_fastest": best["cpu_seconds"],
                        "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "values": values}
    if "reference" in result:
        result["speedup"] = result["reference"]["seconds_min"] / result["ganeval"]["seconds_min"]
    result["floor"] = floor(real, args.num, args.resolution)
    if "reference" in result:
        result["floor"]["best_possible_speedup"] = result["reference"]["seconds_min"] / result["floor"]["sum_s"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=2048)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--reference-dir", default=None, help="metrics/ folder of tkarras/progressive_growing_of_gans")
    ap.add_argument("--whole-process", action="store_true", help="time both from PNG folders, process start to exit")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds for --whole-process")
    ap.add_argument("-o", "--output", help="also write the JSON result here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reference-png", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference_png:  # before anything imports torch: the reference never does
        _reference_png(*args.reference_png, args.reference_dir)
        return
    if args.device is None:
        args.device = "cuda" if __import__("torch").cuda.is_available() else "cpu"
    if args.whole_process:
        text = json.dumps(whole_process(args), indent=2)
        if args.output:
            sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            from ganeval.io.fileio import atomic_write_text
            atomic_write_text(args.output, text + "\n")
        print(text)
        return
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
