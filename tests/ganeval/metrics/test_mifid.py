"""MiFID: the memorization distance against a direct float64 loop, the threshold's closed
forms (identical sets, copied reals, no memorization), FID against scipy, and the plumbing
(one-shot, streaming, evaluate, bootstrap, CLI) on the tiny stand-in network.  torchmetrics
itself is compared in tests/peers/test_sfid_mifid_peers.py."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner

from conftest import tiny_weights_info


def _stats(rows: torch.Tensor):
    from ganeval.features.stats import FeatureStats
    s = FeatureStats(rows.shape[1], keep_features=True)
    s.update(rows)
    s.protocol = "tf1"
    return s


def _rows(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64) ** 2 + shift  # nonnegative, like pool3


def _direct_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Mean over non-zero real rows of min over non-zero fake rows of 1 - |cos|, one pair at a time."""
    real = [r for r in real if r.sum() != 0]
    fake = [f for f in fake if f.sum() != 0]
    return float(np.mean([min(1 - abs(r @ f) / (np.linalg.norm(r) * np.linalg.norm(f)) for f in fake)
                          for r in real]))


def test_memorization_distance_equals_a_direct_loop_and_drops_zero_rows(monkeypatch):
    from ganeval.metrics import mifid as M
    real, fake = _rows(30, 12, 0), _rows(25, 12, 1)
    real[3] = 0
    fake[7] = 0
    want = _direct_distance(real.numpy(), fake.numpy())
    assert M.memorization_distance(real, fake) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(M, "_BLOCK", 50)  # two fake rows' worth: many blocks of real rows
    assert M.memorization_distance(real, fake) == pytest.approx(want, rel=1e-12)


def test_all_zero_rows_are_a_data_error():
    from ganeval.errors import DataError
    from ganeval.metrics.mifid import memorization_distance
    with pytest.raises(DataError, match="fake"):
        memorization_distance(_rows(4, 3, 0), torch.zeros(4, 3, dtype=torch.float64))


def test_identical_sets_give_zero():
    from ganeval.metrics.mifid import mifid_from_stats
    real = _rows(50, 8, 0)
    r = mifid_from_stats(_stats(real), _stats(real.clone()), tiny_weights_info())
    assert r.values["FID"] <= 1e-8 and r.values["MiFID"] == 0.0
    assert r.values["memorization_distance"] == pytest.approx(0.0, abs=1e-12)


def test_fakes_that_copy_every_real_give_the_largest_penalty():
    """Each real has an exact copy among the fakes: distance 0, MiFID = FID / 1e-14."""
    from ganeval.metrics.mifid import mifid_from_stats
    real = _rows(40, 8, 0)
    fake = torch.cat([real, _rows(40, 8, 1, shift=0.5)])
    r = mifid_from_stats(_stats(real), _stats(fake), tiny_weights_info())
    assert r.values["memorization_distance"] == pytest.approx(0.0, abs=1e-12)
    assert r.settings["penalised"] is True
    assert r.values["MiFID"] == pytest.approx(r.values["FID"] / (r.values["memorization_distance"] + 1e-14),
                                              rel=1e-12)
    assert r.values["MiFID"] > 1e12 * r.values["FID"]


def test_no_memorization_leaves_fid_and_fid_matches_scipy():
    from ganeval.metrics.mifid import mifid_from_stats
    g = torch.Generator().manual_seed(5)
    real = torch.randn(200, 16, generator=g, dtype=torch.float64)
    fake = torch.randn(40, 16, generator=g, dtype=torch.float64) * 1.3 + 0.2  # few signed rows: wide angles
    r = mifid_from_stats(_stats(real), _stats(fake), tiny_weights_info())
    x1, x2 = real.numpy(), fake.numpy()
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    want = float(np.sum((x1.mean(0) - x2.mean(0)) ** 2) + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)
    assert r.values["FID"] == pytest.approx(want, rel=1e-9)
    assert r.values["memorization_distance"] >= 0.1 and r.settings["penalised"] is False
    assert r.values["MiFID"] == pytest.approx(r.values["FID"] / (1 + 1e-14), rel=1e-15)
    # The threshold is the caller's: above the distance, the same sets are penalised.
    p = mifid_from_stats(_stats(real), _stats(fake), tiny_weights_info(), cosine_distance_eps=1.0)
    d = p.values["memorization_distance"]
    assert p.settings["penalised"] and p.values["MiFID"] == pytest.approx(p.values["FID"] / (d + 1e-14), rel=1e-12)


@pytest.mark.parametrize("eps", [0, -0.1, 1.5, True, "x", float("nan")])
def test_bad_eps_is_a_usage_error(eps):
    from ganeval.errors import UsageError
    from ganeval.metrics.mifid import MiFID
    with pytest.raises(UsageError, match="cosine_distance_eps"):
        MiFID(cosine_distance_eps=eps)


def _images(seed: int, n: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)


def test_one_shot_streaming_evaluate_and_bootstrap_agree(tiny_inception, tmp_path, monkeypatch):
    import ganeval
    from ganeval.metrics.mifid import MiFID
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    real, fake = _images(0), torch.cat([_images(0)[:6], _images(1)[:6]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # under 2048 images
        one = ganeval.mifid(real, fake)
        m = MiFID()
        m.update(real, real=True)
        m.update(fake[:5])
        m.update(fake[5:])
        streamed = m.compute()
        fid, mi = ganeval.evaluate(real, fake, metrics=["fid", "mifid"])
        boot = ganeval.mifid(real, fake, bootstrap=4)
    assert one.metric == "mifid" and one.primary == "MiFID"
    # Batches of 5 and of 12 round the float32 features differently (and with the thread
    # count); dividing by the small memorization distance of near-copies magnifies that.
    assert streamed.values["MiFID"] == pytest.approx(one.values["MiFID"], rel=1e-6)
    assert streamed.settings == one.settings == mi.settings
    assert mi.values == one.values and fid.values["FID"] == pytest.approx(one.values["FID"], rel=1e-12)
    assert boot.values == one.values and boot.uncertainty["MiFID"]["n"] == 4


def test_cli_mifid(tiny_inception, tmp_path, monkeypatch):
    from ganeval.cli import main
    from conftest import write_pngs
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    a, b = write_pngs(_images(0).numpy(), tmp_path / "a"), write_pngs(_images(1).numpy(), tmp_path / "b")
    res = CliRunner().invoke(main, ["mifid", str(a), str(b), "--cosine-distance-eps", "0.5", "-q", "--json"])
    assert res.exit_code == 0, res.output
    assert '"MiFID"' in res.output and '"cosine_distance_eps": 0.5' in res.output
    res = CliRunner().invoke(main, ["mifid", str(a), str(b), "--cosine-distance-eps", "0", "-q"])
    assert res.exit_code == 2
