"""Sources fed the files real users have: 16-bit images, Mac zips, bad files met by workers."""
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval
from conftest import write_pngs
from ganeval import DataError, open_source
from ganeval.io.sources import to_uint8

N_SWD = 32  # enough patches for a meaningful SWD, few enough for two shared cores


def _all(src, **kw):
    return torch.cat(list(src.batches(**kw)))


def _to8(v):
    # The documented 16 -> 8 bit policy, computed independently of ganeval.  257 is odd, so
    # v / 257 is never exactly halfway between integers and rounding has no ties to break.
    return np.round(np.asarray(v, np.float64) / 257).astype(np.uint8)


def write_png16(path, a):
    """A 16-bit PNG written by hand, which PIL cannot write for colour images.

    Rows cycle through all five PNG filters so that the reader's un-filtering, which works on
    whole pixels of 2 bytes per sample, is exercised for every filter.
    """
    a = np.asarray(a).astype(">u2")
    if a.ndim == 2:
        a = a[..., None]
    h, w, c = a.shape
    raw = a.reshape(h, w * c).view(np.uint8).astype(np.int32)  # big-endian bytes per row
    bpp = 2 * c
    prior = np.zeros_like(raw[0])
    rows = []
    for y in range(h):
        cur = raw[y]
        left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
        ftype = y % 5
        if ftype == 0:
            pred = np.zeros_like(cur)
        elif ftype == 1:
            pred = left
        elif ftype == 2:
            pred = prior
        elif ftype == 3:
            pred = (left + prior) // 2
        else:
            p = left + prior - upleft
            pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        rows.append(bytes([ftype]) + ((cur - pred) % 256).astype(np.uint8).tobytes())
        prior = cur

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def write_tiff16(path, a):
    import tifffile  # installed with scikit-image, a ganeval dependency
    tifffile.imwrite(path, np.asarray(a, np.uint16), photometric="rgb" if np.ndim(a) == 3 else "minisblack")


# --- 1. 16-bit images ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sets16(tmp_path_factory, crops):
    """The same photos as 8-bit files and as 16-bit files (8-bit value * 257, so exactly equal).

    A third are grayscale 16-bit PNGs (PIL mode I;16), a third 16-bit RGB PNGs, a third 16-bit
    RGB TIFFs; every 8-bit copy is a plain L or RGB PNG.
    """
    root = tmp_path_factory.mktemp("sets16")
    d8, d16 = root / "eight", root / "sixteen"
    d8.mkdir()
    d16.mkdir()
    for i, img in enumerate(crops[0][:N_SWD]):
        rgb = np.ascontiguousarray(img.transpose(1, 2, 0))
        kind = i % 3
        if kind == 0:
            gray = np.asarray(Image.fromarray(rgb).convert("L"))
            Image.fromarray(gray, "L").save(d8 / f"{i:04d}.png")
            im16 = Image.fromarray(gray.astype(np.uint16) * 257)
            assert im16.mode == "I;16"
            im16.save(d16 / f"{i:04d}.png")
        else:
            Image.fromarray(rgb).save(d8 / f"{i:04d}.png")
            (write_png16 if kind == 1 else write_tiff16)(d16 / f"{i:04d}.{'png' if kind == 1 else 'tif'}",
                                                         rgb.astype(np.uint16) * 257)
    zips = {}
    for name, d in (("eight", d8), ("sixteen", d16)):
        zips[name] = root / f"{name}.zip"
        with zipfile.ZipFile(zips[name], "w") as z:
            for p in sorted(d.iterdir()):
                z.write(p, "set/" + p.name)
    return {"dir": (d8, d16), "zip": (zips["eight"], zips["sixteen"])}


@pytest.mark.parametrize("container", ["dir", "zip"])
@pytest.mark.parametrize("resize", [None, 48])
def test_16bit_files_decode_to_the_pixels_of_their_8bit_copies(sets16, container, resize):
    eight, sixteen = sets16[container]
    x8 = _all(open_source(eight, resize=resize), workers=0)
    x16 = _all(open_source(sixteen, resize=resize), workers=0)
    assert x16.shape == (N_SWD, 3, resize or 64, resize or 64)
    assert torch.equal(x16, x8)


@pytest.fixture(scope="module")
def swd_8bit_vs_8bit(sets16):
    done = {}

    def values(resize):  # computed once per resize: SWD is the slow part of this file
        if resize not in done:
            eight = sets16["dir"][0]
            done[resize] = ganeval.swd(eight, eight, num_images=N_SWD, resize=resize).values
        return done[resize]
    return values


@pytest.mark.parametrize("container", ["dir", "zip"])
@pytest.mark.parametrize("resize", [None, 48])
def test_16bit_swd_equals_8bit_swd(sets16, swd_8bit_vs_8bit, container, resize):
    eight, sixteen = sets16[container]
    assert ganeval.swd(sixteen, eight, num_images=N_SWD, resize=resize).values == swd_8bit_vs_8bit(resize)


@pytest.fixture(scope="module")
def random16():
    # Arbitrary 16-bit values, most of them not multiples of 257: keeping only the high byte
    # (what PIL does for 16-bit colour) is then off by one for about half of them.
    return np.random.default_rng(7).integers(0, 65536, (20, 24, 4), dtype=np.uint16)


@pytest.mark.parametrize("fmt", ["png-rgb", "png-rgba", "png-gray-alpha", "png-gray", "tif-rgb", "tif-gray"])
@pytest.mark.parametrize("resize", [None, 16])
def test_16bit_values_are_rounded_not_truncated(tmp_path, random16, fmt, resize):
    kind, layout = fmt.split("-", 1)
    a = {"rgb": random16[..., :3], "rgba": random16, "gray-alpha": random16[..., :2], "gray": random16[..., 0]}[layout]
    path = tmp_path / f"img.{kind}"
    (write_png16 if kind == "png" else write_tiff16)(path, a)
    gray = a.ndim == 2 or a.shape[2] == 2
    expect8 = _to8(a if a.ndim == 2 else a[..., 0] if gray else a[..., :3])
    if resize:
        expect8 = np.asarray(Image.fromarray(expect8).resize((resize, resize), Image.BICUBIC))
    if expect8.ndim == 2:
        expect8 = np.dstack([expect8] * 3)
    got = _all(open_source(path, resize=resize), workers=0)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, expect8)


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("layout", [dict(), dict(compression="zlib"), dict(tile=(16, 16))])
def test_16bit_tiff_variants(tmp_path, random16, byteorder, layout):
    import tifffile
    tifffile.imwrite(tmp_path / "x.tif", random16[..., :3], photometric="rgb", byteorder=byteorder, **layout)
    got = _all(open_source(tmp_path / "x.tif"), workers=0)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, _to8(tifffile.imread(tmp_path / "x.tif")))


class _Items(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i], 0


@pytest.mark.parametrize("resize", [None, 48])
def test_dataset_of_16bit_pil_images_and_uint16_arrays(sets16, resize):
    d8 = sets16["dir"][0]
    eight = _all(open_source(d8, resize=resize), workers=0)
    a8 = [np.asarray(Image.open(d8 / f"{i:04d}.png")) for i in range(N_SWD)]
    gray = [i for i in range(N_SWD) if a8[i].ndim == 2]
    rgb = [i for i in range(N_SWD) if a8[i].ndim == 3]
    assert gray and rgb
    cases = {
        "PIL I;16": (gray, [Image.fromarray(a8[i].astype(np.uint16) * 257) for i in gray]),
        "uint16 HW": (gray, [a8[i].astype(np.uint16) * 257 for i in gray]),
        "uint16 HWC": (rgb, [a8[i].astype(np.uint16) * 257 for i in rgb]),
    }
    for case, (which, items) in cases.items():
        got = _all(open_source(_Items(items), resize=resize))
        assert torch.equal(got, eight[which]), case


def test_16bit_arrays_are_always_16bit():
    # A dark 16-bit image has no value above 255; it must not be mistaken for 8-bit data.
    dark = np.arange(0, 256, dtype=np.uint16).reshape(1, 1, 16, 16)
    expect = torch.from_numpy(_to8(dark)).expand(-1, 3, -1, -1)
    assert torch.equal(to_uint8(dark), expect)
    assert torch.equal(to_uint8(torch.from_numpy(dark)), expect)
    bright = np.full((1, 3, 4, 4), 65535, np.uint16)
    assert bool((to_uint8(bright) == 255).all())
    assert torch.equal(_all(open_source(np.concatenate([dark.repeat(3, 1), dark.repeat(3, 1) * 257]))),
                       torch.cat([expect, torch.from_numpy(_to8(dark * 257)).expand(-1, 3, -1, -1)]))


def test_signed_integer_images_must_be_8bit_values():
    # Guessing "16-bit when some value exceeds 255" decides per batch: a dark batch of 16-bit
    # data would be read as 8-bit.  Signed integers are 8-bit values; anything else is an error.
    ok = np.arange(256, dtype=np.int64).reshape(1, 1, 16, 16)
    assert torch.equal(to_uint8(ok)[0, 0], torch.arange(256, dtype=torch.uint8).view(16, 16))
    with pytest.raises(DataError, match="uint16"):
        to_uint8(ok * 257)


# --- 2. bad files met by DataLoader workers --------------------------------------------------

@pytest.fixture
def folder41(tmp_path, crops):
    return write_pngs(crops[0][:40], tmp_path / "imgs")


def _error_of(src, workers):
    with pytest.raises(DataError) as e:
        for _ in src.batches(4, workers=workers):
            pass
    assert type(e.value) is DataError
    return str(e.value)


@pytest.mark.parametrize("bad", ["garbage", "truncated", "small"])
def test_worker_errors_are_the_one_line_errors_of_the_main_process(folder41, bad):
    path = folder41 / "0038_bad.png"  # late in the order: decoded by a worker, not by the size probe
    if bad == "garbage":
        path.write_bytes(b"not an image at all")
    elif bad == "truncated":
        path.write_bytes((folder41 / "0000.png").read_bytes()[:300])
    else:
        Image.new("RGB", (32, 32)).save(path)
    serial = _error_of(open_source(folder41), workers=0)
    assert "0038_bad.png" in serial and "\n" not in serial
    assert _error_of(open_source(folder41), workers=2) == serial


def test_cli_worker_error_is_one_line(folder41):
    (folder41 / "0038_bad.png").write_bytes(b"not an image at all")
    serial = _error_of(open_source(folder41), workers=0)
    p = subprocess.run([sys.executable, "-m", "ganeval", "swd", str(folder41), str(folder41), "-b", "4", "-j", "2",
                        "-n", "40"], capture_output=True, timeout=300)
    assert p.returncode == 1
    # bytes, not text=True, whose newline translation would turn the progress bar's \r into \n;
    # the bar rewrites its own line with \r and what is left is the error, on one line
    err = p.stderr.decode().strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.split("\r")[-1].strip() == f"error: {serial}"


# --- 3. Mac junk in zips and folders ---------------------------------------------------------

APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)


def test_zip_skips_macosx_and_appledouble_junk(tmp_path, crops):
    folder = write_pngs(crops[0][:6], tmp_path / "imgs")
    z = tmp_path / "mac.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in sorted(folder.iterdir()):
            f.write(p, "imgs/" + p.name)
            f.writestr("__MACOSX/imgs/._" + p.name, APPLEDOUBLE)
        f.writestr("imgs/._0000.png", APPLEDOUBLE)
        f.writestr("imgs/deeper/._x.jpg", APPLEDOUBLE)
        f.writestr("__MACOSX/stray.png", APPLEDOUBLE)
    src = open_source(z)
    assert len(src) == 6
    np.testing.assert_array_equal(_all(src, workers=0).numpy(), crops[0][:6])


def test_folder_skips_appledouble_files(tmp_path, crops):
    folder = write_pngs(crops[0][:5], tmp_path / "imgs")
    (folder / "._0000.png").write_bytes(APPLEDOUBLE)
    (folder / "__MACOSX").mkdir()
    (folder / "__MACOSX" / "._0001.png").write_bytes(APPLEDOUBLE)
    for recursive in (False, True):
        src = open_source(folder, recursive=recursive)
        assert len(src) == 5
        np.testing.assert_array_equal(_all(src, workers=0).numpy(), crops[0][:5])


# --- 4. resize for arrays --------------------------------------------------------------------

@pytest.mark.parametrize("resize", [48, 80])
def test_resize_applies_to_arrays_as_to_their_png_files(tmp_path, crops, resize):
    a = crops[0][:10]
    by_files = _all(open_source(write_pngs(a, tmp_path / "png"), resize=resize), workers=0)
    assert by_files.shape == (10, 3, resize, resize)
    np.save(tmp_path / "nhwc.npy", a.transpose(0, 2, 3, 1))
    np.savez(tmp_path / "two.npz", a=a, b=a[:2])
    for src in (a, torch.from_numpy(a), str(tmp_path / "nhwc.npy"), str(tmp_path / "two.npz:a"),
                _Items(list(a.transpose(0, 2, 3, 1))), iter([a[:3], a[3:]])):
        s = open_source(src, resize=resize, num_images=10)
        got = _all(s, batch_size=4)
        assert s.resolution == (resize, resize)
        assert torch.equal(got, by_files), type(src)
    sub = open_source(a, resize=resize, num_images=4, subset="random", seed=1)
    assert torch.equal(_all(sub), by_files[torch.as_tensor(sub.indices)])


def test_resize_of_grayscale_arrays_matches_grayscale_files(tmp_path, crops):
    g = crops[0][:6, 1]
    folder = tmp_path / "gray"
    folder.mkdir()
    for i, img in enumerate(g):
        Image.fromarray(img, "L").save(folder / f"{i:04d}.png")
    assert torch.equal(_all(open_source(g, resize=40)), _all(open_source(folder, resize=40), workers=0))


def test_array_fingerprint_follows_resize(crops):
    a = crops[0][:4]
    assert open_source(a).fingerprint() == open_source(a).fingerprint()
    assert open_source(a).fingerprint() != open_source(a, resize=48).fingerprint()
    assert open_source(a, resize=32).fingerprint() != open_source(a, resize=48).fingerprint()
