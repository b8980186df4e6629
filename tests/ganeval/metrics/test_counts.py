"""One rule for undersized protocols (`ganeval.counts`): every metric that uses fewer images
(pairs, subset rows) than asked for, or than its floor, says so in one warning naming both
counts, and records both in ``settings["counts"]``.  Expected counts come from the sets' sizes.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import ganeval
from conftest import ROOT, write_pngs
from ganeval.counts import CountWarning, check_counts

SMALL = 12  # images per set


def _images(n, seed=0, size=16):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8)


def _counted(fn, *args, **kw):
    """fn's result and the messages of the CountWarnings it gave."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        r = fn(*args, **kw)
    return r, [str(w.message) for w in record if issubclass(w.category, CountWarning)]


def test_the_rule_warns_only_when_short():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning here would fail the test
        assert check_counts("x images", 10, {"real": 10, "fake": 12}) == \
            {"requested": 10, "used": {"real": 10, "fake": 12}}
        assert check_counts("x images", None, {"real": 3}) == {"requested": None, "used": {"real": 3}}
        assert check_counts("x", None, {"real": 0}, minimum=5)["minimum"] == 5  # 0: unknown, never short
    with pytest.warns(CountWarning, match=r"^x images: 10 requested, real 9 and fake 12 used \("):
        check_counts("x images", 10, {"real": 9, "fake": 12})
    with pytest.warns(CountWarning, match=r"^x images: at least 5 needed, real 4 used \(too few\)"):
        check_counts("x images", None, {"real": 4}, minimum=5, minimum_note="too few")


def test_swd_default_protocol_on_a_small_set_is_said_and_recorded():
    from ganeval.metrics.swd import DEFAULT_NUM_IMAGES
    r, said = _counted(ganeval.swd, _images(SMALL), _images(SMALL + 1, 1))
    assert len(said) == 1 and f"{DEFAULT_NUM_IMAGES} requested" in said[0]
    assert f"real {SMALL} and fake {SMALL + 1} used" in said[0]
    assert r.settings["counts"]["images"] == {"requested": DEFAULT_NUM_IMAGES,
                                              "used": {"real": SMALL, "fake": SMALL + 1}}


def test_a_count_the_sets_hold_is_silent_and_recorded():
    r, said = _counted(ganeval.swd, _images(SMALL), _images(SMALL, 1), num_images=SMALL - 2)
    assert said == []
    assert r.settings["counts"]["images"] == {"requested": SMALL - 2, "used": {"real": SMALL - 2, "fake": SMALL - 2}}


def test_msssim_pairs_beyond_the_set_are_said():
    n = 2 * SMALL + 1  # an odd last image is left out: SMALL pairs
    r, said = _counted(ganeval.ms_ssim, _images(n), num_pairs=5000)
    assert len(said) == 1 and "5000 requested" in said[0] and f"{SMALL} used" in said[0]
    assert r.settings["counts"]["pairs"] == {"requested": 5000, "used": SMALL}
    assert r.num_images["pairs"] == SMALL


def test_msssim_cli_num_pairs_is_said_and_in_the_json(tmp_path):
    from ganeval.cli import main
    folder = write_pngs(_images(2 * SMALL), tmp_path / "imgs")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = CliRunner().invoke(main, ["msssim", str(folder), "--num-pairs", "5000", "--json", "-q"])
    assert res.exit_code == 0, res.output
    said = [str(w.message) for w in record if issubclass(w.category, CountWarning)]
    assert len(said) == 1 and "5000 requested" in said[0] and f"{SMALL} used" in said[0]
    assert json.loads(res.stdout)["settings"]["counts"]["pairs"] == {"requested": 5000, "used": SMALL}


@pytest.mark.parametrize("metric", ["fid", "kid", "pr", "density", "coverage", "is", "swd", "msssim"])
def test_n_beyond_the_sets_is_said_by_every_metric(metric, tiny_inception):
    """``-n 10000`` on small sets: each metric names the count asked for and the ones used."""
    want = 10 * SMALL
    kw = {"splits": 2} if metric == "is" else {}
    if metric == "is":
        r, said = _counted(ganeval.inception_score, _images(SMALL, 1), num_images=want, cache=False, **kw)
    else:
        (r,), said = _counted(ganeval.evaluate, _images(SMALL), _images(SMALL, 1), [metric], num_images=want,
                              cache=False)
    mine = [s for s in said if s.startswith(f"{r.metric} ")]
    assert len(mine) == 1, said
    unit = "pairs" if metric == "msssim" else "images"
    asked = want // 2 if metric == "msssim" else want
    used = SMALL // 2 if metric == "msssim" else SMALL
    assert f"{asked} requested" in mine[0] and f"{used} used" in mine[0]
    rec = r.settings["counts"][unit]
    assert rec["requested"] == asked
    assert (rec["used"] if unit == "pairs" else set(rec["used"].values())) == (used if unit == "pairs" else {used})


def test_fid_floor_is_said_without_a_request(tiny_inception):
    r, said = _counted(ganeval.fid, _images(SMALL), _images(SMALL, 1), cache=False)
    assert len(said) == 1 and "at least 2048 needed" in said[0] and "rank-deficient" in said[0]
    assert r.settings["counts"]["images"] == {"requested": None, "minimum": 2048,
                                              "used": {"real": SMALL, "fake": SMALL}}


def test_kid_subset_cap_goes_through_the_same_rule(tiny_inception):
    r, said = _counted(ganeval.kid, _images(SMALL), _images(SMALL + 3, 1), num_subsets=3, cache=False)
    subset = [s for s in said if s.startswith("KID subset size")]
    assert len(subset) == 1 and "1000 requested" in subset[0] and f"{SMALL} used" in subset[0]
    assert r.settings["counts"]["subset_size"] == {"requested": 1000, "used": SMALL}
    assert r.settings["counts"]["images"] == {"requested": None, "used": {"real": SMALL, "fake": SMALL + 3}}


def test_evaluator_with_a_real_set_smaller_than_num_images_says_so(tmp_path):
    import torch
    from ganeval.hooks import Evaluator
    ev = Evaluator(_images(SMALL), metrics=("swd",), num_images=2 * SMALL, latent_dim=4, input_range=(0, 1),
                   batch_size=8)
    out, said = _counted(ev, lambda z: torch.rand(z.shape[0], 3, 16, 16), kimg=0)
    assert len(said) == 1 and f"{2 * SMALL} requested" in said[0] and f"real {SMALL}" in said[0]
    assert out["swd"].settings["counts"]["images"]["used"] == {"real": SMALL, "fake": 2 * SMALL}


def test_cli_prints_one_warning_line_with_both_counts(tmp_path):
    """`ganeval swd` at its default 16384 images on a small folder: one ``warning:`` line."""
    a, b = (write_pngs(_images(SMALL, s), tmp_path / n) for s, n in ((0, "a"), (1, "b")))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "ganeval", "swd", str(a), str(b), "-q", "-j", "0"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if "16384" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: swd images: 16384 requested")
    assert f"real {SMALL} and fake {SMALL} used" in lines[0]
