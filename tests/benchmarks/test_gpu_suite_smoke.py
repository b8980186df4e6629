"""The GPU verification suite (benchmarks/gpu_suite.py) on CPU at tiny sizes, so it never rots.

`make gpu-suite` runs the full suite on a GPU; here the same code paths (parity, timings,
trainer, distributed CLI, torch-fidelity, progressive-vs-direct) run with ``--device cpu --tiny`` in well under a
minute on two cores.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "benchmarks" / "gpu_suite.py"
SECTIONS = ("parity", "timings", "trainer", "distributed_cli", "torch_fidelity", "progressive")


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-suite")
    # One thread for torch and OpenBLAS: on a 2-core machine shared with other jobs, spinning
    # worker threads made this 3-4x slower (scipy's threaded eigh, the FID step, 10-15x); the
    # test times nothing, it checks that every code path runs and reports.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.run([sys.executable, str(SUITE), "--device", "cpu", "--tiny", "--out", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=str(REPO), env=env)
    return p, out


@pytest.mark.slow
def test_cpu_tiny_suite_runs_and_writes_its_reports(suite_run):
    p, out = suite_run
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    jsons = sorted(out.glob("gpu-suite-*.json"))
    assert len(jsons) == 1, sorted(x.name for x in out.iterdir())
    assert jsons[0].name.endswith("-tiny.json")
    assert not list(out.glob("*.tmp")), "atomic writes leave no temp files"
    doc = json.loads(jsons[0].read_text())
    assert doc["exit_code"] == 0 and doc["failed_checks"] == []
    for key in ("device_name", "torch", "cpu_count"):
        assert doc["machine"][key], key
    assert doc["tolerances"]["swd"]["rel"] == 1e-3 and doc["tolerances"]["msssim"]["abs"] == 1e-5

    # Every section, and every item in it, has a status.
    for name in SECTIONS:
        section = doc["sections"][name]
        assert section["status"] and section["status"] != "pending", name
        assert section["items"], name
        for key, item in section["items"].items():
            assert isinstance(item.get("status"), str) and item["status"], (name, key)
            assert not item["status"].startswith("error"), (name, key, item["status"])

    # Parity on CPU: every metric passes (IS only where the weights have a classifier).
    parity = doc["sections"]["parity"]
    assert parity["status"] == "pass"
    for metric in ("swd", "msssim", "fid", "kid", "pr", "tf32_flags"):
        assert parity["items"][metric]["status"] == "pass", (metric, parity["items"][metric])
    is_status = parity["items"]["is"]["status"]
    assert is_status == "pass" or is_status == "skipped: weights have no classifier", is_status
    assert parity["items"]["tf32_flags"]["set_by_caller"] == {"matmul_allow_tf32": True, "cudnn_allow_tf32": True}

    # Timings ran with a time and a peak memory; the trainer measured each tiny resolution in fp32.
    # (On a badly overloaded machine the suite's own time budget may skip late items; that is
    # its documented behaviour, not a failure.)
    timings = doc["sections"]["timings"]["items"]
    assert any(k.startswith("swd_") for k in timings) and any(k.startswith("fid_") for k in timings)
    assert timings[next(k for k in timings if k.startswith("swd_"))]["status"] == "ok"
    for key, item in timings.items():
        assert item["status"] == "ok" or item["status"].startswith("skipped: budget"), (key, item["status"])
        if item["status"] == "ok":
            assert item["seconds"] > 0 and item["peak_mb"] > 0, key
    trainer = doc["sections"]["trainer"]["items"]
    for res in (4, 8, 16):
        item = trainer[f"fp32_{res}"]
        assert item["status"] == "ok" or item["status"].startswith("skipped: budget"), (res, item["status"])
        if item["status"] == "ok":
            assert item["images_per_s"] > 0 and item["minibatch"] == 128
    assert trainer["bf16"]["status"].startswith("skipped")  # CUDA-only autocast
    assert trainer["nccl_2gpu"]["status"].startswith("skipped")

    md = jsons[0].with_suffix(".md")
    text = md.read_text()
    assert md.exists() and "| metric | value | device | CPU |" in text
    for heading in ("## 1. Parity", "## 2. Timings", "## 3. Trainer", "## 4. Distributed CLI", "## 5. torch-fidelity"):
        assert heading in text, heading


def test_cuda_without_cuda_is_a_usage_error(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    p = subprocess.run([sys.executable, str(SUITE), "--device", "cuda", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert p.returncode == 2 and "CUDA is not available" in p.stderr
    assert not list(tmp_path.iterdir())
