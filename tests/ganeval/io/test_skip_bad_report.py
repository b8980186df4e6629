"""--skip-bad: the count of files left out is part of every result's settings (item 19 of issue 19)."""
import warnings

import numpy as np
import pytest

import ganeval
from conftest import write_pngs


@pytest.fixture
def sets(tmp_path, crops):
    real = write_pngs(crops[0][:12], tmp_path / "real")
    fake = write_pngs(crops[1][:12], tmp_path / "fake")
    for n in ("0003.png", "0007.png"):
        (real / n).write_bytes(b"truncated")
    (fake / "0010.png").write_bytes(b"")
    return str(real), str(fake)


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


def test_swd_and_msssim_record_what_they_skipped(sets):
    real, fake = sets
    r = _quiet(ganeval.swd, real, fake, num_images=12, skip_bad=True)
    assert r.settings["skipped_files"] == {"real": 2, "fake": 1}
    assert r.num_images == {"real": 10, "fake": 11}
    m = _quiet(ganeval.ms_ssim, real, num_pairs=6, skip_bad=True)
    assert m.settings["skipped_files"] == {"images": 2}
    clean = ganeval.swd(fake, fake, num_images=4)  # without --skip-bad nothing is recorded
    assert "skipped_files" not in clean.settings


def test_inception_metrics_record_what_they_skipped_cached_or_not(sets, crops, tiny_inception, tmp_path, monkeypatch):
    # KID on two subsets and IS on two splits: the cheapest feature metrics of each kind (both
    # sets, fake set only); FID and the others take their counts from the same statistics.
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    real, fake = sets
    both = {"real": 2, "fake": 1}
    for cache in (False, True, True):  # the last run is served by the cache, which keeps the count
        r = _quiet(ganeval.kid, real, fake, skip_bad=True, cache=cache, num_subsets=2)
        assert r.settings["skipped_files"] == both and r.num_images == {"real": 10, "fake": 11}
    assert _quiet(ganeval.inception_score, fake, splits=2, skip_bad=True).settings["skipped_files"] == {"fake": 1}
    assert "skipped_files" not in _quiet(ganeval.kid, crops[0][:8], crops[1][:8], num_subsets=2).settings


def test_the_cli_warns_with_the_count(sets):
    from click.testing import CliRunner
    from ganeval.cli import main
    real, fake = sets
    # Under pytest the warning is captured by pytest's own recorder rather than printed.
    with pytest.warns(UserWarning) as caught:
        res = CliRunner().invoke(main, ["swd", real, fake, "--skip-bad", "-q", "--json", "--num-images", "12"])
    assert res.exit_code == 0, res.stderr
    said = " ".join(str(w.message) for w in caught) + res.stderr
    assert "left out 2 of 12 files" in said and "0003.png, 0007.png" in said
    import json
    assert json.loads(res.stdout)["settings"]["skipped_files"] == {"real": 2, "fake": 1}
