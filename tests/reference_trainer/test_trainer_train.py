"""End-to-end training: phases, evaluator hook, exact resume, SIGKILL, 2-process gloo, CLI."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_trainer import checkpoint as ckpt
from reference_trainer.__main__ import main as cli
from reference_trainer.dataset import build_builtin
from reference_trainer.presets import make_config
from reference_trainer.train import train

from conftest import ROOT


# 16x16 final resolution (4 -> 8 -> 16), 128-image phases, 16-image minibatches: a round is
# 4 D steps of 16 = 64 images, so every kimg below is a round boundary.
TINY = dict(resolution=16, latent_size=16, fmap_base=64, fmap_max=32, lod_training_kimg=0.128,
            lod_transition_kimg=0.128, minibatch_base=16, total_kimg=0.64, tick_kimg_base=0.064,
            tick_kimg_dict={}, checkpoint_kimg=0.128, grid_size=[4, 2], metrics_kimg=0.256, builtin_num=64,
            G_smoothing=0.9)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(build_builtin(tmp_path_factory.mktemp("data"), 16, 64))


@pytest.fixture(scope="module")
def run(tmp_path_factory, data):
    calls = []

    def evaluator(generate, kimg):
        imgs = generate(torch.randn(3, 16))
        calls.append((kimg, tuple(imgs.shape), float(imgs.min()), float(imgs.max())))

    run_dir = tmp_path_factory.mktemp("run")
    last = train(make_config(None, dict(TINY, data=data)), run_dir, evaluator=evaluator, progress=False)
    return run_dir, last, calls


def test_trains_through_every_resolution(run):
    run_dir, last, _ = run
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert {line["resolution"] for line in log} == {4, 8, 16}
    assert any(0 < line["alpha"] < 1 for line in log)
    assert log[-1]["kimg"] == pytest.approx(0.64) and log[-1]["lod"] == 0.0
    for key in ("G_loss", "D_loss", "sec_per_kimg", "images_per_s", "peak_mem_mb"):
        assert all(np.isfinite(line[key]) for line in log)
    assert (run_dir / "config.json").is_file() and (run_dir / "fakes000000.png").is_file()


def test_checkpoint_is_complete_and_weights_only(run):
    run_dir, last, _ = run
    state = torch.load(last, weights_only=True)
    assert {"G", "D", "G_ema", "G_opt", "D_opt", "sampler", "state", "rng", "config"} <= set(state)
    assert state["state"]["cur_nimg"] == 640
    assert {"python", "numpy", "torch"} <= set(state["rng"][0])
    assert not list(run_dir.glob(".*.tmp*"))  # atomic writes leave no temp files


def test_evaluator_gets_full_resolution_g_ema_images(run):
    _, _, calls = run
    assert [c[0] for c in calls] == [0.256, 0.512, 0.64]
    assert all(c[1] == (3, 3, 16, 16) and -1 <= c[2] and c[3] <= 1 for c in calls)


def _states_equal(a, b):
    for key in ("G", "D", "G_ema"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), f"{key}.{name} differs"
    for key in ("G_opt", "D_opt"):
        for pid, s in a[key]["state"].items():
            for name, t in s.items():
                assert torch.equal(t, b[key]["state"][pid][name]), f"{key}.{pid}.{name} differs"


def test_resume_is_exact(tmp_path, data):
    cfg = dict(TINY, data=data, mirror_augment=True, total_kimg=0.384, metrics_kimg=None)
    full = train(make_config(None, cfg), tmp_path / "full", progress=False)
    # Stop mid-fade: the 8 -> 16 fade runs over 0.128..0.256 kimg, so the round resumed at
    # 0.192 kimg has lod 2 - 0.064 / 0.128 = 1.5 (alpha 0.5); then resume to the same end point.
    train(make_config(None, dict(cfg, total_kimg=0.192)), tmp_path / "part", progress=False)
    half = ckpt.load(ckpt.latest(tmp_path / "part"))
    assert half["state"]["cur_nimg"] == 192
    resumed = train(make_config(None, cfg), tmp_path / "part", resume=tmp_path / "part", progress=False)
    _states_equal(ckpt.load(full), ckpt.load(resumed))


def test_sigkill_leaves_a_loadable_checkpoint(tmp_path, data):
    cmd = [sys.executable, "-m", "reference_trainer", "train", "--preset", "cpu-tiny", "--data", "builtin",
           "--out", str(tmp_path), "--set", "checkpoint_kimg=0.256", "--set", "total_kimg=1000",
           "--set", "builtin_num=256"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(list(tmp_path.glob("*/network-snapshot-*.pt"))) < 2:
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    snaps = sorted(tmp_path.glob("*/network-snapshot-*.pt"))
    assert snaps, "no checkpoint written within 60 s"
    state = torch.load(snaps[-1], weights_only=True)
    assert state["state"]["cur_nimg"] >= 256
    # ... and the killed run resumes from it.
    end_kimg = state["state"]["cur_nimg"] / 1000 + 0.256
    assert cli(["train", "--resume", str(snaps[-1].parent), "--set", f"total_kimg={end_kimg}"]) == 0
    assert ckpt.load(ckpt.latest(snaps[-1].parent))["state"]["cur_nimg"] >= end_kimg * 1000


def _ddp_worker(rank, world, port, data, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    train(make_config(None, dict(TINY, data=data, total_kimg=0.256, metrics_kimg=None)), out, device="cpu",
          progress=False)
    Path(out, f"rank{rank}.done").touch()  # training, its final barrier included, finished on this rank
    torch.distributed.destroy_process_group()


def test_two_process_gloo(tmp_path, data):
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        mp.spawn(_ddp_worker, args=(2, port, data, str(tmp_path)), nprocs=2, join=True)
    except mp.ProcessExitedException:
        # gloo sometimes aborts a process while tearing the group down ("terminate called without
        # an active exception") after all work is done; only a failure before that fails the test.
        if not all((tmp_path / f"rank{r}.done").exists() for r in range(2)):
            raise
    state = ckpt.load(ckpt.latest(tmp_path))
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["state"]["cur_nimg"] == 256
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # per-rank latent streams
    sums = state["rank_G_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]  # averaged gradients keep the replicas identical


def test_cli_generate_and_interpolate(run, tmp_path):
    _, last, _ = run
    assert cli(["generate", str(last), str(tmp_path / "g"), "--num", "5", "--seed", "1"]) == 0
    pngs = sorted((tmp_path / "g").glob("*.png"))
    assert len(pngs) == 5
    from PIL import Image
    assert Image.open(pngs[0]).size == (16, 16)
    assert cli(["interpolate", str(last), str(tmp_path / "i.png"), "--steps", "5", "--rows", "2"]) == 0
    assert Image.open(tmp_path / "i.png").size == (5 * 16, 2 * 16)


def test_cli_bad_data_is_one_line_error(tmp_path, capsys):
    assert cli(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 1
    assert "missing" in capsys.readouterr().err


def test_cli_train_with_ganeval_evaluator(tmp_path, data):
    sets = [f"{k}={json.dumps(v)}" for k, v in dict(TINY, total_kimg=0.256, metrics_kimg=0.128).items()]
    args = ["train", "--data", data, "--out", str(tmp_path), "--metrics", "swd", "--metrics-num", "64"]
    assert cli(args + sum((["--set", s] for s in sets), [])) == 0
    run_dir = next(tmp_path.glob("00000-*"))
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all("swd" in json.dumps(line).lower() for line in lines)
