"""Every PIL mode and every integer depth a file can hold: decoded exactly, or refused.

Expected pixels are computed here independently of ganeval: the depth rule
round(v * 255 / (2**b - 1)) in floating point, and for 8-bit colour modes PIL's own
``convert("RGB")``, which is what torch-fidelity, clean-fid and pytorch-fid apply.
"""
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval import DataError, open_source

RNG = np.random.default_rng(19)


def _pixels(src):
    """The first image of a source as HWC uint8."""
    return torch.cat(list(open_source(src).batches(workers=0)))[0].permute(1, 2, 0).numpy()


def _depth_rule(v, bits):
    return np.round(np.asarray(v, np.float64) * 255 / (2 ** bits - 1)).astype(np.uint8)


def _gray3(a):
    return np.dstack([a] * 3)


class _Items(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _dataset_pixels(img):
    return torch.cat(list(open_source(_Items([img])).batches()))[0].permute(1, 2, 0).numpy()


# --- every PIL mode, as an in-memory image (a torch Dataset of PIL images) -------------------

RGB8 = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
RGBA8 = RNG.integers(0, 256, (6, 5, 4), dtype=np.uint8)


def _mode_image(mode):
    if mode in ("RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV"):
        return Image.frombytes(mode, (5, 6), (RGBA8 if len(mode) == 4 else RGB8).tobytes())
    if mode in ("L", "1"):
        return Image.frombytes("L", (5, 6), RGB8[..., 0].tobytes()).convert(mode) if mode == "1" else \
            Image.frombytes("L", (5, 6), RGB8[..., 0].tobytes())
    if mode in ("LA", "La"):
        return Image.frombytes(mode, (5, 6), RGBA8[..., :2].tobytes())
    if mode in ("P", "PA"):
        p = Image.frombytes("P", (5, 6), RGB8[..., 0].tobytes())
        p.putpalette(RNG.integers(0, 256, 768, dtype=np.uint8).tobytes())
        return p if mode == "P" else p.convert("PA")
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["1", "L", "P", "PA", "RGB", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV"])
def test_8bit_modes_are_pils_rgb_conversion(mode):
    img = _mode_image(mode)
    assert img.mode == mode
    np.testing.assert_array_equal(_dataset_pixels(img), np.asarray(img.convert("RGB")))


@pytest.mark.parametrize("mode", ["LA", "La", "RGBA"])
def test_alpha_modes_drop_alpha(mode):
    img = _mode_image(mode)
    if mode == "RGBA":
        expect = RGBA8[..., :3]
    elif mode == "LA":
        expect = _gray3(RGBA8[..., 0])
    else:  # premultiplied: the stored grey divided by alpha, as PIL's La -> LA does
        expect = _gray3(np.asarray(img.convert("LA"))[..., 0])
    np.testing.assert_array_equal(_dataset_pixels(img), expect)


@pytest.mark.parametrize("mode", ["I;16", "I;16L", "I;16B", "I;16N"])
def test_16bit_modes(mode):
    v = RNG.integers(0, 65536, (6, 5)).astype(np.uint16)
    img = Image.frombytes(mode, (5, 6), v.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    np.testing.assert_array_equal(np.asarray(img), v)
    np.testing.assert_array_equal(_dataset_pixels(img), _gray3(_depth_rule(v, 16)))


def test_mode_i_holds_8bit_values_or_is_refused():
    ok = RNG.integers(0, 256, (6, 5)).astype(np.int32)
    ok[0, :2] = (0, 255)
    np.testing.assert_array_equal(_dataset_pixels(Image.fromarray(ok)), _gray3(ok.astype(np.uint8)))
    for bad, shown in ((ok * 300, "76500"), (ok - 1, "-1")):
        with pytest.raises(DataError, match=f"signed 32-bit.*{shown}"):
            _dataset_pixels(Image.fromarray(bad))


def test_float_images_are_refused():
    with pytest.raises(DataError, match="floating-point"):
        _dataset_pixels(Image.fromarray(RNG.random((6, 5)).astype(np.float32)))


# --- integer depths of files ----------------------------------------------------------------

def write_tiff(path, a, bits, sample_format=1, photometric=1):
    """A one-strip uncompressed grey TIFF written by hand: any depth, packed MSB first."""
    h, w = a.shape
    if bits % 8:
        rows = []
        for r in a:
            s = "".join(f"{int(v):0{bits}b}" for v in r)
            rows.append(int(s + "0" * (-len(s) % 8), 2).to_bytes((len(s) + 7) // 8, "big"))
        data = b"".join(rows)
    else:
        kind = {1: "u", 2: "i"}[sample_format]
        data = np.asarray(a).astype(f"<{kind}{bits // 8}").tobytes()
    tags = [(256, 4, w), (257, 4, h), (258, 3, bits), (259, 3, 1), (262, 3, photometric), (273, 4, 0),
            (277, 3, 1), (278, 4, h), (279, 4, len(data)), (339, 3, sample_format)]
    data_at = 8 + 2 + 12 * len(tags) + 4
    out = b"II*\x00" + struct.pack("<IH", 8, len(tags))
    for tag, typ, val in tags:
        val = data_at if tag == 273 else val
        out += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", val, 0) if typ == 3 else struct.pack("<I", val))
    path.write_bytes(out + b"\x00\x00\x00\x00" + data)
    return path


def test_12bit_tiff_uses_its_whole_range(tmp_path):
    v = RNG.integers(0, 4096, (6, 5))
    v[0, :2] = (0, 4095)
    p = write_tiff(tmp_path / "x.tif", v, 12)
    np.testing.assert_array_equal(np.asarray(Image.open(p)), v)  # PIL reads 12-bit samples exactly
    got = _pixels(p)
    np.testing.assert_array_equal(got, _gray3(_depth_rule(v, 12)))
    assert got[0, 1, 0] == 255  # full scale is white, not 4095/257 = 16


def test_16bit_tiff_white_is_zero_is_inverted(tmp_path):
    v = RNG.integers(0, 65536, (6, 5))
    p = write_tiff(tmp_path / "x.tif", v, 16, photometric=0)
    np.testing.assert_array_equal(_pixels(p), _gray3(_depth_rule(65535 - v, 16)))
    p8 = write_tiff(tmp_path / "y.tif", v % 256, 8, photometric=0)  # PIL inverts 8-bit itself
    np.testing.assert_array_equal(_pixels(p8), _gray3(255 - (v % 256).astype(np.uint8)))


def test_32bit_integer_tiffs_are_refused_not_saturated(tmp_path):
    # The case: 18-bit data in a 32-bit TIFF decoded with 89% of its pixels at 255.
    v = RNG.integers(0, 2 ** 18, (6, 5))
    Image.fromarray(v.astype(np.int32)).save(tmp_path / "signed.tif")  # PIL's writer: signed 32-bit
    write_tiff(tmp_path / "unsigned.tif", v, 32)
    with pytest.raises(DataError, match=r"signed.tif: signed 32-bit integer samples must hold 8-bit values"):
        open_source(tmp_path / "signed.tif").array()
    with pytest.raises(DataError, match=r"unsigned.tif: 32-bit integer samples have no agreed mapping"):
        open_source(tmp_path / "unsigned.tif").array()


def test_all_negative_or_all_high_32bit_sets_are_refused(tmp_path):
    # These gave MS-SSIM 1.0: every pixel clipped to 0 or saturated to 255.
    for i, v in enumerate((np.full((6, 5), -7), np.full((6, 5), 2 ** 20))):
        Image.fromarray(v.astype(np.int32)).save(tmp_path / f"{i}.tif")
    with pytest.raises(DataError, match="signed 32-bit"):
        open_source(tmp_path, num_images=2).array()


def test_32bit_tiff_of_8bit_values_is_read(tmp_path):
    v = RNG.integers(0, 256, (6, 5))
    Image.fromarray(v.astype(np.int32)).save(tmp_path / "x.tif")
    assert Image.open(tmp_path / "x.tif").mode == "I"
    np.testing.assert_array_equal(_pixels(tmp_path / "x.tif"), _gray3(v.astype(np.uint8)))


@pytest.mark.parametrize("bits", [8, 16])
def test_signed_tiffs(tmp_path, bits):
    v = RNG.integers(0, 128 if bits == 8 else 256, (6, 5))  # what int8 can hold of 0..255
    np.testing.assert_array_equal(_pixels(write_tiff(tmp_path / "ok.tif", v, bits, 2)), _gray3(v.astype(np.uint8)))
    v[2, 3] = -3  # PIL reads signed 8-bit samples as unsigned: -3 would pass for 253
    with pytest.raises(DataError, match=f"bad.tif: signed {bits}-bit integer samples must hold 8-bit values.*-3"):
        _pixels(write_tiff(tmp_path / "bad.tif", v, bits, 2))


def test_unsigned_8_and_16bit_tiffs_by_the_depth_rule(tmp_path):
    v = RNG.integers(0, 65536, (6, 5))
    np.testing.assert_array_equal(_pixels(write_tiff(tmp_path / "a.tif", v, 16)), _gray3(_depth_rule(v, 16)))
    np.testing.assert_array_equal(_pixels(write_tiff(tmp_path / "b.tif", v % 256, 8)), _gray3(v % 256))


def test_32bit_float_tiff_is_refused(tmp_path):
    Image.fromarray(RNG.random((6, 5)).astype(np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match="f.tif: floating-point images are not supported"):
        open_source(tmp_path / "f.tif").array()


def test_lazy_pil_images_keep_their_file_depth(tmp_path):
    # A Dataset that returns Image.open(path) hands over an unloaded image: its depth is the file's.
    v = RNG.integers(0, 4096, (6, 5))
    img = Image.open(write_tiff(tmp_path / "x.tif", v, 12))
    np.testing.assert_array_equal(_dataset_pixels(img), _gray3(_depth_rule(v, 12)))
