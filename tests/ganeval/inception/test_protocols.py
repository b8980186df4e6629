"""Inception protocols without the peers: the preprocessing rules against Pillow and torch
themselves, and the bookkeeping (settings, statistics files, refusals) with a stand-in network.

The live comparisons with torch-fidelity, clean-fid, pytorch-fid and torchmetrics are in
tests/peers (run in .venv-peers by `make test`).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import write_pngs
from ganeval.cli import main
from ganeval.errors import DataError, UsageError
from ganeval.inception.protocol import PROTOCOLS, get_protocol


def _images(n=6, h=24, w=40, seed=0):
    g = np.random.default_rng(seed)
    return g.integers(0, 256, (n, 3, h, w), dtype=np.uint8)


@pytest.mark.parametrize("h,w", [(16, 16), (24, 40), (299, 299), (400, 310)])
def test_clean_resize_equals_pillow_float_bicubic(h, w):
    """clean-fid's rule, computed by Pillow itself: each channel as a mode-F image, BICUBIC to
    299x299, clipped to [0, 255]."""
    x = _images(2, h, w)
    want = np.stack([np.stack([np.asarray(Image.fromarray(img[c].astype(np.float32), mode="F")
                                          .resize((299, 299), Image.BICUBIC)).clip(0, 255) for c in range(3)])
                     for img in x])
    got = PROTOCOLS["clean"].prepare(torch.from_numpy(x)).numpy() * 128 + 128
    assert np.abs(got - want).max() < 1e-3  # float32 rounding of values up to 255


def test_pytorch_fid_normalisation_is_two_x_minus_one_of_x_over_255():
    x = _images(2, 299, 299)
    got = PROTOCOLS["pytorch-fid"].prepare(torch.from_numpy(x))
    np.testing.assert_allclose(got.numpy(), 2 * (x.astype(np.float32) / 255) - 1, atol=1e-6)


def test_tf1_at_299_is_only_the_normalisation():
    x = _images(2, 299, 299)
    np.testing.assert_allclose(PROTOCOLS["tf1"].prepare(torch.from_numpy(x)).numpy(), (x - 128.0) / 128.0, atol=1e-6)


@pytest.mark.parametrize("size", [32, 400])
def test_protocols_differ_from_each_other(size):
    """Up- and downsampling: every pair of protocols gives other network inputs (upsampled,
    torchmetrics' antialiasing changes nothing, but its normalisation differs from pytorch-fid's
    by half a level)."""
    x = torch.from_numpy(_images(2, size, size))
    out = {name: p.prepare(x) for name, p in PROTOCOLS.items()}
    for a in out:
        for b in out:
            if a < b:
                assert (out[a] - out[b]).abs().max() > 1e-3, (a, b)


def test_unknown_protocol_is_a_usage_error():
    with pytest.raises(UsageError, match="tf1, clean, pytorch-fid, torchmetrics"):
        get_protocol("torchvision")
    res = CliRunner().invoke(main, ["fid", "a/", "b/", "--protocol", "torchvision"])
    assert res.exit_code == 2


@pytest.fixture
def folders(tmp_path):
    return (str(write_pngs(_images(8, 32, 32, 1), tmp_path / "real")),
            str(write_pngs(_images(8, 32, 32, 2), tmp_path / "fake")))


def _run(*args):
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


def test_protocol_reaches_settings_stats_file_and_refusal(folders, tmp_path, tiny_inception, monkeypatch):
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    real, fake = folders
    code, out = _run("fid", real, fake, "--protocol", "clean", "--json", "-q")
    assert code == 0, out
    rec = json.loads(out[min(i for i in (out.find("["), out.find("{")) if i >= 0):])
    assert (rec[0] if isinstance(rec, list) else rec)["settings"]["protocol"] == "clean"
    stats = tmp_path / "real.npz"
    assert _run("stats", real, "-o", str(stats), "--protocol", "clean", "-q")[0] == 0
    with np.load(stats) as z:
        meta = json.loads(str(z["meta"]))
    assert meta["protocol"] == "clean" and meta["resize"] is None
    code, out = _run("fid", str(stats), fake, "-q")  # default tf1 against a clean file
    assert code == 1 and "'clean'" in out and "'tf1'" in out and len(out.strip().splitlines()) == 1, out
    code, out = _run("fid", str(stats), fake, "--protocol", "clean", "-q", "--json")
    assert code == 0, out


def test_stats_made_with_resize_are_refused_against_native_images(folders, tmp_path, tiny_inception, monkeypatch):
    """Issue 19 item 16: the resize is recorded and a mismatch refused like a weights mismatch."""
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    real, fake = folders
    stats = tmp_path / "r16.npz"
    assert _run("stats", real, "-o", str(stats), "--resize", "16", "-q")[0] == 0
    code, out = _run("fid", str(stats), fake, "-q")
    assert code == 1 and "--resize 16" in out and "no --resize" in out, out
    assert _run("fid", str(stats), fake, "--resize", "16", "-q")[0] == 0


@pytest.mark.parametrize("cache", [[], ["--no-cache"]])
def test_stats_file_holds_features_exactly_with_the_flag(folders, tmp_path, tiny_inception, monkeypatch, cache):
    """Issue 19 item 11: the same command writes the same file whether or not the cache is on."""
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    real, _ = folders
    for flag, want in (([], {"mu", "sigma", "n", "meta"}), (["--features"], {"mu", "sigma", "n", "meta", "features",
                                                                               "logits_unbiased"})):
        out = tmp_path / f"s{len(flag)}.npz"
        assert _run("stats", real, "-o", str(out), "-q", *cache, *flag)[0] == 0
        with np.load(out) as z:
            assert set(z.keys()) == want


@pytest.mark.parametrize("arrays,needle", [
    (dict(sigma=np.eye(4)), "lacks 'mu'"),
    (dict(mu=np.zeros(4)), "lacks 'sigma'"),
    (dict(mu=np.zeros(4, complex), sigma=np.eye(4)), "complex"),
    (dict(mu=np.zeros(4), sigma=np.eye(4), n=np.int64(0)), "positive whole image count"),
    (dict(mu=np.zeros(4), sigma=np.eye(4), n=np.float64(2.5)), "positive whole image count"),
])
def test_unusable_statistics_files_say_what_is_wrong(tmp_path, arrays, needle):
    """Issue 19 item 10: a file without mu says so (it used to be read as an image array)."""
    from ganeval.features.stats import is_stats_file, load_stats
    path = tmp_path / "s.npz"
    np.savez(path, **arrays)
    assert is_stats_file(str(path))
    with pytest.raises(DataError, match=needle):
        load_stats(path, dim=None)


def test_bootstrap_against_a_mu_sigma_file_resamples_the_fakes_with_a_warning(folders, tmp_path, tiny_inception,
                                                                              monkeypatch):
    """Issue 19 item 12: what the README promises for a mu/sigma real side under --bootstrap."""
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    import ganeval
    real, fake = folders
    stats = tmp_path / "real.npz"
    assert _run("stats", real, "-o", str(stats), "-q")[0] == 0
    with pytest.warns(UserWarning, match="only mu and sigma"):
        r = ganeval.fid(str(stats), fake, bootstrap=3, cache=False)
    assert r.uncertainty["FID"]["resampled"] == ["fake"]
    plain = ganeval.fid(str(stats), fake, cache=False)
    assert r.values["FID"] == plain.values["FID"]


def test_sides_of_different_protocols_are_refused():
    from ganeval.features.stats import FeatureStats
    from ganeval.metrics._inception import protocol_settings
    a, b = FeatureStats(4), FeatureStats(4)
    a.protocol, b.protocol = "tf1", "clean"
    with pytest.raises(DataError, match="clean and tf1"):
        protocol_settings(a, b)
    b.protocol = "tf1"
    assert protocol_settings(a, b) == {"protocol": "tf1", "resize": "tf1-bilinear-299"}


def test_evaluator_and_leaderboard_take_the_protocol(folders, tmp_path, tiny_inception, monkeypatch):
    """`--protocol` reaches the training-loop Evaluator and the leaderboard (whose store records it)."""
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    from ganeval.hooks import Evaluator
    real, fake = folders
    ev = Evaluator(real, ["fid"], num_images=8, latent_dim=4, input_range=(0, 255), protocol="clean")
    fakes = torch.from_numpy(_images(8, 32, 32, 3)).float()
    with pytest.warns(UserWarning):
        results = ev(lambda z: fakes[: z.shape[0]])
    assert [r.settings["protocol"] for r in results.values()] == ["clean"]
    store = tmp_path / "lb"
    code, out = _run("leaderboard", "--real", real, "--entry", f"a={fake}", "-m", "fid", "-n", "8",
                     "--protocol", "pytorch-fid", "--store", str(store))
    assert code == 0, out
    assert json.loads((store / "protocol.json").read_text())["inception_protocol"] == "pytorch-fid"
    stored = json.loads(next((store / "results").glob("*.json")).read_text())
    assert stored["results"][0]["settings"]["protocol"] == "pytorch-fid"
