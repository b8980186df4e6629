"""`ganeval neighbours`: nearest training images of generated ones, in feature and pixel space.

Expected answers come from invariants (an exact copy is its own nearest image, at distance
0) and from a brute-force float64 numpy search over the same images (pixels) or the same
network's features; the figure and the report are checked for what they show and escape.
"""
import json
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganeval
import ganeval.metrics.neighbours as nn_mod
from ganeval.cli import main
from ganeval.errors import DataError, UsageError, WeightsError
from ganeval.io.runfiles import grid_tiles, save_grid
from ganeval.metrics.neighbours import merge_nearest, neighbours
from ganeval.reporting.report import build_report

HOSTILE = ['quo"te\'s.png', "<script>alert(1).png", "new\nline.png", "ü & <b>.png"]


def _images(n: int, seed: int, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8)


def _save(images: np.ndarray, folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for img, name in zip(images, names):
        Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(folder / name)
    return folder


def _brute(q: np.ndarray, rows: np.ndarray, n: int):
    d = np.sqrt(((q[:, None, :].astype(np.float64) - rows[None].astype(np.float64)) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :n]
    return idx, np.take_along_axis(d, idx, 1)


def test_an_exact_copy_finds_its_training_image_first_at_distance_0(tmp_path, tiny_inception):
    reals = _images(12, 0, 16)
    fakes = _images(3, 1, 16)
    fakes[1] = reals[7]
    real_dir = _save(reals, tmp_path / "real", [f"r{i:02d}.png" for i in range(12)])
    fake_dir = _save(fakes, tmp_path / "fake", ["a.png", "b.png", "c.png"])
    r = ganeval.neighbours(real_dir, fake_dir, features="inception", num_neighbours=3, cache=False, device="cpu")
    copy = r.fakes[1]
    assert copy.name == "b.png"
    assert (copy.pixels[0].name, copy.pixels[0].index, copy.pixels[0].distance) == ("r07.png", 7, 0.0)
    assert (copy.features[0].name, copy.features[0].index) == ("r07.png", 7)
    # The copy's features come from another batch than the original's; both pass the same
    # arithmetic, so the distance is 0 up to float rounding (on CPU it is exactly 0).
    assert copy.features[0].distance <= 1e-5 * copy.features[1].distance
    for f in r.fakes:  # nearest first, in both spaces
        for found in (f.features, f.pixels):
            d = [nb.distance for nb in found]
            assert d == sorted(d) and len(d) == 3
    assert r.settings["weights_sha256"] == "0" * 64 and r.num_images == {"real": 12, "fake": 3}


@pytest.mark.parametrize("block", [5, 4096])
def test_the_nearest_are_those_of_a_brute_force_search(tiny_inception, monkeypatch, block):
    # Blocks of 5 feature rows and batches of 4 reals make the running merge do the work.
    monkeypatch.setattr(nn_mod, "_ROWS_PER_BLOCK", block)
    reals, fakes = _images(23, 2), _images(4, 3)
    r = neighbours(reals, fakes, features="inception", num_neighbours=6, batch_size=4, cache=False, device="cpu")
    with torch.no_grad():
        fr = tiny_inception(torch.from_numpy(reals))[0].numpy()
        ff = tiny_inception(torch.from_numpy(fakes))[0].numpy()
    for space, (q, rows) in (("pixels", (fakes.reshape(4, -1), reals.reshape(23, -1))), ("features", (ff, fr))):
        idx, dist = _brute(q, rows, 6)
        got = [getattr(f, space) for f in r.fakes]
        assert [[nb.index for nb in g] for g in got] == idx.tolist(), space
        np.testing.assert_allclose([[nb.distance for nb in g] for g in got], dist, rtol=1e-5)
        assert all(nb.name == f"index {nb.index}" for g in got for nb in g)
    # The figure shows exactly those images, nearest first.
    assert torch.equal(r.tiles["pixels"][1], torch.from_numpy(reals[r.fakes[0].pixels[1].index]))
    assert torch.equal(r.tiles["features"][6], torch.from_numpy(reals[r.fakes[1].features[0].index]))


def test_random_fakes_and_a_real_subset_keep_their_own_indices():
    reals, fakes = _images(20, 4), _images(10, 5)
    r = neighbours(reals, fakes, features="pixels", num_fake=3, num_real=8, subset="random", seed=3,
                   num_neighbours=2, device="cpu")
    picked_f = np.sort(np.random.default_rng(3).choice(10, 3, replace=False))
    picked_r = np.sort(np.random.default_rng(3).choice(20, 8, replace=False))
    assert [f.name for f in r.fakes] == [f"index {i}" for i in picked_f]
    idx, dist = _brute(fakes[picked_f].reshape(3, -1), reals[picked_r].reshape(8, -1), 2)
    assert [[nb.name for nb in f.pixels] for f in r.fakes] == [[f"index {picked_r[j]}" for j in row] for row in idx]
    assert r.fakes[0].features == [] and "features" not in r.tiles


def test_ties_go_to_the_lower_index_across_blocks():
    best = merge_nearest(None, torch.tensor([[3.0, 1.0, 1.0]]), 0, 2)
    best = merge_nearest(best, torch.tensor([[1.0, 0.5, 1.0]]), 3, 3)
    assert best[1].tolist() == [[4, 1, 2]] and best[0].tolist() == [[0.5, 1.0, 1.0]]


def test_hostile_file_names_come_back_verbatim_in_the_json(tmp_path):
    reals = _images(4, 6)
    real_dir = _save(reals, tmp_path / "real", HOSTILE)
    fake_dir = _save(reals[[2, 1]], tmp_path / "fake", ["x.png", "<y>.png"])
    res = CliRunner().invoke(main, ["neighbours", str(real_dir), str(fake_dir), "-o", str(tmp_path / "nn.png"),
                                    "--features", "pixels", "--num-neighbours", "2", "--json", "-q"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [g["name"] for g in doc["generated"]] == ["<y>.png", "x.png"]  # sorted file order
    assert [g["pixels"][0]["name"] for g in doc["generated"]] == [HOSTILE[1], HOSTILE[2]]
    assert [g["pixels"][0]["index"] for g in doc["generated"]] == [sorted(HOSTILE).index(HOSTILE[i]) for i in (1, 2)]
    assert [g["pixels"][0]["distance"] for g in doc["generated"]] == [0.0, 0.0]
    with Image.open(tmp_path / "nn.png") as im:
        assert im.format == "PNG" and im.width > im.height
    # Without --json, names are quoted (repr): a newline in one cannot start a line of its own.
    res = CliRunner().invoke(main, ["neighbours", str(real_dir), str(fake_dir), "-o", str(tmp_path / "nn.png"),
                                    "--features", "pixels", "-q"])
    assert res.exit_code == 0 and "'new\\nline.png' at 0" in res.stdout
    assert len(res.stdout.strip().splitlines()) == 3


def test_figure_layout(tmp_path):
    reals, fakes = _images(9, 7, 64), _images(2, 8, 64)
    r = neighbours(reals, fakes, features="pixels", num_neighbours=3, device="cpu")
    r.save_figure(tmp_path / "a.png", labels=False)
    with Image.open(tmp_path / "a.png") as im:
        a = np.asarray(im)
    gap = 64 // 8
    assert a.shape == (2 * 64, 64 + gap + 3 * 64, 3)  # fake, gap, three pixel neighbours
    first = r.fakes[1].pixels[2].index
    x0 = 64 + gap + 2 * 64
    assert np.array_equal(a[64:128, x0:x0 + 64].transpose(2, 0, 1), reals[first])
    r.save_figure(tmp_path / "b.png")  # with labels: a title band and a band under each row
    with Image.open(tmp_path / "b.png") as im:
        assert im.width == a.shape[1] and im.height > a.shape[0]


def test_grid_tiles_read_back_what_save_grid_wrote(tmp_path):
    x = torch.from_numpy(_images(10, 9, 6))
    save_grid(x, tmp_path / "g.png")
    data = (tmp_path / "g.png").read_bytes()
    assert np.array_equal(grid_tiles(data), x.numpy())
    # A grid without a layout record is cut by a given tile size; trailing black tiles are padding.
    Image.open(tmp_path / "g.png").save(tmp_path / "plain.png")
    plain = (tmp_path / "plain.png").read_bytes()
    assert grid_tiles(plain) is None and grid_tiles(plain, (5, 5)) is None
    assert np.array_equal(grid_tiles(plain, (6, 6)), x.numpy())


def _run(root, name, reals, fakes):
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text(json.dumps({"kimg": 1.0, "metric": "swd", "values": {"SWDx1e3_avg": 1.0}}) + "\n")
    save_grid(torch.from_numpy(reals), d / "reals.png")
    save_grid(torch.from_numpy(fakes), d / "fakes000001.000.png")
    return d


def test_the_report_shows_the_nearest_reals_of_the_latest_samples(tmp_path):
    reals, fakes = _images(16, 10), _images(10, 11)
    fakes[0] = reals[5]
    run = _run(tmp_path, '<script>alert("x")', reals, fakes)
    index = build_report([run], tmp_path / "report", neighbours="pixels")
    page = index.read_text()
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)" in page
    assert "Nearest real images" in page and "by pixel distance" in page
    png = re.search(r'<img class="nn" src="([^"]+)"', page).group(1)
    js = re.search(r'<a href="([^"]+\.json)">', page).group(1)
    doc = json.loads((tmp_path / "report" / js).read_text())
    assert doc["num_images"] == {"real": 16, "fake": 8}  # the first 8 samples of the grid
    assert doc["generated"][0]["pixels"][0] == {"index": 5, "name": "index 5", "distance": 0.0}
    assert (tmp_path / "report" / png).is_file() and "/" not in png.split("neighbours/", 1)[1]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "<script" not in md and "Nearest real images" in md


def test_the_report_uses_inception_when_it_can_and_says_when_it_cannot(tmp_path, tiny_inception, monkeypatch):
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))  # the report caches the reals' features
    reals, fakes = _images(16, 12), _images(4, 13)
    run = _run(tmp_path, "r", reals, fakes)
    page = build_report([run], tmp_path / "a").read_text()
    assert "by inception feature distance" in page
    import ganeval.inception.features as inc

    def missing(*a, **k):
        raise WeightsError("no Inception weights found")
    monkeypatch.setattr(inc, "inception", missing)
    page = build_report([run], tmp_path / "b").read_text()
    assert "by pixel distance" in page and "no Inception weights were found" in page
    with pytest.raises(WeightsError):
        build_report([run], tmp_path / "c", neighbours="inception")
    assert "Nearest real images" not in build_report([run], tmp_path / "d", neighbours="off").read_text()


@pytest.mark.parametrize("args, code, says", [
    (["--features", "nope"], 2, "--features"),
    (["--num-fake", "0"], 2, "--num-fake"),
    (["--real-missing"], 1, "no such file"),
    (["--small-fakes"], 1, "--resize"),
    (["--stats-real"], 2, "statistics"),
])
def test_cli_errors_are_one_line(tmp_path, args, code, says):
    real = _save(_images(3, 14), tmp_path / "real", ["a.png", "b.png", "c.png"])
    fake = _save(_images(2, 15), tmp_path / "fake", ["a.png", "b.png"])
    if args == ["--real-missing"]:
        real, args = tmp_path / "nothing", []
    elif args == ["--small-fakes"]:
        fake, args = _save(_images(2, 15, 4), tmp_path / "small", ["a.png", "b.png"]), []
    elif args == ["--stats-real"]:
        real = tmp_path / "s.npz"
        np.savez(real, mu=np.zeros(2048), sigma=np.eye(2048))
        args = []
    res = CliRunner().invoke(main, ["neighbours", str(real), str(fake), "-o", str(tmp_path / "nn.png"),
                                    "--features", "pixels", "-q", *args])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("pixels")]
    assert res.exit_code == code and len(lines) == 1 and says in lines[0], res.stderr
    assert not (tmp_path / "nn.png").exists()


def test_api_usage_errors():
    with pytest.raises(UsageError, match="pixels"):
        neighbours(_images(2, 0), _images(1, 1), features="nope")
    with pytest.raises(UsageError, match="real set"):
        neighbours([torch.zeros(2, 3, 8, 8, dtype=torch.uint8)], _images(1, 1), features="pixels")
    with pytest.raises(DataError, match="--resize"):
        neighbours(_images(2, 0), _images(1, 1, 4), features="pixels")
