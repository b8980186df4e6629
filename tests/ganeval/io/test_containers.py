"""Containers a hostile user hands over: duplicate zip members, byte file names, unusable array
files, EXIF orientation, oversized images and members, and what --skip-bad reports."""
import io
import os
import pickle
import struct
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_pngs
from ganeval import DataError, open_source

RNG = np.random.default_rng(2)


def _all(src, **kw):
    return torch.cat(list(src.batches(workers=0, **kw)))


def _png_bytes(a):
    b = io.BytesIO()
    Image.fromarray(a).save(b, "PNG")
    return b.getvalue()


def _images(n, size=8):
    return RNG.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# --- 2. duplicate members ---------------------------------------------------------------------

def test_zip_with_two_members_of_one_name_is_refused(tmp_path):
    a = _images(3)
    z = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name"
        with zipfile.ZipFile(z, "w") as f:
            f.writestr("x/0.png", _png_bytes(a[0]))
            f.writestr("x/1.png", _png_bytes(a[1]))
            f.writestr("x/0.png", _png_bytes(a[2]))  # appended again: an old and a new copy
    with pytest.raises(DataError, match=r"dup.zip: holds two members named 'x/0.png'"):
        open_source(z)


def test_zip_members_are_read_by_their_own_entry(tmp_path):
    a = _images(4)
    z = tmp_path / "ok.zip"
    with zipfile.ZipFile(z, "w") as f:
        for i in (2, 0, 3, 1):  # archive order is not name order
            f.writestr(f"{i}.png", _png_bytes(a[i]), zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED)
    np.testing.assert_array_equal(_all(open_source(z)).permute(0, 2, 3, 1).numpy(), a)


def test_npz_with_two_arrays_of_one_name_is_refused(tmp_path):
    z = tmp_path / "dup.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(z, "w") as f:
            for v in (1, 2):
                b = io.BytesIO()
                np.save(b, np.full((2, 4, 4, 3), v, np.uint8))
                f.writestr("x.npy", b.getvalue())
    with pytest.raises(DataError, match=r"dup.npz: holds two members named 'x.npy'"):
        open_source(f"{z}:x")


# --- 7. file names that are not UTF-8 ---------------------------------------------------------

@pytest.fixture
def byte_names(tmp_path):
    d = os.path.join(os.fsencode(tmp_path), b"b\xffd")
    os.makedirs(d)
    for i, img in enumerate(_images(6, 16)):  # SWD needs 16 x 16
        Image.fromarray(img).save(os.fsdecode(os.path.join(d, b"img\xe9%d.png" % i)))
    return os.fsdecode(d)


def test_byte_names_fingerprint_and_content_hash(byte_names):
    src = open_source(byte_names)
    assert len(src) == 6
    fp, fc = src.fingerprint(), src.fingerprint(content=True)
    assert len(fp) == len(fc) == 64 and fp != fc
    os.rename(os.path.join(byte_names, src.names[0]), os.path.join(byte_names, "renamed.png"))
    assert open_source(byte_names).fingerprint(content=True) != fc


def test_byte_names_in_a_zip(tmp_path):
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w") as f:
        info = zipfile.ZipInfo("caf\udce9.png".encode("utf-8", "surrogateescape").decode("cp437"))
        f.writestr(info, _png_bytes(_images(1)[0]))
    src = open_source(z)
    assert len(src.fingerprint(content=True)) == 64


# --- 8. array files ganeval cannot use ------------------------------------------------------

def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


UNSAFE = ("allow_pickle", "pickle.load", "trusted", "arbitrary code")


@pytest.mark.parametrize("case, match", [
    ("object.npy", "holds Python objects"),
    ("pickle.npy", "is a Python pickle"),
    ("dict.npy", "holds Python objects"),
    ("scalar.npy", "0-d array"),
    ("structured.npy", "structured dtype"),
    ("bool.npy", "unsupported dtype bool"),
    ("complex.npy", "unsupported dtype complex"),
    ("text.npy", "not a .npy array"),
    ("object.npz", "holds Python objects"),
    ("scalar.npz", "0-d array"),
    ("structured.npz", "structured dtype"),
    ("notzip.npz", "not a valid .npz"),
    ("empty.npz", "holds no arrays"),
    ("truncated.npz", "ends early"),
])
def test_unusable_array_files_are_one_line_naming_the_file(tmp_path, case, match):
    p = tmp_path / case
    obj = np.empty(3, dtype=object)
    obj[:] = [np.zeros((4, 4, 3), np.uint8)] * 3
    structured = np.zeros((2, 4, 4), dtype=[("r", "u1"), ("g", "u1")])
    if case == "object.npy":
        np.save(p, obj, allow_pickle=True)
    elif case == "pickle.npy":
        p.write_bytes(pickle.dumps({"images": np.zeros((2, 4, 4, 3), np.uint8)}))
    elif case == "dict.npy":
        np.save(p, {"images": 1}, allow_pickle=True)
    elif case == "scalar.npy":
        np.save(p, np.uint8(3))
    elif case == "structured.npy":
        np.save(p, structured)
    elif case == "bool.npy":
        np.save(p, np.zeros((2, 4, 4), bool))
    elif case == "complex.npy":
        np.save(p, np.zeros((2, 4, 4), complex))
    elif case == "text.npy":
        p.write_text("1 2 3\n")
    elif case == "object.npz":
        np.savez(p, x=obj)
    elif case == "scalar.npz":
        np.savez(p, x=np.float32(1))
    elif case == "structured.npz":
        np.savez(p, x=structured)
    elif case == "notzip.npz":
        p.write_bytes(b"not a zip")
    elif case == "empty.npz":
        with zipfile.ZipFile(p, "w") as f:
            f.writestr("readme.txt", "nothing")
    elif case == "truncated.npz":
        b = io.BytesIO()
        np.save(b, np.zeros((4, 8, 8, 3), np.uint8))
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as f:
            f.writestr("x.npy", b.getvalue()[:-100])
    with pytest.raises(DataError) as e:
        open_source(p, input_range=(0, 1)).array()
    msg = str(e.value)
    assert str(p) in msg and match in msg and "\n" not in msg, msg
    assert not any(u in msg for u in UNSAFE), msg


def test_unusable_array_through_the_cli_is_one_line(tmp_path):
    from click.testing import CliRunner
    from ganeval.cli import main
    np.savez(tmp_path / "o.npz", x=np.array([object(), object()]))
    res = CliRunner().invoke(main, ["msssim", str(tmp_path / "o.npz"), "-q"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "o.npz: holds Python objects" in res.stderr and "allow_pickle" not in res.stderr


def test_in_memory_object_and_0d_arrays():
    with pytest.raises(DataError, match="array: holds a single number"):
        open_source(np.array(5, np.uint8))
    with pytest.raises(DataError, match="array: holds Python objects"):
        open_source(np.array([None, None]))


# --- 18. memory bounds ------------------------------------------------------------------------

def _png_header_only(path, w, h):
    """A PNG whose header claims w x h and whose data is one tiny zlib stream: a few hundred
    bytes that would decode to w * h * 3 bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))
    return path


def test_a_6000px_png_is_refused_from_its_header(tmp_path):
    p = _png_header_only(tmp_path / "bomb.png", 6000, 6000)
    assert p.stat().st_size < 1000
    with pytest.raises(DataError, match=r"bomb.png: 6000x6000 is 36,000,000 pixels.*GANEVAL_MAX_IMAGE_PIXELS"):
        open_source(p)
    with pytest.raises(DataError, match="GANEVAL_MAX_IMAGE_PIXELS"):  # not skipped as a "bad file"
        open_source(tmp_path, skip_bad=True)


def test_pils_own_bomb_check_gives_the_same_error(tmp_path, monkeypatch):
    # Raised far above PIL's default limit, ganeval's bound lifts PIL's; PIL still refuses at
    # twice its limit, and that refusal must read like ganeval's and never be skipped.
    from PIL import Image as PILImage
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.setenv("GANEVAL_MAX_IMAGE_PIXELS", "3000")
    _png_header_only(tmp_path / "ok.png", 50, 50)  # 2500: over PIL's limit, within ganeval's
    assert open_source(tmp_path / "ok.png").resolution == (50, 50)
    assert PILImage.MAX_IMAGE_PIXELS == 1000  # restored
    monkeypatch.setenv("GANEVAL_MAX_IMAGE_PIXELS", "400")
    _png_header_only(tmp_path / "big.png", 60, 60)  # 3600 > 2 x 1000: PIL's DecompressionBombError
    with pytest.raises(DataError, match="big.png: .*GANEVAL_MAX_IMAGE_PIXELS"):
        open_source(tmp_path / "big.png", skip_bad=True)


def test_the_bound_is_raised_by_its_environment_variable(tmp_path, monkeypatch):
    d = write_pngs(RNG.integers(0, 256, (2, 3, 40, 30), dtype=np.uint8), tmp_path / "d")
    monkeypatch.setenv("GANEVAL_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(DataError, match="30x40 is 1,200 pixels, more than the 1,000"):
        open_source(d)
    monkeypatch.setenv("GANEVAL_MAX_IMAGE_PIXELS", "1200")
    assert _all(open_source(d)).shape == (2, 3, 40, 30)
    monkeypatch.setenv("GANEVAL_MAX_IMAGE_PIXELS", "lots")
    from ganeval import UsageError
    with pytest.raises(UsageError, match="GANEVAL_MAX_IMAGE_PIXELS='lots'"):
        open_source(d)


def test_the_bound_applies_to_every_file_and_to_array_files(tmp_path, monkeypatch):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(_images(1, 8)[0]).save(d / "a.png")
    Image.fromarray(np.zeros((8, 200, 3), np.uint8)).save(d / "b.png")  # second file: met in a worker
    monkeypatch.setenv("GANEVAL_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(DataError, match=r"b.png: 200x8 is 1,600 pixels"):
        _all(open_source(d, resize=8))
    np.save(tmp_path / "big.npy", np.zeros((2, 40, 30, 3), np.uint8))
    with pytest.raises(DataError, match=r"big.npy: 30x40 is 1,200 pixels"):
        open_source(tmp_path / "big.npy")


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_zip_member_is_decoded_from_the_archive_not_read_whole(tmp_path, monkeypatch):
    import ganeval.io.sources as S
    a = _images(2)
    z = tmp_path / "big.zip"
    junk = 8 << 20  # PNG readers stop at IEND: 8 MB of trailing zeros are never needed
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as f:
        f.writestr("0.png", _png_bytes(a[0]) + b"\x00" * junk)
        f.writestr("1.png", _png_bytes(a[1]))
    monkeypatch.setattr(S, "_ZIP_READ_BYTES", 1 << 20)
    src = open_source(z)
    np.testing.assert_array_equal(_all(src).permute(0, 2, 3, 1).numpy(), a)
    assert _peak(lambda: _all(src)) < junk / 4  # measured on a second pass: torch's first-use setup is not the point
    assert _peak(lambda: src.fingerprint(content=True)) < junk / 4  # the content hash streams too


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_reads_only_the_rows_it_needs(tmp_path, save):
    a = RNG.integers(0, 256, (256, 3, 64, 64), dtype=np.uint8)  # 3 MiB
    save(tmp_path / "x.npz", x=a)
    peak = _peak(lambda: _all(open_source(tmp_path / "x.npz", num_images=2)))
    assert peak < a.nbytes / 8, peak
    src = open_source(tmp_path / "x.npz", num_images=9, subset="random", seed=3)
    np.testing.assert_array_equal(_all(src, batch_size=4).numpy(), a[src.indices])
    assert _peak(src.fingerprint) < a.nbytes / 8


def test_npz_fortran_order_and_npy_memmap(tmp_path):
    a = RNG.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    np.savez_compressed(tmp_path / "f.npz", x=np.asfortranarray(a))
    np.testing.assert_array_equal(_all(open_source(tmp_path / "f.npz")).numpy(), a.transpose(0, 3, 1, 2))
    np.save(tmp_path / "m.npy", a)
    src = open_source(tmp_path / "m.npy", num_images=3)
    np.testing.assert_array_equal(_all(src).numpy(), a[:3].transpose(0, 3, 1, 2))
    fp = src.fingerprint()
    os.utime(tmp_path / "m.npy", ns=(1, 1))
    assert open_source(tmp_path / "m.npy", num_images=3).fingerprint() != fp  # metadata keyed, like folders


# --- 17. EXIF orientation ---------------------------------------------------------------------

def test_exif_orientation_is_ignored_as_the_reference_tools_do_with_one_warning(tmp_path):
    a = _images(5, 8)
    d = tmp_path / "d"
    d.mkdir()
    for i, img in enumerate(a):
        exif = Image.Exif()
        if i in (1, 3):
            exif[0x0112] = 6  # "rotate 90 CW to view"
        Image.fromarray(img).save(d / f"{i}.png", exif=exif.tobytes())
    with pytest.warns(UserWarning) as rec:
        got = _all(open_source(d), batch_size=2)
    np.testing.assert_array_equal(got.permute(0, 2, 3, 1).numpy(), a)  # pixels as stored, as Image.open gives
    msgs = [str(w.message) for w in rec if "EXIF" in str(w.message)]
    assert len(msgs) == 1 and "2 of 5 images" in msgs[0] and "1.png, 3.png" in msgs[0], msgs
    assert "torch-fidelity" in msgs[0]


def test_no_warning_without_orientation(tmp_path):
    d = write_pngs(RNG.integers(0, 256, (3, 3, 8, 8), dtype=np.uint8), tmp_path / "d")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _all(open_source(d))


# --- 19. --skip-bad says what it skipped ------------------------------------------------------

def test_skip_bad_counts_and_names_the_first_few(tmp_path):
    d = write_pngs(RNG.integers(0, 256, (12, 3, 8, 8), dtype=np.uint8), tmp_path / "d")
    bad = [f"{i:04d}.png" for i in (1, 2, 4, 6, 7, 9, 11)]
    for n in bad:
        (d / n).write_bytes(b"not an image")
    src = open_source(d, skip_bad=True)
    with pytest.warns(UserWarning, match="skip-bad") as rec:
        assert _all(src, batch_size=4).shape[0] == 5
    msgs = [str(w.message) for w in rec if "skip-bad" in str(w.message)]
    assert len(msgs) == 1
    assert "left out 7 of 12 files" in msgs[0] and ", ".join(bad[:5]) + " and 2 more" in msgs[0], msgs
    assert src.skipped == 7 and src.skipped_names == bad


def test_byte_names_through_stats_and_the_leaderboard(byte_names, tmp_path, tiny_inception, monkeypatch):
    # These crashed with "internal error (UnicodeEncodeError)": the fingerprint encoded names as UTF-8.
    from click.testing import CliRunner
    from ganeval.cli import main
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    for extra in ([], ["--content-hash"]):
        res = CliRunner().invoke(main, ["stats", byte_names, "-o", str(tmp_path / "s.npz"), "-q", *extra])
        assert res.exit_code == 0, res.stderr
    assert len(list((tmp_path / "cache" / "stats").glob("*.npz"))) == 2  # one entry per way of keying
    other = write_pngs(RNG.integers(0, 256, (6, 3, 16, 16), dtype=np.uint8), tmp_path / "other")
    store = tmp_path / "store"
    res = CliRunner().invoke(main, ["leaderboard", "--real", byte_names, "--entry", f"a={other}", "--entry",
                                    f"b={byte_names}", "-m", "swd", "-n", "6", "--store", str(store)])
    assert res.exit_code == 0, res.stderr
    assert "b\\udcffd" in (store / "leaderboard.md").read_text()  # written as the error lines print it


def test_statistics_file_of_python_objects_gets_no_pickle_advice(tmp_path):
    from ganeval.features.stats import load_stats
    p = tmp_path / "s.npz"
    np.savez(p, mu=np.array([object()] * 3), sigma=np.eye(3))
    with pytest.raises(DataError) as e:
        load_stats(p)
    assert str(p) in str(e.value) and "Python objects" in str(e.value)
    assert not any(u in str(e.value) for u in UNSAFE), str(e.value)
