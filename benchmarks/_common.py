"""Shared plumbing for the benchmark scripts: data, timing, peak memory, JSON out."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np


def bench_data(num: int, resolution: int, cache_dir: str | None = None) -> tuple[str, str]:
    """Two .npy files of built-in photo crops (sharp 'real', degraded 'fake'), made once."""
    from ganeval.io.samples import photo_crops
    d = cache_dir or os.path.join(tempfile.gettempdir(), "ganeval-bench")
    os.makedirs(d, exist_ok=True)
    paths = (os.path.join(d, f"real-{num}-{resolution}.npy"), os.path.join(d, f"fake-{num}-{resolution}.npy"))
    if not os.path.exists(paths[1]):
        np.save(paths[0], photo_crops(num, resolution, seed=1))
        np.save(paths[1], photo_crops(num, resolution, seed=2, blur_sigma=1.0, noise_sigma=6.0))
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict:
    import platform

    import torch
    info = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_child(script: str, args: list[str]) -> dict:
    """Run one measurement in a fresh process so that its peak RSS is its own."""
    p = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def load_reference_module(ref_dir: str, name: str):
    """Import one module of the original ProGAN metrics folder from a local checkout."""
    import importlib.util
    import types

    import scipy.ndimage
    sys.modules.setdefault("scipy.ndimage.filters", types.ModuleType("scipy.ndimage.filters"))
    sys.modules["scipy.ndimage.filters"].convolve = scipy.ndimage.convolve  # removed alias in new scipy
    spec = importlib.util.spec_from_file_location(name, os.path.join(ref_dir, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def npy_batches(path: str, batch: int = 256):
    """Stream a uint8 .npy by plain reads (no mmap: mapped pages would count as our RSS)."""
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read(f)
        per = int(np.prod(shape[1:]))
        for s in range(0, shape[0], batch):
            n = min(batch, shape[0] - s)
            yield np.frombuffer(f.read(n * per), np.uint8).reshape((n,) + tuple(shape[1:]))


def npy_len(path: str) -> int:
    return int(np.load(path, mmap_mode="r").shape[0])
