"""Multi-resolution cache, built-in data, sampler and bad-data errors."""
import json

import numpy as np
import pytest
import torch

from ganeval.errors import DataError
from reference_trainer.dataset import (MANIFEST, MultiResDataset, Sampler, _main, build, build_builtin,
                                       builtin_images, write_cache)
from reference_trainer.train import process_reals

from conftest import write_pngs


def test_levels_are_box_averages_of_the_float_previous_level(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 3, 16, 16), dtype=np.uint8)
    write_cache(iter([imgs[:2], imgs[2:]]), 5, 16, tmp_path)
    d = MultiResDataset(tmp_path)
    assert sorted(d.levels) == [4, 8, 16]
    assert np.array_equal(d.levels[16], imgs)
    x = imgs.astype(np.float64)
    for r in (8, 4):  # chained unquantized 2x2 means == one (16 / r)^2 box mean, then rint (official)
        f = 16 // r
        box = x.reshape(5, 3, r, f, r, f).mean(axis=(3, 5))
        assert np.array_equal(d.levels[r], np.rint(box).astype(np.uint8))
    assert torch.equal(d.get(np.array([3, 0]), 8), torch.from_numpy(np.asarray(d.levels[8][[3, 0]])))


def test_build_from_folder_and_npy(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", imgs)
    d = MultiResDataset(build(tmp_path / "a.npy", tmp_path / "c1"))
    assert d.resolution == 8 and np.array_equal(d.levels[8], imgs.transpose(0, 3, 1, 2))
    write_pngs(imgs.transpose(0, 3, 1, 2), tmp_path / "pngs")
    assert _main(["build", str(tmp_path / "pngs"), str(tmp_path / "c2"), "--resolution", "8", "--mirror"]) == 0
    d2 = MultiResDataset(tmp_path / "c2")
    assert d2.mirror and np.array_equal(d2.levels[8], d.levels[8])


def test_builtin_is_deterministic_real_data(tmp_path):
    a, b, c = builtin_images(16, 12, seed=0), builtin_images(16, 12, seed=0), builtin_images(16, 12, seed=1)
    assert a.shape == (12, 3, 16, 16) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() > 20  # photos, not a constant
    d = MultiResDataset(build_builtin(tmp_path, 16, 12))
    assert np.array_equal(d.levels[16], a)


def test_bad_data_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="manifest"):
        MultiResDataset(tmp_path)
    imgs = np.zeros((2, 3, 8, 8), np.uint8)
    write_cache(iter([imgs]), 2, 8, tmp_path / "c")
    (tmp_path / "c" / "res0004.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="res0004.npy"):
        MultiResDataset(tmp_path / "c")
    (tmp_path / "c" / MANIFEST).write_text("{not json")
    with pytest.raises(DataError, match="corrupt manifest"):
        MultiResDataset(tmp_path / "c")
    np.save(tmp_path / "odd.npy", np.zeros((2, 3, 12, 12), np.uint8))
    with pytest.raises(DataError, match="odd.npy.*power of two"):
        build(tmp_path / "odd.npy", tmp_path / "c3")
    np.save(tmp_path / "small.npy", np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(DataError, match="small.npy"):
        build(tmp_path / "small.npy", tmp_path / "c4", 16)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="x.png"):
        build(tmp_path / "broken", tmp_path / "c5", 8)
    assert _main(["build", str(tmp_path / "nope"), str(tmp_path / "c6")]) == 1


def test_sampler_covers_epochs_and_resumes_exactly():
    s = Sampler(10, seed=3)
    first = s.take(10)
    assert sorted(first) == list(range(10))
    s.take(4)
    state = s.state_dict()
    cont = s.take(13)
    s2 = Sampler(10, seed=3)
    s2.load_state_dict(json.loads(json.dumps(state)))
    assert np.array_equal(s2.take(13), cont)


def test_process_reals_range_fade_and_mirror():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    y = process_reals(x, 1.0, False)
    torch.testing.assert_close(y, x.float() * 2 / 255 - 1)
    assert y.min() >= -1 and y.max() <= 1
    # alpha 0: the 2x2 box average, nearest-upscaled (official FadeLOD with lod - floor(lod) = 1)
    z = process_reals(x, 0.0, False)
    torch.testing.assert_close(z[:, :, ::2, ::2], (y[:, :, ::2, ::2] + y[:, :, 1::2, ::2] + y[:, :, ::2, 1::2]
                                                    + y[:, :, 1::2, 1::2]) / 4)
    torch.testing.assert_close(process_reals(x, 0.5, False), (y + z) / 2)
    torch.manual_seed(0)
    m = process_reals(x, 1.0, True)
    for i in range(4):
        assert torch.equal(m[i], y[i]) or torch.equal(m[i], y[i].flip(2))
