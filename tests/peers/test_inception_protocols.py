"""Every Inception protocol equals its tool, live, on the same images and weights.

``tf1`` against torch-fidelity 0.4.0 (FID, KID, IS) and torchmetrics 1.9.0 with
``antialias=False`` (FID); ``torchmetrics`` against torchmetrics' defaults (FID, KID, IS);
``clean`` against clean-fid 0.1.35 ``mode="clean"`` (FID, KID); ``pytorch-fid`` against
pytorch-fid 0.3.0 (FID); precision/recall and density/coverage against ``prdc`` (torch-fidelity's
precision/recall runs on VGG16 features, not Inception's, so it is no peer of ganeval's ``pr``).  Images are
made here from seeds: PNG folders at 16-512 px, a grayscale set, a non-square set, and uint8
arrays.  Tolerances are the issue's: 1e-4 relative for FID, KID and IS, 1e-6 for PR/DC.

Sets are small (20 images) so CI stays short; FID's covariances are then rank-deficient,
which every tool handles (scipy's sqrtm, torchmetrics' eigvals, ganeval's factorisation), and
the comparisons below show they agree there too.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from ._images import image_set, read_folder, write_folder

N = 20
IS_SPLITS = 4
# (name, height, width, gray)
FOLDERS = [("rgb16", 16, 16, False), ("rgb32", 32, 32, False), ("rgb64", 64, 64, False),
           ("rgb128", 128, 128, False), ("rgb256", 256, 256, False), ("rgb512", 512, 512, False),
           ("gray64", 64, 64, True), ("rect48x80", 48, 80, False)]
REL = 1e-4
# Every peer's FID takes a square root of a 2048x2048 matrix: scipy's sqrtm (torch-fidelity,
# clean-fid, pytorch-fid) costs ~31 s on one core of the 2-core machine, torchmetrics' eigvals
# ~6 s, so one set per tool costs 40-100 s with extraction.  torch-fidelity (the default protocol's
# tool) gets all eight sets; each other tool gets three or four, chosen so that every resolution,
# the grayscale and the non-square set, upsampling to 299 and shrinking to it are each checked
# against at least two tools; every tool both enlarges to 299 (16-256 px) and shrinks (512 px).
# uint8 arrays: the torchmetrics tests, test_tf1_equals_torchmetrics_without_antialias and
# test_pytorch_fid_protocol_on_arrays (clean-fid reads only folders).
CLEAN_SETS = ["rgb32", "rgb512", "gray64", "rect48x80"]
PTFID_SETS = ["rgb256", "rgb512", "rect48x80"]
TM_SETS = ["rgb16", "rgb512", "gray64"]


# KID is an unbiased estimate that sits near 0 (even below) for similar sets, and the peers
# sum its O(1) kernel terms in float32: their own resolution is about 1e-7 absolute (measured
# differences on the grayscale set: 2e-7 torchmetrics, 7e-8 clean-fid), so KID may also pass
# on an absolute 1e-6, a thousandth of the 1e-3 steps papers print KID in.
KID_ABS = 1e-6


def check(record, protocol, tool, metric, config, ours_value, theirs, rel=REL, abs_=None):
    """Record the measured difference (for the README's table), then assert the tolerance."""
    record(protocol=protocol, tool=tool, metric=metric, config=config, ganeval=float(ours_value),
           peer=float(theirs))
    if metric == "KID":
        assert ours_value == pytest.approx(theirs, rel=rel, abs=KID_ABS), (protocol, tool, metric, config)
    elif abs_ is not None:
        assert ours_value == pytest.approx(theirs, abs=abs_), (protocol, tool, metric, config)
    else:
        assert ours_value == pytest.approx(theirs, rel=rel), (protocol, tool, metric, config)


@pytest.fixture(scope="module")
def sets(tmp_path_factory, peer_env):
    root = tmp_path_factory.mktemp("sets")
    out = {}
    for name, h, w, gray in FOLDERS:
        a, b = image_set(N, h, w, 1, gray=gray), image_set(N, h, w, 2, gray=gray)
        out[name] = (write_folder(a, root / name / "real", gray=gray), write_folder(b, root / name / "fake", gray=gray))
    return out


# ganeval's values per (real folder, fake folder, protocol), kept for test_protocols_differ, which
# compares ganeval with itself and need not evaluate again what a parity test above already did.
_SEEN: dict[tuple, tuple[set, dict]] = {}


def ours(real, fake, protocol, weights, metrics="fid,kid,pr", reuse=False):
    key = (str(real), str(fake), protocol) if not isinstance(real, np.ndarray) else None
    wanted = set(metrics.split(","))
    if reuse and key in _SEEN and wanted <= _SEEN[key][0]:
        return _SEEN[key][1]
    import ganeval
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FID under 2048 images, KID subsets capped at N
        results = ganeval.evaluate(real, fake, metrics=metrics.split(","), protocol=protocol, weights=weights, cache=False)
    for r in results:
        assert r.settings["protocol"] == protocol
    values = {k: v for r in results for k, v in r.values.items()}
    if key is not None:
        _SEEN[key] = (wanted, values)
    return values


def torch_fidelity_values(real, fake, weights):
    import torch_fidelity
    return torch_fidelity.calculate_metrics(
        input1=str(fake), input2=str(real), cuda=False, fid=True, kid=True, verbose=False,
        cache=False, feature_extractor_weights_path=weights, kid_subset_size=N)


@pytest.fixture(scope="module")
def tf1(sets, peer_env):
    """ganeval --protocol tf1 and torch-fidelity on every folder."""
    weights = peer_env[0]
    return {name: (ours(r, f, "tf1", weights, metrics="fid,kid"), torch_fidelity_values(r, f, weights))
            for name, (r, f) in sets.items()}


@pytest.mark.parametrize("name", [c[0] for c in FOLDERS])
def test_tf1_fid_kid_equal_torch_fidelity(tf1, name, record):
    g, t = tf1[name]
    check(record, "tf1", "torch-fidelity", "FID", name, g["FID"], t["frechet_inception_distance"])
    check(record, "tf1", "torch-fidelity", "KID", name, g["KID_mean"], t["kernel_inception_distance_mean"])


def test_tf1_inception_score_equals_torch_fidelity(sets, peer_env, record):
    import ganeval
    import torch_fidelity
    weights = peer_env[0]
    for name in ("rgb32", "rgb128", "rect48x80"):
        fake = sets[name][1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = ganeval.inception_score(fake, splits=IS_SPLITS, weights=weights, cache=False)
        t = torch_fidelity.calculate_metrics(input1=str(fake), cuda=False, isc=True, verbose=False, cache=False,
                                             feature_extractor_weights_path=weights, isc_splits=IS_SPLITS)
        check(record, "tf1", "torch-fidelity", "IS", name, g.values["IS_mean"], t["inception_score_mean"])
        assert g.values["IS_std"] == pytest.approx(t["inception_score_std"], rel=1e-3), name


def _tm_extractor(weights, feature, antialias=True):
    """torchmetrics' own default extractor (torch-fidelity's network) on the test weights; KID
    and IS take no weights path, so it is handed to them as their feature module."""
    from torchmetrics.image.fid import NoTrainInceptionV3
    return NoTrainInceptionV3(name="inception-v3-compat", features_list=[feature],
                              feature_extractor_weights_path=weights, antialias=antialias)


@pytest.mark.parametrize("name", TM_SETS)
def test_torchmetrics_protocol_equals_torchmetrics_defaults(sets, peer_env, name, record):
    """torchmetrics 1.9 resizes with torch's antialiased bilinear by default (its own rule, not
    torch-fidelity's); on uint8 tensors loaded as a user would, FID, KID and IS equal
    ganeval's ``torchmetrics`` protocol on the same arrays."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance
    weights = peer_env[0]
    real, fake = sets[name]
    x_real, x_fake = read_folder(real), read_folder(fake)
    fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=weights)
    kid = KernelInceptionDistance(feature=_tm_extractor(weights, "2048"), subset_size=N, subsets=10)
    for m in (fid, kid):
        m.update(x_real, real=True)
        m.update(x_fake, real=False)
    g = ours(x_real.numpy(), x_fake.numpy(), "torchmetrics", weights, metrics="fid,kid")  # arrays, not files
    check(record, "torchmetrics", "torchmetrics", "FID", name, g["FID"], float(fid.compute()))
    check(record, "torchmetrics", "torchmetrics", "KID", name, g["KID_mean"], float(kid.compute()[0]))


@pytest.mark.parametrize("name", ["rect48x80"])
def test_tf1_equals_torchmetrics_without_antialias(sets, peer_env, name, record):
    """``antialias=False`` puts torchmetrics' FID on torch-fidelity's TF1 resize: ``tf1``."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    weights = peer_env[0]
    real, fake = sets[name]
    x_real, x_fake = read_folder(real), read_folder(fake)
    fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=weights, antialias=False)
    fid.update(x_real, real=True)
    fid.update(x_fake, real=False)
    g = ours(x_real.numpy(), x_fake.numpy(), "tf1", weights, metrics="fid")
    check(record, "tf1", "torchmetrics antialias=False", "FID", name, g["FID"], float(fid.compute()))


def test_torchmetrics_inception_score(sets, peer_env, record):
    """torchmetrics shuffles with torch's global RNG and splits with ``chunk``: with N divisible
    by the splits and ganeval given the images in that permutation (unshuffled), the splits
    coincide.  Its std is the unbiased one (ddof=1), so only the mean is compared."""
    from torchmetrics.image.inception import InceptionScore
    import ganeval
    weights = peer_env[0]
    x = read_folder(sets["rgb64"][1])
    m = InceptionScore(feature=_tm_extractor(weights, "logits_unbiased"), splits=IS_SPLITS)
    m.update(x)
    torch.manual_seed(123)
    want = float(m.compute()[0])
    torch.manual_seed(123)
    perm = torch.randperm(x.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = ganeval.inception_score(x[perm].numpy(), splits=IS_SPLITS, shuffle_seed=None, weights=weights,
                                    cache=False, protocol="torchmetrics")
    check(record, "torchmetrics", "torchmetrics", "IS", "rgb64", g.values["IS_mean"], want)


@pytest.fixture(scope="module")
def clean(sets, peer_env):
    from cleanfid import fid as cfid
    weights, model = peer_env
    out = {}
    orig = cfid.build_feature_extractor
    cfid.build_feature_extractor = lambda mode, device=None, use_dataparallel=True: model  # compute_kid's hook
    try:
        for name in CLEAN_SETS:
            r, f = sets[name]
            kw = dict(mode="clean", num_workers=0, batch_size=N, device=torch.device("cpu"), verbose=False)
            want_fid = cfid.compute_fid(str(r), str(f), custom_feat_extractor=model, **kw)
            want_kid = cfid.compute_kid(str(r), str(f), **kw)
            out[name] = (ours(r, f, "clean", weights, metrics="fid,kid"), want_fid, want_kid)
    finally:
        cfid.build_feature_extractor = orig
    return out


@pytest.mark.parametrize("name", CLEAN_SETS)
def test_clean_equals_clean_fid(clean, name, record):
    g, want_fid, want_kid = clean[name]
    check(record, "clean", "clean-fid", "FID", name, g["FID"], want_fid)
    check(record, "clean", "clean-fid", "KID", name, g["KID_mean"], want_kid)


@pytest.mark.parametrize("name", PTFID_SETS)
def test_pytorch_fid_protocol_equals_pytorch_fid(sets, peer_env, name, record):
    from pytorch_fid.fid_score import calculate_fid_given_paths
    real, fake = sets[name]
    want = calculate_fid_given_paths([str(real), str(fake)], batch_size=N, device="cpu", dims=2048, num_workers=0)
    g = ours(real, fake, "pytorch-fid", peer_env[0], metrics="fid")
    check(record, "pytorch-fid", "pytorch-fid", "FID", name, g["FID"], want)


def test_pytorch_fid_protocol_on_arrays(sets, peer_env, record):
    """pytorch-fid reads only files; on arrays its model and FID function are called directly,
    with ``ToTensor``'s x / 255, as its ``get_activations`` does."""
    from pytorch_fid.fid_score import calculate_frechet_distance
    from pytorch_fid.inception import InceptionV3
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    x_real, x_fake = (read_folder(p) for p in sets["rgb128"])
    with torch.no_grad():
        feats = [model(x.float().div(255))[0].squeeze(3).squeeze(2).numpy() for x in (x_real, x_fake)]
    want = calculate_frechet_distance(feats[0].mean(0), np.cov(feats[0], rowvar=False),
                                      feats[1].mean(0), np.cov(feats[1], rowvar=False))
    g = ours(x_real.numpy(), x_fake.numpy(), "pytorch-fid", peer_env[0], metrics="fid")
    check(record, "pytorch-fid", "pytorch-fid (its model on arrays)", "FID", "array128", g["FID"], want)


def test_protocols_differ_from_each_other(sets, peer_env):
    """The protocols are not one number under four names: on upsampled 64 px images tf1, clean
    and pytorch-fid each give another FID (the point of choosing one), by more than twice the
    tolerance above.  torchmetrics' antialiasing acts only when shrinking, so upsampled it is
    pytorch-fid's resize with another normalisation: measured 1.2e-4 apart here; on 512 px
    images (shrunk) it differs from every other."""
    def fids(name, protocols):
        real, fake = sets[name]
        return {p: ours(real, fake, p, peer_env[0], metrics="fid", reuse=True)["FID"] for p in protocols}

    for name, protocols in (("rgb64", ("tf1", "clean", "pytorch-fid")),
                            ("rgb512", ("tf1", "clean", "pytorch-fid", "torchmetrics"))):
        values = fids(name, protocols)
        v = sorted(values.values())
        # More than twice the parity tolerance apart: no parity test could mistake one for another.
        assert all(b - a > 2 * REL * b for a, b in zip(v, v[1:])), (name, values)


@pytest.mark.parametrize("name", ["rgb64", "rect48x80"])
def test_pr_and_dc_equal_prdc_on_our_features(sets, peer_env, name, record):
    """prdc on ganeval's own pool3 rows: precision, recall (k=3) and density, coverage (k=5)."""
    from prdc import compute_prdc
    from ganeval.inception.features import extract
    from ganeval.metrics.dc import density_coverage_from_features
    from ganeval.metrics.prc import pr_from_stats
    weights = peer_env[0]
    real, fake = sets[name]
    a, info = extract(real, features=True, weights=weights, cache=False)
    b, _ = extract(fake, features=True, weights=weights, cache=False)
    fr, ff = a.all_features().double().numpy(), b.all_features().double().numpy()
    p3, p5 = compute_prdc(fr, ff, nearest_k=3), compute_prdc(fr, ff, nearest_k=5)
    pr = pr_from_stats(a, b, info, k=3)
    check(record, "tf1", "prdc", "precision", name, pr.values["precision"], p3["precision"], abs_=1e-6)
    check(record, "tf1", "prdc", "recall", name, pr.values["recall"], p3["recall"], abs_=1e-6)
    density, coverage = density_coverage_from_features(a.all_features(), b.all_features(), k=5)[:2]
    check(record, "tf1", "prdc", "density", name, density, p5["density"], rel=1e-6)
    check(record, "tf1", "prdc", "coverage", name, coverage, p5["coverage"], abs_=1e-6)


def test_cli_protocol_flag_and_stats_file_refused_across_protocols(sets, clean, peer_env, tmp_path):
    """`ganeval fid --protocol clean` prints clean-fid's number; statistics saved under one
    protocol are refused under another, with both names in one line (exit 1)."""
    from click.testing import CliRunner
    from ganeval.cli import main
    weights = peer_env[0]
    real, fake = sets["rgb32"]
    runner = CliRunner()
    r = runner.invoke(main, ["fid", str(real), str(fake), "--protocol", "clean", "-w", weights, "--no-cache",
                             "--json", "-q"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    rec = payload[0] if isinstance(payload, list) else payload
    assert rec["settings"]["protocol"] == "clean"
    assert rec["values"]["FID"] == pytest.approx(clean["rgb32"][1], rel=REL)
    stats = tmp_path / "real-clean.npz"
    r = runner.invoke(main, ["stats", str(real), "-o", str(stats), "--protocol", "clean", "-w", weights, "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["fid", str(stats), str(fake), "-w", weights, "--no-cache", "-q"])
    assert r.exit_code == 1
    assert "clean" in r.output and "tf1" in r.output and len(r.output.strip().splitlines()) == 1, r.output
