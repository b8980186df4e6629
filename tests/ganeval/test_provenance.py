"""Every result carries its provenance (`ganeval.results.provenance`): the inputs' paths and
fingerprints, the ganeval and torch versions, the device and a UTC timestamp; the CLI's
``--json``/``-o`` and the API's ``to_json`` write the same record, and it round-trips.

Expected fingerprints are computed independently: through `open_source(...).fingerprint()`
for image sets, and as the sha256 of the file's bytes for a statistics file.
"""
import datetime
import hashlib
import json
import os
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganeval
from conftest import write_pngs
from ganeval.io.sources import open_source
from ganeval.results import MetricResult

FIELDS = {"inputs", "ganeval_version", "torch_version", "device", "created_utc"}


@pytest.fixture
def sets(tmp_path):
    rng = np.random.default_rng(3)
    return [str(write_pngs(rng.integers(0, 256, (10, 3, 16, 16), dtype=np.uint8), tmp_path / n))
            for n in ("real", "fake")]


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _check(prov, inputs, before, after):
    assert set(prov) == FIELDS
    assert prov["ganeval_version"] == ganeval.__version__
    assert prov["torch_version"] == torch.__version__
    assert prov["device"] == "cpu"
    t = datetime.datetime.fromisoformat(prov["created_utc"])
    assert t.utcoffset() == datetime.timedelta(0) and before <= t <= after
    assert set(prov["inputs"]) == set(inputs)
    for side, (path, fingerprint) in inputs.items():
        rec = prov["inputs"][side]
        assert rec["path"] == path and rec["resolved"] == os.path.abspath(path)
        assert rec["fingerprint"] == fingerprint


def _run(args):
    from ganeval.cli import main
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small sets: the count warnings
        res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return res


def test_cli_json_and_output_file_carry_provenance_and_agree_with_the_api(sets, tmp_path):
    real, fake = sets
    before = _now()
    res = _run(["swd", real, fake, "--device", "cpu", "--json", "-o", str(tmp_path / "r.json"), "-q"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api = json.loads(ganeval.swd(real, fake, device="cpu").to_json())
    after = _now()
    printed, written = json.loads(res.stdout), json.loads((tmp_path / "r.json").read_text())
    expected = {side: (p, open_source(p).fingerprint()) for side, p in (("real", real), ("fake", fake))}
    for d in (printed, written, api):
        _check(d["provenance"], expected, before, after)
    assert printed == written
    # the API and the CLI build the same record: equal but for the time it was made
    strip = lambda d: {k: v for k, v in d["provenance"].items() if k != "created_utc"}  # noqa: E731
    assert strip(api) == strip(written)


def test_statistics_file_input_is_fingerprinted_by_its_bytes(sets, tmp_path, tiny_inception):
    real, fake = sets
    stats = str(tmp_path / "real.npz")
    _run(["stats", real, "-o", stats, "-q"])
    before = _now()
    out = _run(["fid", stats, fake, "--device", "cpu", "--json", "-q"])
    after = _now()
    sha = hashlib.sha256(open(stats, "rb").read()).hexdigest()
    prov = json.loads(out.stdout)["provenance"]
    _check(prov, {"real": (stats, sha), "fake": (fake, open_source(fake).fingerprint())}, before, after)
    assert prov["inputs"]["real"]["fingerprint_of"] == "content"


def test_all_gives_each_result_its_provenance(sets, tmp_path, tiny_inception):
    real, fake = sets
    before = _now()
    out = _run(["all", real, fake, "-m", "swd,msssim,fid,kid", "--device", "cpu", "--json", "-q"])
    after = _now()
    results = json.loads(out.stdout)
    assert [r["metric"] for r in results] == ["swd", "msssim", "fid", "kid"]
    both = {side: (p, open_source(p).fingerprint()) for side, p in (("real", real), ("fake", fake))}
    for r in results:
        one_set = r["metric"] == "msssim"  # measures the fakes alone
        _check(r["provenance"], {"images": both["fake"]} if one_set else both, before, after)


def test_in_memory_inputs_are_named_by_type():
    x = np.random.default_rng(0).integers(0, 256, (6, 3, 16, 16), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = ganeval.ms_ssim(torch.from_numpy(x))
    assert r.provenance["inputs"] == {"images": {"path": None, "type": "Tensor"}}


def test_from_dict_round_trips_provenance(sets):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = ganeval.swd(*sets)
    d = json.loads(r.to_json())
    back = MetricResult.from_dict(d, "r.json")
    assert back.provenance == r.provenance and back.to_dict() == d
    # results written before provenance existed still read
    old = {k: v for k, v in d.items() if k != "provenance"}
    assert MetricResult.from_dict(old).provenance == {}


def test_runs_that_differ_only_in_time_still_compare_and_rank(sets, tmp_path):
    """Provenance sits outside settings: two runs of one protocol have equal settings and values
    whatever their timestamps, and a leaderboard store holding both ranks them."""
    real, fake = sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r1, r2 = ganeval.swd(real, fake), ganeval.swd(real, fake)
    assert r1.settings == r2.settings and r1.values == r2.values
    store = str(tmp_path / "lb")
    _run(["leaderboard", "--real", real, "--entry", f"a={fake}", "-m", "swd", "-n", "10", "--store", store, "-q"])
    _run(["leaderboard", "--real", real, "--entry", f"a={fake}", "--entry", f"b={real}", "-m", "swd", "-n", "10",
          "--store", store, "-q"])
    stored = {n: json.loads(open(os.path.join(store, "results", f"{n}.json")).read()) for n in "ab"}
    assert all(set(s["results"][0]["provenance"]) == FIELDS for s in stored.values())
    ranked = json.loads(open(os.path.join(store, "leaderboard.json")).read())
    assert "a" in json.dumps(ranked) and "b" in json.dumps(ranked)
