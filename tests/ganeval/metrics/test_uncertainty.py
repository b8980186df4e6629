"""Error bars: SWD seed repeats against the reference's seed-to-seed spread, the bootstrap
against closed forms and a coverage simulation, streaming = one-shot, and the CLI."""
import json
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from ganeval.errors import DataError, UsageError
from ganeval.features.stats import FeatureStats
from ganeval.metrics.fid import fid_from_stats
from ganeval.metrics.registry import get_metric
from ganeval.metrics.swd import SWD, SWDDescriptors, sliced_wasserstein, swd
from ganeval.metrics.uncertainty import bootstrap, check_count, paired_difference, resample_indices, summarize
from ganeval.options import RunOptions

from conftest import ROOT, write_pngs

SWD_KEYS = ["SWDx1e3_64", "SWDx1e3_32", "SWDx1e3_16", "SWDx1e3_avg"]


def test_swd_repeat_spread_is_the_reference_seed_to_seed_spread(crops, reference):
    # The reference reran its SWD with np.random.seed(0..4) (new patches and directions); its
    # spread, with ddof=1 as ours, is the independent measurement of what --repeats estimates.
    # 5 reference runs leave its std uncertain by about +-35%, hence the factor 2 of the issue.
    result = swd(*crops, repeats=24)
    ref_std = np.std(np.asarray(reference["swd_runs"]), axis=0, ddof=1)
    assert reference["swd_names"] == SWD_KEYS
    for key, expected in zip(SWD_KEYS, ref_std):
        ratio = result.uncertainty[key]["std"] / expected
        assert 0.5 <= ratio <= 2.0, (key, ratio)


def test_swd_repeats_are_the_runs_of_consecutive_seeds_and_keep_the_value(crops):
    a, b = crops[0][:48], crops[1][:48]
    result = swd(a, b, repeats=3, seed=5)
    assert result.values == swd(a, b, seed=5).values  # the published single value does not move
    for r in range(3):
        single = swd(a, b, seed=5 + r).values
        for key, v in single.items():
            assert result.uncertainty[key]["replicates"][r] == v
    u = result.uncertainty["SWDx1e3_avg"]
    assert (u["method"], u["n"], u["seed"], u["redrawn"]) == ("repeats", 3, 5, "patches+directions")
    reps = np.asarray(u["replicates"])
    assert u["std"] == pytest.approx(reps.std(ddof=1))
    from scipy.stats import t
    half = t.ppf(0.975, 2) * reps.std(ddof=1) / np.sqrt(3)
    assert (u["lo"], u["hi"]) == pytest.approx((reps.mean() - half, reps.mean() + half))


def test_swd_redraw_directions_reuses_one_set_of_descriptors(crops):
    a, b = torch.from_numpy(crops[0][:40]), torch.from_numpy(crops[1][:40])
    result = swd(a, b, repeats=3, redraw="directions")
    da, db = SWDDescriptors(0, 0), SWDDescriptors(0, 1)
    da.update(a)
    db.update(b)
    for r in range(3):
        assert result.uncertainty["SWDx1e3_avg"]["replicates"][r] == pytest.approx(
            np.mean(sliced_wasserstein(da, db, seed=r)), rel=1e-12)
    assert result.uncertainty["SWDx1e3_avg"]["redrawn"] == "directions"


def test_swd_repeats_stream_like_one_shot_in_any_batches(crops):
    a, b = crops[0][:40], crops[1][:40]
    one_shot = swd(a, b, repeats=2, seed=1)
    m = SWD(seed=1, repeats=2)
    for s, e in ((0, 7), (7, 40)):
        m.update(a[s:e], real=True)
    for s, e in ((0, 33), (33, 40)):
        m.update(b[s:e])
    assert m.compute().uncertainty == one_shot.uncertainty


@pytest.mark.parametrize("bad", [1, -2])
def test_a_single_repeat_or_negative_count_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="at least 2"):
        check_count(bad, "--repeats")
    with pytest.raises(UsageError):
        SWD(repeats=bad)


def test_bootstrap_std_of_a_mean_is_sigma_over_sqrt_n():
    # Closed form: the bootstrap standard error of a sample mean is s * sqrt((n-1)/n) / sqrt(n).
    x = np.random.default_rng(1).normal(3.0, 2.0, size=400)
    unc = bootstrap({"mean": float(x.mean())}, lambda _, f: {"mean": float(x[f].mean())}, None, len(x), 2000, 0)
    expected = x.std(ddof=0) / np.sqrt(len(x))
    assert unc["mean"]["std"] == pytest.approx(expected, rel=0.08)
    assert unc["mean"]["lo"] < x.mean() < unc["mean"]["hi"]
    assert unc["mean"]["resampled"] == ["fake"]


def test_resample_indices_depend_only_on_seed_side_replicate_and_size():
    a = resample_indices(100, 3, 7, 1)
    assert np.array_equal(a, resample_indices(100, 3, 7, 1))
    assert not np.array_equal(a, resample_indices(100, 3, 7, 0))
    assert not np.array_equal(a, resample_indices(100, 3, 8, 1))
    assert a.min() >= 0 and a.max() < 100 and len(np.unique(a)) < 100  # with replacement


def _stats(x: np.ndarray) -> FeatureStats:
    st = FeatureStats(dim=x.shape[1], keep_features=True)
    st.update(torch.from_numpy(x))
    return st


@pytest.mark.filterwarnings("ignore:.*rank-deficient")
def test_fid_bootstrap_interval_covers_the_protocol_value_about_95_percent_of_the_time():
    # A coverage simulation through the real code path (FeatureStats -> ResampledStats ->
    # fid_from_stats): two 4-d Gaussians, n = 150 per set.  The protocol's expected value
    # E[FID_n] (bias included) comes from 4000 fresh draws; the centred bootstrap interval of
    # each of 80 independent experiments should contain it about 95% of the time.
    rng = np.random.default_rng(0)
    d, n = 4, 150
    mu_b, scale_b = np.full(d, 0.3), np.diag([1.0, 1.3, 0.8, 1.1])

    def draw():
        return rng.normal(size=(n, d)), rng.normal(size=(n, d)) @ scale_b + mu_b

    def fid_np(a, b):
        from ganeval.metrics.fid import frechet_distance
        return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))

    expected = np.mean([fid_np(*draw()) for _ in range(4000)])
    info = types.SimpleNamespace(sha256="0" * 64, format="test")
    fid_metric = get_metric("fid").make(seed=0, bootstrap=100)
    fid_metric.info = info
    covered = 0
    for _ in range(80):
        a, b = draw()
        sa, sb = _stats(a), _stats(b)
        result = fid_metric._with_uncertainty(fid_from_stats(sa, sb, info), sa, sb)
        u = result.uncertainty["FID"]
        assert u["lo"] <= result.value <= u["hi"]  # the full-set value lies inside its interval
        covered += u["lo"] <= expected <= u["hi"]
    assert 0.85 <= covered / 80 <= 1.0, covered


def test_resampled_moments_equal_the_moments_of_the_repeated_rows():
    from ganeval.features.stats import ResampledStats
    x = torch.randn(30, 5, dtype=torch.float64).float()
    idx = resample_indices(30, 0, 0, 1)
    r = ResampledStats(x, None, idx, 5)
    rows = x[torch.from_numpy(idx)].double().numpy()
    assert r.mu == pytest.approx(rows.mean(0), rel=1e-9, abs=1e-12)
    assert r.sigma == pytest.approx(np.cov(rows, rowvar=False), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", ["fid", "kid", "pr", "is", "density"])
def test_bootstrap_streaming_equals_one_shot_and_covers_the_value(name, crops, tiny_inception):
    spec = get_metric(name)
    real, fake = crops[0][:60], crops[1][:60]
    # Few replicates: a 2048-d FID costs ~1.5 s on two cores; coverage is tested above.
    opts = RunOptions(num_images=60, seed=2, cache=False, device="cpu", bootstrap=3)
    one_shot = spec.run(real, fake, opts)
    m = spec.make(seed=2, device="cpu", bootstrap=3)
    if spec.needs_real:
        m.update(real[:25], real=True)
        m.update(real[25:], real=True)
    m.update(fake[:41])
    m.update(fake[41:])
    streamed = m.compute()
    assert streamed.values == pytest.approx(one_shot.values, rel=1e-6)
    assert set(one_shot.uncertainty) == set(one_shot.values)
    for key, u in one_shot.uncertainty.items():
        assert streamed.uncertainty[key]["replicates"] == pytest.approx(u["replicates"], rel=1e-6, abs=1e-12)
        assert u["method"] == "bootstrap" and u["n"] == 3
        assert u["resampled"] == (["real", "fake"] if spec.needs_real else ["fake"])
        assert u["lo"] <= one_shot.values[key] <= u["hi"], key
    # The values themselves are those of a run without error bars.
    plain = spec.run(real, fake, RunOptions(num_images=60, seed=2, cache=False, device="cpu"))
    assert plain.values == pytest.approx(one_shot.values, rel=1e-9) and not plain.uncertainty


def test_bootstrap_with_real_statistics_of_mu_and_sigma_resamples_the_fakes_and_says_so(crops, tiny_inception,
                                                                                      tmp_path):
    from ganeval.features.stats import load_stats, save_stats
    from ganeval.metrics.fid import FID
    real = FeatureStats()
    real.update(tiny_inception(torch.from_numpy(crops[0][:50]))[0])
    save_stats(tmp_path / "real.npz", real, weights_sha256="0" * 64)
    m = FID(seed=0, bootstrap=2)
    m.set_real_stats(str(tmp_path / "real.npz"))
    m.update(crops[1][:50])
    with pytest.warns(UserWarning, match="resamples only the fakes"):
        result = m.compute()
    assert result.uncertainty["FID"]["resampled"] == ["fake"]
    assert load_stats(tmp_path / "real.npz").features == []


def test_paired_difference_of_identical_replicates_is_never_significant():
    u = summarize(5.0, [5.0, 5.5, 4.2, 6.1], "repeats", 0, redrawn="patches+directions")
    d = paired_difference(5.0, u, 5.0, u)
    assert d["significant"] is False and d["lo"] == d["hi"] == 0.0
    ub = summarize(2.0, [2.0, 2.4, 1.1, 3.0], "repeats", 0, redrawn="patches+directions")
    assert paired_difference(5.0, u, 2.0, ub)["significant"] is True  # every paired difference is 3.0 +- 0.1
    other = summarize(2.0, [2.0, 2.4, 1.1], "repeats", 0, redrawn="patches+directions")
    refused = paired_difference(5.0, u, 2.0, other)
    assert refused["significant"] is None and "n differ" in refused["error"]


def test_non_finite_replicate_is_an_error_not_a_number():
    with pytest.raises(DataError, match="replicate 1 came out nan"):
        summarize(1.0, [1.0, float("nan"), 2.0], "bootstrap", 0)


def test_cli_prints_error_bars_and_json_and_refuses_bad_counts(crops, tmp_path):
    a = write_pngs(crops[0][:32], tmp_path / "a")
    b = write_pngs(crops[1][:32], tmp_path / "b")
    run = lambda *args: subprocess.run([sys.executable, "-m", "ganeval", *args], capture_output=True, text=True,  # noqa: E731
                                       cwd=ROOT)
    p = run("swd", str(a), str(b), "--repeats", "3", "-q")
    assert p.returncode == 0, p.stderr
    assert "SWDx1e3_avg" in p.stdout and "±" in p.stdout and "3 seeds (0..2)" in p.stdout
    p = run("swd", str(a), str(b), "--repeats", "2", "--redraw", "directions", "-q", "--json")
    u = json.loads(p.stdout)["uncertainty"]["SWDx1e3_avg"]
    assert u["n"] == 2 and u["redrawn"] == "directions" and len(u["replicates"]) == 2
    p = run("msssim", str(b), "--bootstrap", "20", "-q")
    assert p.returncode == 0 and "MS-SSIM" in p.stdout and "±" in p.stdout, p.stderr
    assert "20 bootstrap resamples of the fake set" in p.stdout
    for args in (["swd", str(a), str(b), "--repeats", "1"], ["fid", str(a), str(b), "--bootstrap", "-5"]):
        p = run(*args)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "at least 2" in p.stderr


def test_error_bar_options_no_requested_metric_takes_are_usage_errors(crops, tmp_path):
    from ganeval.evaluate import evaluate
    from ganeval.hooks import Evaluator
    from ganeval.reporting.leaderboard import Entry, run_leaderboard
    with pytest.raises(UsageError, match="--bootstrap 5: none of the metrics swd takes it; it applies to msssim, fid"):
        evaluate(crops[0][:8], crops[1][:8], ["swd"], bootstrap=5)
    with pytest.raises(UsageError, match="--repeats 3: none of the metrics msssim takes it; it applies to swd"):
        Evaluator(crops[0][:8], metrics=("msssim",), repeats=3)
    np.save(tmp_path / "a.npy", crops[0][:8])
    with pytest.raises(UsageError, match="--repeats 2: none of the metrics msssim"):
        run_leaderboard(str(tmp_path / "a.npy"), [Entry("a", str(tmp_path / "a.npy"))], tmp_path / "lb",
                        metrics=["msssim"], repeats=2, log=lambda s: None)
    assert not (tmp_path / "lb").exists()
    # One metric that takes it is enough: the others report their values without error bars.
    [s, m] = evaluate(crops[0][:32], crops[1][:32], ["swd", "msssim"], repeats=2)
    assert s.uncertainty and not m.uncertainty


def test_msssim_bootstrap_resamples_the_pairs_in_set_order(crops):
    from ganeval.metrics.msssim import MSSSIM, ms_ssim, ms_ssim_pairs
    x = torch.from_numpy(crops[1][:40])
    one_shot = ms_ssim(x, num_pairs=20, bootstrap=50, seed=4)
    pairs = ms_ssim_pairs(x[0::2], x[1::2]).double().numpy()
    assert one_shot.value == pytest.approx(pairs.mean(), rel=1e-6)
    u = one_shot.uncertainty["MS-SSIM"]
    expected = [pairs[resample_indices(20, 4, b, 1)].mean() for b in range(50)]  # closed form: means of resamples
    assert u["replicates"] == pytest.approx(expected, rel=1e-6)
    assert u["std"] == pytest.approx(np.std(expected, ddof=1), rel=1e-6) and u["lo"] < one_shot.value < u["hi"]
    # Streamed out of order (as shares of a distributed run arrive): the same pairs, the same replicates.
    m = MSSSIM(20, seed=4, bootstrap=50)
    for s, e in ((24, 40), (0, 10), (10, 24)):
        m.update(x[s:e], start=s)
    assert m.compute().uncertainty["MS-SSIM"]["replicates"] == pytest.approx(u["replicates"], rel=1e-6)


def test_a_bootstrap_of_a_single_pair_or_image_is_an_error_not_a_zero_width_interval(crops):
    from ganeval.metrics.msssim import ms_ssim
    with pytest.raises(DataError, match="cannot resample a fake set of 1"):
        ms_ssim(crops[1][:2], num_pairs=1, bootstrap=5)
    with pytest.raises(DataError, match="cannot resample a real set of 1"):
        bootstrap({"v": 0.0}, lambda r, f: {"v": 0.0}, 1, 10, 3, 0)
