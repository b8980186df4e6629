"""Density and coverage (ganeval.metrics.dc): equal to the authors' ``prdc`` package, blockwise
at any block size, and one computation behind the streaming object, the one-shot function, the
registry's two entries, ``evaluate`` and the CLI."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch

from ganeval.errors import DataError
from ganeval.features.stats import FeatureStats
from ganeval.inception.weights import WeightsInfo
from ganeval.metrics import dc
from ganeval.metrics.registry import get_metric, metric_names
from ganeval.options import RunOptions

prdc = pytest.importorskip("prdc")
from prdc.prdc import compute_nearest_neighbour_distances  # noqa: E402

INFO = WeightsInfo("tiny", "test", "0" * 64, True, "test")


def _prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        return prdc.compute_prdc(real, fake, nearest_k=k)


def _features(n: int, m: int, dim: int, seed: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Inception-like features: non-negative; the fakes a little wider, so that density and
    coverage are neither 0 nor 1 (distances concentrate more in higher dimensions)."""
    rng = np.random.default_rng(seed)
    real = np.maximum(rng.standard_normal((n, dim)), 0)
    fake = np.maximum(rng.standard_normal((m, dim)) * (1 + 0.4 / dim ** 0.5), 0)
    return real.astype(dtype), fake.astype(dtype)


def _stats(x: np.ndarray, chunks: int = 1) -> FeatureStats:
    st = FeatureStats(dim=x.shape[1], keep_features=True)
    for part in np.array_split(x, chunks):
        st.update(torch.from_numpy(part))
    return st


@pytest.fixture(params=["default", "7 rows", "3 rows by bytes"])
def block(request, monkeypatch):
    """Default blocks, small row blocks (N, M not multiples of 7), and blocks limited by bytes."""
    if request.param == "7 rows":
        monkeypatch.setattr(dc, "_BLOCK", 7)
    elif request.param == "3 rows by bytes":
        monkeypatch.setattr(dc, "_BLOCK_BYTES", 8 * 3 * 240)  # 3 or 4 rows at these sizes
    return request.param


@pytest.mark.parametrize("n, m, k, dim", [(120, 120, 5, 64), (150, 61, 3, 32), (45, 230, 1, 16),
                                          (200, 97, 5, 2048)])
def test_equals_prdc(n, m, k, dim, block):
    real, fake = _features(n, m, dim, seed=n + m + k)
    ref = _prdc(real, fake, k)
    density, coverage, radii2 = dc.density_coverage_from_features(torch.from_numpy(real), torch.from_numpy(fake), k)
    assert density == pytest.approx(ref["density"], abs=1e-6)
    assert coverage == pytest.approx(ref["coverage"], abs=1e-6)
    assert 0 < coverage < 1 and density > 0  # a non-trivial case
    radii = compute_nearest_neighbour_distances(real, k)
    np.testing.assert_allclose(radii2.sqrt().numpy(), radii, rtol=1e-9)


def test_equals_prdc_on_float32_features():
    real, fake = _features(300, 250, 2048, seed=7, dtype=np.float32)
    ref = _prdc(real, fake, 5)
    density, coverage, _ = dc.density_coverage_from_features(torch.from_numpy(real), torch.from_numpy(fake), 5)
    assert density == pytest.approx(ref["density"], abs=1e-6)
    assert coverage == pytest.approx(ref["coverage"], abs=1e-6)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_equals_prdc_with_ties_and_duplicates(k, block):
    """Small-integer features: many exact ties with the radii and duplicate points, where
    only a strict "inside" (distance < radius) with the point itself as the first neighbour
    agrees with prdc."""
    rng = np.random.default_rng(k)
    real, fake = rng.integers(0, 3, (70, 4)).astype(np.float64), rng.integers(0, 3, (55, 4)).astype(np.float64)
    ref = _prdc(real, fake, k)
    density, coverage, _ = dc.density_coverage_from_features(torch.from_numpy(real), torch.from_numpy(fake), k)
    assert density == pytest.approx(ref["density"], abs=1e-6)
    assert coverage == pytest.approx(ref["coverage"], abs=1e-6)


def test_knn_radii2_blockwise_equals_brute_force(monkeypatch):
    x = torch.from_numpy(_features(50, 1, 8, seed=1)[0])
    full = torch.cdist(x, x).sort(dim=1).values[:, 3] ** 2
    monkeypatch.setattr(dc, "_BLOCK", 6)
    torch.testing.assert_close(dc.knn_radii2(x, 3), full, rtol=1e-9, atol=1e-12)


def test_invariants():
    real, fake = _features(80, 60, 16, seed=2)
    r, f = torch.from_numpy(real), torch.from_numpy(fake)
    d, c, _ = dc.density_coverage_from_features(r, f, 5)
    assert 0 <= c <= 1 and d >= 0
    # Identical sets: every real ball holds its own point.
    assert dc.density_coverage_from_features(r, r.clone(), 5)[1] == 1.0
    # Order does not matter.
    d2, c2, _ = dc.density_coverage_from_features(r.flip(0), f[torch.randperm(60)], 5)
    assert (d2, c2) == pytest.approx((d, c), abs=1e-12)
    # Fakes far away from every real: nothing is covered.
    assert dc.density_coverage_from_features(r, f + 100, 5)[:2] == (0.0, 0.0)


def test_too_few_images():
    r = torch.rand(5, 4, dtype=torch.float64)
    with pytest.raises(DataError, match="more than 5 real"):
        dc.density_coverage_from_features(r, r, 5)
    with pytest.raises(DataError, match="at least one fake"):
        dc.density_coverage_from_features(torch.rand(9, 4), torch.rand(0, 4), 5)
    with pytest.raises(DataError, match="pool3 features"):
        no_features = FeatureStats(dim=4)
        no_features.update(torch.rand(9, 4))
        dc.dc_from_stats(_stats(np.random.rand(9, 4)), no_features, INFO)


def test_results_from_stats_and_memo(monkeypatch):
    real, fake = _features(90, 70, 32, seed=3)
    ref = _prdc(real, fake, 5)
    a, b = _stats(real, 3), _stats(fake, 2)
    calls = []
    inner = dc.density_coverage_from_features
    monkeypatch.setattr(dc, "density_coverage_from_features", lambda *args: calls.append(args[3]) or inner(*args))
    both = dc.dc_from_stats(a, b, INFO)
    assert (both.metric, both.primary, both.values.keys()) == ("dc", "density", {"density", "coverage"})
    assert both.settings == {"k": 5, "weights_sha256": "0" * 64, "protocol": "unknown", "resize": "unknown"}
    assert both.num_images == {"real": 90, "fake": 70}
    assert both["density"] == pytest.approx(ref["density"], abs=1e-6)
    assert both["coverage"] == pytest.approx(ref["coverage"], abs=1e-6)
    den, cov = dc.density_from_stats(a, b, INFO), dc.coverage_from_stats(a, b, INFO)
    assert (den.metric, den.primary, den.values) == ("density", "density", {"density": both["density"]})
    assert (cov.metric, cov.primary, cov.values) == ("coverage", "coverage", {"coverage": both["coverage"]})
    assert len(calls) == 1  # the same pair of sets is computed once
    # More fakes: computed again, the reals' radii reused; another k: radii computed again.
    b.update(torch.from_numpy(fake[:5]))
    dc.dc_from_stats(a, b, INFO)
    dc.dc_from_stats(a, b, INFO, k=3)
    assert len(calls) == 3 and calls[1] is not None and calls[2] is None


def test_registry_entries():
    assert {"density", "coverage"} <= set(metric_names())
    for name in ("density", "coverage"):
        spec = get_metric(name)
        assert (spec.primary, spec.values, spec.lower_is_better, spec.needs_real) == (name, (name,), False, True)
        assert (spec.inception, spec.keeps_features, spec.rank_priority) == ("pool3", True, None)


@pytest.mark.parametrize("name", ["density", "coverage", "dc"])
def test_streaming_equals_one_shot(name, crops, tiny_inception):
    real, fake = crops[0][:40, :, :32, :32], crops[1][:40, :, :32, :32] // 2  # darker fakes: coverage < 1
    opts = RunOptions(num_images=40, seed=3, cache=False, device="cpu")
    if name == "dc":
        one_shot = dc.density_coverage(real, fake, **opts.inception_kw())
        m = dc.DensityCoverage(seed=3, device="cpu")
    else:
        one_shot = get_metric(name).run(real, fake, opts)
        m = get_metric(name).make(seed=3, device="cpu")
    m.ask(40)  # the count the one-shot run asked for, recorded in settings["counts"] by both paths
    for part in (real[:13], real[13:]):
        m.update(part, real=True)
    for part in (fake[:7], fake[7:]):
        m.update(torch.from_numpy(part))
    streamed = m.compute()
    assert 0.5 < streamed.values.get("coverage", 0.55) < 0.6
    assert streamed.metric == one_shot.metric == name
    assert (streamed.settings, streamed.num_images, streamed.seed) == (one_shot.settings, one_shot.num_images, 3)
    assert streamed.values == pytest.approx(one_shot.values, abs=1e-12)
    # The same values as prdc on the network's features.
    feats = [tiny_inception(torch.from_numpy(x))[0].double().numpy() for x in (real, fake)]
    ref = _prdc(*feats, 5)
    for key, v in streamed.values.items():
        assert v == pytest.approx(ref[key], abs=1e-6)
    # A training loop: new fakes against the same reals.
    m.reset(real=False)
    m.update(torch.from_numpy(real[:20]))
    assert m.compute().num_images == {"real": 40, "fake": 20}


def test_evaluate_both_entries_compute_once(crops, tiny_inception, monkeypatch):
    from ganeval import evaluate
    real, fake = crops[0][:40, :, :32, :32], crops[1][:40, :, :32, :32] // 2
    calls = []
    inner = dc.density_coverage_from_features
    monkeypatch.setattr(dc, "density_coverage_from_features", lambda *args: calls.append(1) or inner(*args))
    den, cov = evaluate(real, fake, ["density", "coverage"], cache=False, device="cpu")
    assert len(calls) == 1
    both = dc.density_coverage(real, fake, cache=False, device="cpu")
    assert (den.metric, cov.metric) == ("density", "coverage")
    assert den.values == {"density": both["density"]} and cov.values == {"coverage": both["coverage"]}


def test_cli_dc_and_all(crops, tiny_inception, tmp_path):
    from click.testing import CliRunner

    from ganeval.cli import main
    a, b = crops[0][:40, :, :32, :32], crops[1][:40, :, :32, :32]
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    expected = dc.density_coverage(a, b, k=3, cache=False, device="cpu")
    args = [str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--no-cache", "--device", "cpu", "-q"]
    res = CliRunner().invoke(main, ["dc", *args, "--k", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["metric"] == "dc" and out["settings"]["k"] == 3
    assert out["values"] == pytest.approx(expected.values, abs=1e-12)
    res = CliRunner().invoke(main, ["dc", *args])
    assert res.exit_code == 0 and "density" in res.output and "coverage" in res.output, res.output
    res = CliRunner().invoke(main, ["all", *args, "-m", "density,coverage", "--json"])
    assert res.exit_code == 0, res.output
    den, cov = json.loads(res.output)
    five = dc.density_coverage(a, b, cache=False, device="cpu")
    assert den["values"] == pytest.approx({"density": five["density"]}, abs=1e-12)
    assert cov["values"] == pytest.approx({"coverage": five["coverage"]}, abs=1e-12)
    assert CliRunner().invoke(main, ["dc", *args, "--k", "0"]).exit_code == 2
