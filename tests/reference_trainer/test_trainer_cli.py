"""The trainer's command lines: click groups behind ganeval's error boundary, up-front checks
(device, --set, metrics, resolution), resume past a torn checkpoint, and default metrics."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import reference_trainer.dataset as dataset_mod
from ganeval.cli.boundary import BoundaryGroup
from reference_trainer import checkpoint as ckpt
from reference_trainer.__main__ import main
from reference_trainer.dataset import _main as dataset_main
from reference_trainer.dataset import build_builtin, write_cache
from reference_trainer.presets import make_config, parse_set
from reference_trainer.train import train

from conftest import write_pngs

ROOT = Path(__file__).resolve().parents[2]

# 4x4 only (no growing), 64-image minibatches: 16 D steps per kimg, so a run to 1.024 kimg
# takes a moment and leaves two snapshot files (kimg 0 at 512 images, kimg 1 at 1024).
MICRO = dict(resolution=4, latent_size=8, fmap_base=32, fmap_max=16, minibatch_base=64, minibatch_dict={},
             total_kimg=1.024, tick_kimg_base=0.512, tick_kimg_dict={}, checkpoint_kimg=0.512, grid_size=[2, 2],
             metrics_kimg=None, builtin_num=64, G_smoothing=0.9)


def _sets(cfg):
    return sum((["--set", f"{k}={json.dumps(v)}"] for k, v in cfg.items()), [])


def _one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(build_builtin(tmp_path_factory.mktemp("data4"), 4, 64))


@pytest.fixture(scope="module")
def run(tmp_path_factory, data):
    run_dir = tmp_path_factory.mktemp("micro") / "run"
    train(make_config(None, dict(MICRO, data=data)), run_dir, progress=False)
    return run_dir


# 1. click groups behind the shared boundary ---------------------------------------------------

def test_both_command_lines_are_boundary_groups_with_debug_everywhere():
    from reference_trainer.__main__ import cli
    for group, names in ((cli, {"train", "generate", "interpolate"}), (dataset_mod.cli, {"build", "builtin"})):
        assert isinstance(group, BoundaryGroup)
        assert set(group.commands) == names
        assert "--debug" in sum((p.opts for p in group.params), [])
        for cmd in group.commands.values():
            assert "--debug" in sum((p.opts for p in cmd.params), []), cmd.name


def test_option_names_and_defaults_are_kept():
    from reference_trainer.__main__ import cli

    def defaults(cmd):
        return {p.opts[0] if p.opts[0].startswith("--") else p.name: p.default for p in cmd.params}

    t = defaults(cli.commands["train"])
    assert t["--preset"] == "cpu-tiny" and t["--out"] == "runs" and t["--metrics-num"] == 1024
    assert {"--data", "--set", "--resume", "--metrics", "--metrics-kimg", "--seed", "--device"} <= set(t)
    g, i = defaults(cli.commands["generate"]), defaults(cli.commands["interpolate"])
    assert (g["--num"], g["--seed"], i["--steps"], i["--rows"], i["--seed"]) == (16, 0, 8, 4, 0)
    b = defaults(dataset_mod.cli.commands["builtin"])
    assert (b["--resolution"], b["--num"], b["--seed"]) == (32, 2048, 0)
    assert {"--resolution", "--mirror", "--num"} <= set(defaults(dataset_mod.cli.commands["build"]))


def test_help_and_usage_exit_codes(capsys):
    assert main(["-h"]) == 0 and "train" in capsys.readouterr().out
    assert main(["train", "--help"]) == 0 and "--metrics-num" in capsys.readouterr().out
    assert dataset_main(["builtin", "-h"]) == 0 and "--resolution" in capsys.readouterr().out
    assert main(["train", "--bogus"]) == 2
    assert "--bogus" in _one_line(capsys.readouterr().err)
    assert main(["train", "--preset", "nope"]) == 2
    assert "nope" in _one_line(capsys.readouterr().err)
    assert main(["generate"]) == 2
    _one_line(capsys.readouterr().err)


def test_missing_file_is_one_line_exit_1_and_debug_shows_the_traceback(tmp_path, capsys):
    missing = str(tmp_path / "missing.pt")
    assert main(["generate", missing, str(tmp_path / "g")]) == 1
    assert "missing.pt" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "g").exists()
    with pytest.raises(FileNotFoundError):
        main(["--debug", "generate", missing, str(tmp_path / "g")])
    with pytest.raises(FileNotFoundError):
        main(["interpolate", missing, str(tmp_path / "i.png"), "--debug"])
    assert dataset_main(["build", str(tmp_path / "nope"), str(tmp_path / "c")]) == 1
    assert "nope" in _one_line(capsys.readouterr().err)
    with pytest.raises(Exception):
        dataset_main(["build", str(tmp_path / "nope"), str(tmp_path / "c"), "--debug"])


def test_python_m_entry_points(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "reference_trainer", "-h"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "interpolate" in r.stdout
    r = subprocess.run([sys.executable, "-m", "reference_trainer.dataset", "builtin", str(tmp_path / "d"),
                        "--resolution", "3"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "3" in _one_line(r.stderr)
    assert not (tmp_path / "d").exists()


# 2. --device ---------------------------------------------------------------------------------

BAD_DEVICES = ["nonsense", "meta"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"])


@pytest.mark.parametrize("device", BAD_DEVICES)
def test_unusable_device_is_a_usage_error_before_any_work(tmp_path, capsys, monkeypatch, device):
    import reference_trainer.train as train_mod

    def no_work(*a, **k):
        raise AssertionError("training started")
    monkeypatch.setattr(train_mod, "train", no_work)
    monkeypatch.setattr(train_mod, "setup_distributed", no_work)
    assert main(["train", "--device", device, "--out", str(tmp_path / "runs")]) == 2
    assert device in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()
    assert main(["generate", str(tmp_path / "x.pt"), str(tmp_path / "g"), "--device", device]) == 2
    assert device in _one_line(capsys.readouterr().err)


# 3. --resume past a torn checkpoint ----------------------------------------------------------

def test_resume_falls_back_past_a_truncated_newest_checkpoint(run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(run, run_dir)
    snaps = ckpt.snapshots(run_dir)
    assert [p.name for p in snaps] == ["network-snapshot-000000.pt", "network-snapshot-000001.pt"]
    size = snaps[-1].stat().st_size
    with open(snaps[-1], "r+b") as f:
        f.truncate(size // 2)
    assert main(["train", "--resume", str(run_dir), "--set", "total_kimg=1.024", "--metrics", "none"]) == 0
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if "network-snapshot-000001.pt" in line]
    assert len(skipped) == 1 and "network-snapshot-000000.pt" in skipped[0], err
    # Resumed from the 512-image snapshot and trained on to 1024 images, rewriting the torn file.
    assert ckpt.load(ckpt.latest(run_dir))["state"]["cur_nimg"] == 1024


@pytest.mark.parametrize("kind", ["empty", "not-a-run", "missing", "all-torn"])
def test_resume_without_a_loadable_checkpoint_is_one_line_exit_1(run, tmp_path, capsys, kind):
    target = tmp_path / "target"
    if kind == "empty":
        target.mkdir()
    elif kind == "not-a-run":
        target.mkdir()
        (target / "notes.txt").write_text("hello")
    elif kind == "all-torn":
        target.mkdir()
        (target / "network-snapshot-000003.pt").write_bytes(b"PK\x03\x04 torn")
    before = sorted(p.name for p in target.iterdir()) if target.exists() else None
    assert main(["train", "--resume", str(target), "--metrics", "none"]) == 1
    assert "target" in _one_line(capsys.readouterr().err)
    assert (sorted(p.name for p in target.iterdir()) if target.exists() else None) == before  # nothing added


# 4. --set, data size, clean failure, non-checkpoints ------------------------------------------

def test_unknown_set_key_lists_close_matches(tmp_path, capsys):
    assert main(["train", "--set", "totl_kimg=1", "--out", str(tmp_path / "runs")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "totl_kimg" in line and "total_kimg" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("item", ["total_kimg=abc", "builtin_num=2.5", "amp=1", "grid_size=3", "resolution=12",
                                  "seed=null", "minibatch_dict=[1]", "loss=hinge", "latent_size=true", "nokey"])
def test_set_values_are_type_checked(tmp_path, capsys, item):
    assert main(["train", "--set", item, "--out", str(tmp_path / "runs")]) == 2
    assert item.split("=")[0] in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


def test_set_accepts_what_the_defaults_allow():
    cfg = make_config("cpu-tiny", parse_set(["keep_checkpoints=null", "keep_checkpoints=3", "mirror_augment=true",
                                             "total_kimg=5", "wgan_lambda=10", "data=2024", "loss=lsgan",
                                             'minibatch_dict={"4": 8}', "grid_size=[3, 2]", "metrics_kimg=null"]))
    assert cfg["keep_checkpoints"] == 3 and cfg["mirror_augment"] is True and cfg["total_kimg"] == 5
    assert cfg["data"] == "2024" and cfg["loss"] == "lsgan" and cfg["minibatch_dict"] == {"4": 8}
    assert cfg["metrics_kimg"] is None
    from ganeval.errors import UsageError
    with pytest.raises(UsageError, match="total_kimg"):
        make_config(None, {"totl_kimg": 3})
    with pytest.raises(UsageError, match="builtin_num"):
        make_config(None, {"builtin_num": "many"})


def test_fewer_images_than_a_minibatch_is_an_error_and_leaves_no_run_dir(tmp_path, capsys):
    write_cache(iter([np.zeros((8, 3, 4, 4), np.uint8)]), 8, 4, tmp_path / "eight")
    out = tmp_path / "runs"
    assert main(["train", "--data", str(tmp_path / "eight"), "--out", str(out), "--metrics", "none"]
                + _sets(dict(MICRO, minibatch_base=16))) == 1
    line = _one_line(capsys.readouterr().err)
    assert "eight" in line and "minibatch" in line and "8" in line
    assert not out.exists() or not list(out.iterdir())


def test_failed_start_leaves_no_run_directory(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 1
    assert "missing" in _one_line(capsys.readouterr().err)
    assert not out.exists() or not list(out.iterdir())
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 1
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def _inception_like(path):
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, path)


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _png(path):
    from PIL import Image
    Image.new("RGB", (8, 8)).save(path, format="PNG")


@pytest.mark.parametrize("make", [_inception_like, _random_bytes, _png], ids=["state-dict", "random", "png"])
@pytest.mark.parametrize("cmd", ["generate", "interpolate"])
def test_generate_on_a_non_checkpoint_is_one_line_exit_1(tmp_path, capsys, make, cmd):
    bad = tmp_path / "model.pt"
    make(bad)
    assert main([cmd, str(bad), str(tmp_path / "out")]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "model.pt" in line and "checkpoint" in line and "weights_only=False" not in line
    assert not (tmp_path / "out").exists()


def test_generate_on_a_truncated_checkpoint_is_one_line_exit_1(run, tmp_path, capsys):
    torn = tmp_path / "torn.pt"
    torn.write_bytes(ckpt.latest(run).read_bytes()[:5000])
    assert main(["generate", str(torn), str(tmp_path / "out")]) == 1
    assert "torn.pt" in _one_line(capsys.readouterr().err)


# 5. dataset tool -----------------------------------------------------------------------------

@pytest.mark.parametrize("res", ["3", "12", "2", "0"])
def test_dataset_resolution_must_be_a_power_of_two(tmp_path, capsys, res):
    assert dataset_main(["builtin", str(tmp_path / "d"), "--resolution", res]) == 2
    assert res in _one_line(capsys.readouterr().err)
    assert dataset_main(["build", str(tmp_path), str(tmp_path / "c"), "--resolution", res]) == 2
    assert res in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "d").exists() and not (tmp_path / "c").exists()


def _options(group, name):
    return set(sum((p.opts + p.secondary_opts for p in group.commands[name].params), []))


def _named_options(line):
    return set(re.findall(r"(?<![\w-])--[a-z][\w-]*", line))


def test_dataset_build_advice_names_only_its_own_options(tmp_path, capsys):
    own = _options(dataset_mod.cli, "build")
    broken = tmp_path / "broken"
    write_pngs(np.zeros((2, 3, 8, 8), np.uint8), broken)
    (broken / "zz.png").write_bytes(b"not a png")
    mixed = tmp_path / "mixed"
    write_pngs(np.zeros((2, 3, 8, 8), np.uint8), mixed)
    write_pngs(np.zeros((1, 3, 16, 16), np.uint8), mixed, prefix="z")
    nested = tmp_path / "nested"
    write_pngs(np.zeros((2, 3, 8, 8), np.uint8), nested / "sub")
    for src in (broken, mixed, nested):
        assert dataset_main(["build", str(src), str(tmp_path / f"c-{src.name}")]) == 1
        line = _one_line(capsys.readouterr().err)
        assert _named_options(line) <= own, line
    # The advice is true: the options it names make the build work.
    assert dataset_main(["build", str(broken), str(tmp_path / "c1"), "--skip-bad"]) == 0
    assert dataset_main(["build", str(mixed), str(tmp_path / "c2"), "--resolution", "8"]) == 0
    assert dataset_main(["build", str(nested), str(tmp_path / "c3"), "--recursive"]) == 0


def test_train_on_a_raw_folder_points_its_advice_at_the_dataset_tool(tmp_path, capsys):
    broken = tmp_path / "broken"
    write_pngs(np.zeros((2, 3, 8, 8), np.uint8), broken)
    (broken / "zz.png").write_bytes(b"not a png")
    out = tmp_path / "runs"
    assert main(["train", "--data", str(broken), "--out", str(out), "--metrics", "none"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "zz.png" in line and "--skip-bad" in line and "reference_trainer.dataset build" in line
    assert not out.exists()


def test_dataset_builtin_advice_names_only_its_own_options(tmp_path, capsys, monkeypatch):
    import skimage.data

    from ganeval.io.samples import PHOTOS

    def gone():
        raise OSError("not bundled")
    for name in PHOTOS:
        monkeypatch.setattr(skimage.data, name, gone)
    assert dataset_main(["builtin", str(tmp_path / "d"), "--resolution", "8", "--num", "4", "--kind", "photos"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert _named_options(line) <= _options(dataset_mod.cli, "builtin"), line


# 6. the trainer measures itself by default ----------------------------------------------------

def test_default_run_writes_swd_records_and_warns_about_a_small_set(tmp_path, capsys):
    # SWD needs 16x16: the same micro networks, trained at 16x16 from the start.
    data16 = str(build_builtin(tmp_path / "data16", 16, 64))
    out = tmp_path / "runs"
    cfg = dict(MICRO, resolution=16, lod_initial_resolution=16, minibatch_base=16, total_kimg=0.256,
               checkpoint_kimg=0.256, metrics_kimg=0.128)
    assert main(["train", "--data", data16, "--out", str(out), "--metrics-num", "32", "--metrics-repeats", "2"]
                + _sets(cfg)) == 0
    err = capsys.readouterr().err
    assert any("warning" in line and "64" in line and "1000" in line for line in err.splitlines()), err
    run_dir = next(out.glob("00000-*"))
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["metric"] for r in records] == ["swd", "swd"]
    assert [r["kimg"] for r in records] == [0.128, 0.256]
    assert all(np.isfinite(r["values"]["SWDx1e3_avg"]) for r in records)
    bars = [r["uncertainty"]["SWDx1e3_avg"] for r in records]  # --metrics-repeats 2
    assert all(b["n"] == 2 and b["method"] == "repeats" and b["lo"] <= b["hi"] for b in bars)


@pytest.mark.parametrize("args, match", [
    (["--metrics", "msssim", "--metrics-repeats", "2"], "--repeats 2: none of the metrics msssim takes it"),
    (["--metrics", "swd", "--metrics-bootstrap", "5"], "--bootstrap 5: none of the metrics swd takes it"),
    (["--metrics", "none", "--metrics-repeats", "3"], "no metrics for --metrics-repeats/--metrics-bootstrap given"),
    (["--metrics-repeats", "1"], "--metrics-repeats 1: give 0 .off. or at least 2"),
])
def test_error_bars_no_metric_takes_are_a_usage_error_before_training(data, tmp_path, capsys, args, match):
    out = tmp_path / "runs"
    assert main(["train", "--data", data, "--out", str(out)] + args + _sets(MICRO)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(match, err), err
    assert not out.exists() or not any(out.iterdir())


def test_metrics_none_writes_no_metrics(data, tmp_path):
    out = tmp_path / "runs"
    cfg = dict(MICRO, total_kimg=0.256, checkpoint_kimg=0.256, metrics_kimg=0.256)
    assert main(["train", "--data", data, "--out", str(out), "--metrics", "none"] + _sets(cfg)) == 0
    run_dir = next(out.glob("00000-*"))
    assert ckpt.latest(run_dir) is not None and not (run_dir / "metrics.jsonl").exists()


def test_metrics_the_resolution_is_too_small_for(data, tmp_path, capsys):
    out = tmp_path / "runs"
    cfg = dict(MICRO, total_kimg=0.256, checkpoint_kimg=0.256, metrics_kimg=0.256)
    # Asked for: a usage error before any work.
    assert main(["train", "--data", data, "--out", str(out), "--metrics", "swd"] + _sets(cfg)) == 2
    assert "4x4" in _one_line(capsys.readouterr().err) and not out.exists()
    # Only the default: the run trains, says why it is not measured, and writes no metrics.jsonl.
    assert main(["train", "--data", data, "--out", str(out)] + _sets(cfg)) == 0
    assert any(line.startswith("note:") and "swd" in line for line in capsys.readouterr().err.splitlines())
    assert not (next(out.glob("00000-*")) / "metrics.jsonl").exists()


def test_unknown_metric_is_a_usage_error(tmp_path, capsys):
    assert main(["train", "--metrics", "swd,sdw", "--out", str(tmp_path / "runs")]) == 2
    assert "sdw" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()
