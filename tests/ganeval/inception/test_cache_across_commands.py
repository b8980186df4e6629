"""One set, one cache entry: `fid`, `all`, `stats`, the one-shot API, the leaderboard and the
Evaluator key a set measured under the same options alike, so each hits the others' entries.

Extractions are counted as images through the (tiny, patched-in) network: a hit sends none,
so after the first command only the Evaluator's generated fakes, which are never cached, may
pass.  The cache folder must then hold exactly one entry per set.
"""
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganeval
import ganeval.features.cache as F
from conftest import write_pngs

N = 12  # images per set: small, and -n N names the whole set (the leaderboard always passes -n)


@pytest.fixture
def counted(tiny_inception, tmp_path, monkeypatch):
    """The tiny network with a count of the images it has seen; an isolated cache folder."""
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    seen = []
    forward = tiny_inception.forward
    monkeypatch.setattr(tiny_inception, "forward", lambda x, *a, **k: seen.append(x.shape[0]) or forward(x, *a, **k))
    return seen


@pytest.fixture
def sets(tmp_path):
    rng = np.random.default_rng(7)
    return [str(write_pngs(rng.integers(0, 256, (N, 3, 16, 16), dtype=np.uint8), tmp_path / name))
            for name in ("real", "fake")]


def _run(args):
    from ganeval.cli import main
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 12 images: FID's small-set and KID's subset notices
        res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return res


def _entries(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache" / "stats").iterdir())


def test_every_command_hits_the_entries_the_others_wrote(counted, sets, tmp_path):
    real, fake = sets
    _run(["fid", real, fake, "-n", str(N), "-q"])
    assert sum(counted) == 2 * N  # the first command extracts both sets
    entries = _entries(tmp_path)
    assert len(entries) == 2

    _run(["all", real, fake, "-m", "fid,kid", "-n", str(N), "-q"])  # `all` passed input_range=None: a miss before
    _run(["stats", real, "-o", str(tmp_path / "real.npz"), "-n", str(N), "-q"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ganeval.fid(real, fake, num_images=N)
        ganeval.evaluate(real, fake, ["fid", "pr"], num_images=N, input_range=None)
    _run(["leaderboard", "--real", real, "--entry", f"f={fake}", "-m", "fid", "-n", str(N),
          "--store", str(tmp_path / "lb"), "-q"])
    assert sum(counted) == 2 * N, "a command re-extracted a set another had cached"

    from ganeval.hooks import Evaluator
    ev = Evaluator(real, metrics=("fid",), num_images=N, latent_dim=4, input_range=(0, 1), batch_size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev(lambda z: torch.rand(z.shape[0], 3, 16, 16), kimg=0)
    assert sum(counted) == 3 * N  # its N fakes only: the reals came from the cache
    assert _entries(tmp_path) == entries  # and nobody wrote a second entry for a set


def test_a_default_passed_or_left_out_gives_one_key(monkeypatch):
    from ganeval.io.sources import open_source
    import inspect
    left_out = F.canonical_source_options({"num_images": None, "subset": "first"})
    defaults = {k: p.default for k, p in inspect.signature(open_source).parameters.items() if k != "src"}
    passed = F.canonical_source_options(defaults)
    assert left_out == passed
    # values are keyed in their checked form: one range, one flag, whatever their spelling
    a = F.canonical_source_options({"input_range": (-1, 1), "recursive": 0})
    b = F.canonical_source_options({"input_range": [-1.0, 1.0], "recursive": False})
    assert a == b
    key = lambda o: F.statistics_key("fp", False, o, "0" * 64, "inception")  # noqa: E731
    assert key({}) == key(defaults) == key({"input_range": None, "skip_bad": False})


def test_entries_written_by_all_keep_their_key():
    """The canonical form is what `all` (RunOptions) always passed, so its old entries stay valid."""
    from ganeval.options import RunOptions
    o = RunOptions(num_images=5, input_range=(0, 1))
    kw = o.inception_kw()
    before = dict(num_images=kw["num_images"], subset=kw["subset"], recursive=kw["recursive"],
                  resize=kw["resize"], skip_bad=kw["skip_bad"], input_range=kw["input_range"])
    assert F.canonical_source_options({**before, "seed": 0}) == before
