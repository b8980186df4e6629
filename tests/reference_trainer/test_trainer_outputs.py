"""The trainer's outputs and inputs that used to fail late or silently (issue 19): seeds out of
range, output paths that cannot be written (exit 2, as in ganeval), `generate` streaming its
latents and checking the free space, hand-edited config.json on --resume, and the progress
bar of a run shorter than one tick."""
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval.errors import UsageError
from reference_trainer import checkpoint as ckpt
from reference_trainer.__main__ import main
from reference_trainer.dataset import _main as dataset_main
from reference_trainer.dataset import build_builtin
from reference_trainer.presets import make_config
from reference_trainer.sampling import DRAW_ROWS, latent_batches, sample_batches, to_pixels
from reference_trainer.train import train

MICRO = dict(resolution=4, latent_size=8, fmap_base=32, fmap_max=16, minibatch_base=64, minibatch_dict={},
             total_kimg=0.512, tick_kimg_base=0.512, tick_kimg_dict={}, checkpoint_kimg=0.512, grid_size=[2, 2],
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
    last = train(make_config(None, dict(MICRO, data=data)), run_dir, progress=False)
    return run_dir, last


# -- item 9: seeds ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", ["-1", str(2 ** 32), str(2 ** 63)])
def test_a_seed_out_of_range_is_a_usage_error_on_every_trainer_command(tmp_path, capsys, run, data, seed):
    _, last = run
    out = tmp_path / "out"
    micro = ["--data", data, "--metrics", "none"] + _sets(MICRO)  # were it accepted, a short run
    for argv in (["train", "--seed", seed, "--out", str(out), *micro],
                 ["train", "--set", f"seed={seed}", "--out", str(out), *micro],
                 ["generate", str(last), str(out), "--seed", seed],
                 ["interpolate", str(last), str(out / "i.png"), "--seed", seed]):
        assert main(argv) == 2, argv
        line = _one_line(capsys.readouterr().err)
        assert "seed" in line and seed in line, line
    assert dataset_main(["builtin", str(out), "--seed", seed]) == 2
    assert "--seed" in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_train_api_refuses_a_seed_out_of_range(tmp_path, data):
    with pytest.raises(UsageError, match="seed -1"):
        train(make_config(None, dict(MICRO, data=data, seed=-1)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# -- item 14: unwritable outputs exit 2 -------------------------------------------------------

def _unwritable(tmp_path):
    """Output paths no command can write: under a file, a device, and (for root too) a folder
    without write access."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    return {"under a file": afile / "sub", "a device": Path(os.devnull)}


@pytest.mark.parametrize("kind", ["under a file", "a device"])
def test_unwritable_trainer_and_dataset_outputs_are_usage_errors(tmp_path, capsys, run, data, kind):
    _, last = run
    target = _unwritable(tmp_path)[kind]
    for argv in (["train", "--data", data, "--out", str(target), "--metrics", "none", *_sets(MICRO)],
                 ["generate", str(last), str(target)],
                 ["interpolate", str(last), str(target if kind == "a device" else target / "i.png")]):
        assert main(argv) == 2, argv
        assert str(target) in _one_line(capsys.readouterr().err)
    for argv in (["build", data, str(target)], ["builtin", str(target), "--resolution", "4", "--num", "8"]):
        assert dataset_main(argv) == 2, argv
        assert str(target) in _one_line(capsys.readouterr().err)
    assert os.path.exists(os.devnull) and not os.path.isfile(os.devnull)


def test_a_read_only_output_folder_is_a_usage_error(tmp_path, capsys, monkeypatch, run, data):
    # chmod cannot take write access from root, so the access check itself says no.
    _, last = run
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(ro) else real_access(p, mode))
    for argv in (["train", "--data", data, "--out", str(ro / "runs"), "--metrics", "none", *_sets(MICRO)],
                 ["generate", str(last), str(ro / "g")]):
        assert main(argv) == 2
        assert "permission denied" in _one_line(capsys.readouterr().err)
    assert dataset_main(["builtin", str(ro / "c")]) == 2
    assert "permission denied" in _one_line(capsys.readouterr().err)
    run_copy = tmp_path / "run"
    shutil.copytree(run[0], run_copy)
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(run_copy) else real_access(p, mode))
    assert main(["train", "--resume", str(run_copy), "--metrics", "none"]) == 2
    assert "--resume" in _one_line(capsys.readouterr().err)
    assert list(ro.iterdir()) == []


# -- item 15: generate streams its latents and checks the space --------------------------------

@pytest.mark.parametrize("latent_size", [1, 3, 8, 24, 512])
def test_streamed_latents_are_exactly_one_draw_of_all_of_them(latent_size):
    counts = [1, 2, 5, 63, 64, 65, DRAW_ROWS - 1, DRAW_ROWS, DRAW_ROWS + 1, 2 * DRAW_ROWS + 3]
    for num in counts if latent_size < 512 else counts[:6]:
        for batch in (64, 7, 1000):
            full = torch.randn(num, latent_size, generator=torch.Generator().manual_seed(11))
            parts = list(latent_batches(num, latent_size, 11, batch))
            assert [p.shape[0] for p in parts[:-1]] == [batch] * (len(parts) - 1) and 0 < parts[-1].shape[0] <= batch
            assert torch.equal(torch.cat(parts), full), (num, batch)


def test_generate_writes_the_images_of_one_draw_of_all_latents(run, tmp_path, capsys):
    # The images of a seed are what G_ema makes of torch.randn(num, latent_size), as before the
    # latents were streamed; computed here from the checkpoint directly.
    _, last = run
    assert main(["generate", str(last), str(tmp_path / "g"), "--num", "70", "--seed", "3"]) == 0
    files = sorted((tmp_path / "g").glob("*.png"))
    assert [f.name for f in files[:2]] == ["seed0003-000000.png", "seed0003-000001.png"] and len(files) == 70
    G, lod, _ = ckpt.load_G_ema(str(last), "cpu")
    z = torch.randn(70, G.latent_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = to_pixels(G(z, lod))
    got = np.stack([np.asarray(Image.open(f)) for f in files]).transpose(0, 3, 1, 2)
    assert np.array_equal(got, expected.numpy())
    err = capsys.readouterr().err
    assert "writing 70 images of 4x4" in err and "free there" in err


def test_generate_draws_no_more_latents_than_a_batch_needs(run, monkeypatch):
    _, last = run
    # 10**9 latents of 8 floats would be 32 GB drawn at once (the old way); the spy refuses any
    # draw of more than DRAW_ROWS rows before it allocates anything.
    real_randn = torch.randn

    def spy(*size, **kw):
        rows = size[0] if isinstance(size[0], int) else size[0][0]
        assert rows <= DRAW_ROWS, f"drew {rows} latents at once"
        return real_randn(*size, **kw)
    monkeypatch.setattr(torch, "randn", spy)
    batches = sample_batches(last, 10 ** 9, seed=0, device="cpu")
    first = next(batches)
    assert first.shape == (64, 3, 4, 4) and first.dtype == torch.uint8
    batches.close()


def test_generate_refuses_to_start_what_the_disk_cannot_hold(run, tmp_path, capsys, monkeypatch):
    _, last = run
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 ** 12, 10 ** 12 - 500, 500))
    out = tmp_path / "new" / "g"
    assert main(["generate", str(last), str(out), "--num", "100"]) == 2
    line = _one_line("\n".join(ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("writing")))
    assert str(out) in line and "500 B is free" in line and "100 images need about" in line and "KB" in line
    assert not (tmp_path / "new").exists()


# -- item 22: --resume after config.json was edited; the bar of a short run ---------------------

def test_resume_refuses_a_hand_edited_config_naming_the_keys(run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(run[0], run_dir)
    assert main(["train", "--resume", str(run_dir), "--metrics", "none"]) == 0  # untouched: resumes (done)
    capsys.readouterr()
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg.update(G_smoothing=0.5, total_kimg=2.0)
    (run_dir / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(run_dir), "--metrics", "none"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "config.json" in line and "G_smoothing (0.5 in config.json, 0.9 in the checkpoint)" in line
    assert "total_kimg" in line and "--set" in line
    assert json.loads((run_dir / "config.json").read_text()) == cfg  # the edit is not overwritten
    # The same changes through --set are what resuming takes.
    assert main(["train", "--resume", str(run_dir), "--metrics", "none", "--set", "G_smoothing=0.5",
                 "--set", "total_kimg=0.768"]) == 0
    state = ckpt.load(ckpt.latest(run_dir))
    assert state["config"]["G_smoothing"] == 0.5 and state["state"]["cur_nimg"] == 768
    capsys.readouterr()
    (run_dir / "config.json").write_text("{not json")
    assert main(["train", "--resume", str(run_dir), "--metrics", "none"]) == 1
    assert "config.json" in _one_line(capsys.readouterr().err)


def test_the_progress_bar_of_a_run_shorter_than_one_tick(tmp_path, capsys, data):
    total = 0.1  # 100 images; a round of 4 minibatches of 64 takes 256, and a tick is 512
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(make_config(None, dict(MICRO, data=data, total_kimg=total)), tmp_path / "run")
    final = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in final and f"{total:.2f}/{total:.2f} kimg" in final, final
    assert "? s/kimg" not in final  # the one tick, at the end, gives the speed
    assert not [w for w in caught if "tqdm" in type(w.message).__name__.lower()]


def test_resume_does_not_check_the_unused_out_default(run, tmp_path, capsys, monkeypatch):
    # --out (default "runs") names the parent of a new run only; a resume writes into its own folder.
    run_dir = tmp_path / "run"
    shutil.copytree(run[0], run_dir)
    blocked = tmp_path / "cwd"
    blocked.mkdir()
    (blocked / "runs").write_text("a file where the default --out would go")
    monkeypatch.chdir(blocked)
    assert main(["train", "--resume", str(run_dir), "--metrics", "none"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", "runs", "--metrics", "none"]) == 2
    assert "runs" in _one_line(capsys.readouterr().err)
