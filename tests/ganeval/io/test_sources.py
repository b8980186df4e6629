import os
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_pngs
from ganeval import DataError, open_source


def _all(src, **kw):
    return torch.cat(list(src.batches(**kw)))


@pytest.fixture
def folder(tmp_path, crops):
    return write_pngs(crops[0][:10], tmp_path / "imgs")


def test_directory_is_sorted_and_lossless(folder, crops):
    (folder / "0003.png").rename(folder / "zz.png")  # sorting is by name, not creation time
    src = open_source(folder)
    assert len(src) == 10 and src.resolution == (64, 64)
    x = _all(src, batch_size=3, workers=0).numpy()
    order = [0, 1, 2, 4, 5, 6, 7, 8, 9, 3]
    np.testing.assert_array_equal(x, crops[0][order])


def test_workers_give_the_same_batches(folder):
    assert torch.equal(_all(open_source(folder), batch_size=4, workers=2), _all(open_source(folder), workers=0))


def test_num_images_first_and_random_subset(folder, crops):
    np.testing.assert_array_equal(_all(open_source(folder, num_images=4)).numpy(), crops[0][:4])
    r1 = _all(open_source(folder, num_images=4, subset="random", seed=5))
    r2 = _all(open_source(folder, num_images=4, subset="random", seed=5))
    r3 = _all(open_source(folder, num_images=4, subset="random", seed=6))
    assert torch.equal(r1, r2) and not torch.equal(r1, r3)


def test_recursive(tmp_path, crops):
    write_pngs(crops[0][:2], tmp_path / "d" / "x")
    write_pngs(crops[0][2:5], tmp_path / "d" / "y")
    with pytest.raises(DataError, match="--recursive"):
        open_source(tmp_path / "d")
    assert len(open_source(tmp_path / "d", recursive=True)) == 5


def test_zip(tmp_path, folder, crops):
    z = tmp_path / "imgs.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in sorted(folder.iterdir()):
            f.write(p, "sub/" + p.name)
    np.testing.assert_array_equal(_all(open_source(z)).numpy(), crops[0][:10])


def test_npy_nhwc_and_nchw_and_npz_key(tmp_path, crops):
    a = crops[0][:6]
    np.save(tmp_path / "nchw.npy", a)
    np.save(tmp_path / "nhwc.npy", a.transpose(0, 2, 3, 1))
    np.savez(tmp_path / "two.npz", a=a, b=crops[1][:6])
    for p in ("nchw.npy", "nhwc.npy", "two.npz:a"):
        np.testing.assert_array_equal(_all(open_source(str(tmp_path / p))).numpy(), a)
    with pytest.raises(DataError, match="pick one"):
        open_source(tmp_path / "two.npz")


def test_grayscale_rgba_and_16bit(tmp_path):
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(g, "L").save(tmp_path / "a_gray.png")
    rgba = np.dstack([g, g, g, np.zeros_like(g)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b_rgba.png")
    Image.fromarray(g.astype(np.uint16) * 257).save(tmp_path / "c_16bit.png")
    x = _all(open_source(tmp_path)).numpy()
    for img in x:  # all three decode to the same RGB image: tiled gray, alpha dropped, 16 -> 8 bits
        np.testing.assert_array_equal(img, np.stack([g, g, g]))


def test_mixed_sizes_name_both_files_unless_resized(tmp_path, crops):
    write_pngs(crops[0][:2], tmp_path)
    Image.new("RGB", (32, 32)).save(tmp_path / "small.png")
    with pytest.raises(DataError, match=r"0000.png is 64x64 .*small.png is 32x32"):
        _all(open_source(tmp_path))
    assert _all(open_source(tmp_path, resize=48)).shape == (3, 3, 48, 48)


@pytest.mark.parametrize("content", [b"not an image at all", None])
def test_corrupt_files_are_named_and_skippable(folder, content):
    bad = folder / "0005.png"
    bad.write_bytes(content if content is not None else bad.read_bytes()[:200])
    with pytest.raises(DataError, match="0005.png"):
        _all(open_source(folder), workers=0)
    src = open_source(folder, skip_bad=True)
    assert _all(src, workers=0).shape[0] == 9 and src.skipped == 1


def test_missing_and_empty_paths(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        open_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        open_source(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="not a directory"):
        open_source(tmp_path / "x.txt")


@pytest.mark.parametrize("array,match", [
    (np.full((2, 3, 16, 16), np.nan, np.float32), "NaN or inf"),
    (np.full((2, 3, 16, 16), np.inf, np.float32), "NaN or inf"),
    (np.zeros((2, 3, 16, 16), np.float32), "declared value range"),
    (np.zeros((2, 3, 16, 16), np.complex64), "unsupported dtype"),
    (np.zeros((16, 16), np.uint8), "shape"),
    (np.zeros((2, 5, 16, 16), np.uint8), "channel axis"),
])
def test_bad_arrays(array, match):
    with pytest.raises(DataError, match=match):
        kw = {"input_range": (0, 1)} if match == "NaN or inf" else {}
        _all(open_source(array, **kw))


def test_float_ranges_map_to_uint8():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    assert _all(open_source(x, input_range=(-1, 1))).flatten().tolist()[:3] == [0, 128, 255]
    with pytest.raises(DataError, match="input_range"):
        _all(open_source(x * 3, input_range=(-1, 1)))


def test_dataset_generator_and_iterable(crops):
    a = torch.from_numpy(crops[0][:10])
    ds = torch.utils.data.TensorDataset(a, torch.zeros(10))
    assert torch.equal(_all(open_source(ds)), a)
    gen = open_source(lambda n: torch.rand(n, 3, 16, 16) * 2 - 1, num_images=10, input_range=(-1, 1))
    assert _all(gen, batch_size=4).shape == (10, 3, 16, 16)
    it = open_source(iter([a[:4], a[4:]]), num_images=10)
    assert torch.equal(_all(it, batch_size=4), a)


def test_fingerprint_follows_content(folder):
    fp = open_source(folder).fingerprint()
    assert fp == open_source(folder).fingerprint()
    time.sleep(0.01)
    p = folder / "0002.png"
    p.write_bytes(p.read_bytes())
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert open_source(folder).fingerprint() != fp
    assert open_source(folder).fingerprint(content=True) == open_source(folder).fingerprint(content=True)
