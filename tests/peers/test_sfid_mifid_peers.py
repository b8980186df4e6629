"""sFID and MiFID against the code they reproduce, live, on the same images and weights.

sFID: the guided-diffusion evaluator reads the TF graph's ``mixed_6/conv:0`` (the ReLU output
of the 1x1 branch of the fourth 17x17 block, torch-fidelity's ``Mixed_6d.branch1x1``) and keeps
``[..., :7]`` in NHWC.  Here the same tensor is taken from torch-fidelity 0.4.0's
``FeatureExtractorInceptionV3`` with a forward hook on that module, and ganeval's features
must equal it; sFID must then equal torch-fidelity's own FID formula on those features.

MiFID: torchmetrics 1.9.0's ``MemorizationInformedFrechetInceptionDistance`` is given
ganeval's pool3 rows through an identity feature module (the same features, so only the
formula is compared, to 1e-6), and, end to end, its own extractor against ganeval's
``torchmetrics`` protocol on the same uint8 arrays.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ._images import image_set

N = 16
SIZE = 48


@pytest.fixture(scope="module")
def arrays():
    a, b = image_set(N, SIZE, SIZE, 1), image_set(N, SIZE, SIZE, 2)
    return a, b


def _torch_fidelity_spatial(weights: str, images: np.ndarray) -> np.ndarray:
    """``Mixed_6d.branch1x1``'s output in torch-fidelity's network, ``[:, :7]`` in NHWC, flattened."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights)
    seen = []
    handle = net.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, out: seen.append(out.detach().clone()))
    with torch.no_grad():
        net(torch.from_numpy(images))
    handle.remove()
    x = seen[0][:, :7]  # NCHW here; the TF graph is NHWC, where [..., :7] is the same 7 channels
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1).double().numpy()


@pytest.fixture(scope="module")
def spatial(arrays, peer_env):
    """(ganeval's features as used, ganeval's with batch norm unfolded, torch-fidelity's), per set."""
    from ganeval.inception.features import inception, sfid_extractor
    weights = peer_env[0]
    net = sfid_extractor(weights, "cpu")
    ours = [net.forward(torch.from_numpy(x), False)[0].double().numpy() for x in arrays]
    model = inception(weights, "cpu")[0]
    model.unfuse_()  # conv -> batch norm -> ReLU, as torch-fidelity runs them
    try:
        plain = [model.spatial(torch.from_numpy(x)).double().numpy() for x in arrays]
    finally:
        model.fuse_()
    theirs = [_torch_fidelity_spatial(weights, x) for x in arrays]
    return ours, plain, theirs


def test_spatial_features_equal_torch_fidelity_mixed_6d_branch1x1(spatial):
    ours, plain, theirs = spatial
    for o, u, t in zip(ours, plain, theirs):
        assert o.shape == u.shape == t.shape == (N, 7 * 17 * 17)
        scale = np.abs(t).max()
        assert scale > 0.1 and (t > 0).mean() > 0.1  # a live layer, not zeros
        diff, diff_plain = np.abs(o - t).max() / scale, np.abs(u - t).max() / scale
        # float32 rounding over 40 layers (resize, convolution algorithms; measured 5e-6, and
        # 6e-6 with ganeval's folded batch norm); the neighbouring layers differ by O(1).
        assert diff_plain < 2e-5 and diff < 2e-5


def test_sfid_equals_torch_fidelity_fid_formula_on_those_features(arrays, spatial, peer_env, record):
    import ganeval
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    _, _, (t_real, t_fake) = spatial
    stats = [fid_features_to_statistics(torch.from_numpy(t)) for t in (t_real, t_fake)]
    want = fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # under 2023 images
        got = ganeval.sfid(arrays[0], arrays[1], weights=peer_env[0], cache=False)
    record(protocol="tf1", tool="torch-fidelity FID formula", metric="sFID", config="rgb48",
           ganeval=got.values["sFID"], peer=float(want))
    assert got.metric == "sfid" and got.settings["feature"] == "mixed_6/conv[:7]"
    assert got.values["sFID"] == pytest.approx(want, rel=1e-6)


def test_torchscript_weights_give_the_same_sfid_features(arrays, peer_env, spatial):
    """fid-helper's TorchScript file, converted by ganeval, holds the mixed_6/conv layer too:
    its sFID features equal those of the torch-fidelity-format file made from it (and so
    torch-fidelity's own, above), so sFID needs no particular weights format."""
    from ganeval.inception import weights as W
    from ganeval.inception.features import sfid_extractor
    net = sfid_extractor(str(W._fid_helper_file()), "cpu")
    assert net.settings["weights_format"] == "torchscript"
    ours = spatial[0]
    for x, o in zip(arrays, ours):
        got = net.forward(torch.from_numpy(x), False)[0].double().numpy()
        assert np.abs(got - o).max() <= 1e-6 * np.abs(o).max()


def _torchmetrics_mifid(real: torch.Tensor, fake: torch.Tensor, feature) -> float:
    from torchmetrics.image.mifid import MemorizationInformedFrechetInceptionDistance
    m = MemorizationInformedFrechetInceptionDistance(feature=feature)
    m.update(real, real=True)
    m.update(fake, real=False)
    return float(m.compute())


def _stats(rows: torch.Tensor):
    from ganeval.features.stats import FeatureStats
    s = FeatureStats(rows.shape[1], keep_features=True)
    s.update(rows)
    s.protocol = "tf1"
    return s


@pytest.mark.parametrize("case", ["distinct", "copies", "identical"])
def test_mifid_formula_equals_torchmetrics_on_full_rank_features(case, record):
    """The formula alone, where every FID code is exact (more rows than dimensions): nonnegative
    rows like pool3's; `copies` puts half the reals among the fakes (the penalty acts),
    `identical` gives FID 0 (MiFID 0 in both)."""
    from ganeval.metrics.mifid import mifid_from_stats
    from ganeval.features.extractor import WeightsInfo
    g = torch.Generator().manual_seed(3)
    real = torch.rand(300, 24, generator=g, dtype=torch.float64) ** 2
    fake = {"distinct": torch.rand(300, 24, generator=g, dtype=torch.float64) ** 2 + 0.05,
            "copies": torch.cat([real[:150], torch.rand(150, 24, generator=g, dtype=torch.float64)]),
            "identical": real.clone()}[case]
    got = mifid_from_stats(_stats(real), _stats(fake), WeightsInfo("-", "-", "0" * 64, False, "-")).values["MiFID"]
    want = _torchmetrics_mifid(real, fake, torch.nn.Identity())
    record(protocol="-", tool="torchmetrics MiFID (full-rank rows)", metric="MiFID", config=case, ganeval=got,
           peer=want)
    if case == "identical":
        assert got == want == 0.0
    else:
        assert got == pytest.approx(want, rel=1e-9)


@pytest.fixture(scope="module")
def tm_pool3(arrays, peer_env):
    """ganeval's pool3 rows of the reals and of fakes holding half of them (protocol
    ``torchmetrics``), cached so that the end-to-end test's `ganeval.mifid` reuses them."""
    from ganeval.inception.features import extract
    real, fake = arrays
    fake = np.concatenate([real[: N // 2], fake[N // 2:]])
    kw = dict(features=True, weights=peer_env[0], protocol="torchmetrics")
    return real, fake, extract(real, **kw), extract(fake, **kw)[0]


def test_mifid_equals_torchmetrics_on_ganeval_features(tm_pool3, record):
    """torchmetrics given ganeval's own pool3 rows (an identity feature module): the memorization
    distance agrees to float64 rounding; MiFID to torchmetrics' own FID accuracy on 16 images
    (measured: 2.7e-6 relative, all of it torchmetrics' distance from the exact value).
    With 16 rows in 2048 dimensions the covariances have rank 15, and torchmetrics takes the
    square roots of all 2048 eigenvalues of S1 S2, 2033 of them rounding noise around 0
    (about 1e-6 of FID); ganeval's FID equals the exact low-rank closed form to 1e-7 (3.5e-8)."""
    from torchmetrics.image.mifid import _compute_cosine_distance
    from ganeval.metrics.mifid import memorization_distance, mifid_from_stats
    _, _, (a, info), b = tm_pool3
    ra, fb = a.all_features().double(), b.all_features().double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = mifid_from_stats(a, b, info)
    want = _torchmetrics_mifid(ra, fb, torch.nn.Identity())
    record(protocol="torchmetrics", tool="torchmetrics MiFID (ganeval's features)", metric="MiFID",
           config="rgb48-copies", ganeval=got.values["MiFID"], peer=want)
    d_tm = float(_compute_cosine_distance(ra, fb, 1.0))  # eps 1: the raw distance, never replaced by 1
    assert memorization_distance(ra, fb) == pytest.approx(d_tm, rel=1e-12)
    assert got.settings["penalised"]  # the fakes hold copies: the penalty acts
    # FID's exact value: sum of the singular values of the centred rows' cross product.
    xr, xf = (x.numpy() - x.numpy().mean(0) for x in (ra, fb))
    n1, n2 = len(xr), len(xf)
    exact = (np.sum((ra.numpy().mean(0) - fb.numpy().mean(0)) ** 2) + np.sum(xr * xr) / (n1 - 1)
             + np.sum(xf * xf) / (n2 - 1) - 2 * np.linalg.svd(xr @ xf.T, compute_uv=False).sum()
             / np.sqrt((n1 - 1) * (n2 - 1)))
    exact_mifid = exact / (got.values["memorization_distance"] + 1e-14)
    assert got.values["FID"] == pytest.approx(exact, rel=1e-7)  # ganeval's dense eigh path: ~1e-8
    assert want == pytest.approx(exact_mifid, rel=1e-5)  # torchmetrics' eigvals of 2033 null directions
    assert got.values["MiFID"] == pytest.approx(want, rel=1e-5)


def test_mifid_end_to_end_equals_torchmetrics_protocol(tm_pool3, peer_env, record):
    """torchmetrics' own extractor (torch-fidelity's network, antialiased resize) on uint8
    tensors against ganeval ``--protocol torchmetrics`` on the same arrays."""
    from torchmetrics.image.fid import NoTrainInceptionV3
    import ganeval
    weights = peer_env[0]
    real, fake, _, _ = tm_pool3
    net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=weights)
    want = _torchmetrics_mifid(torch.from_numpy(real), torch.from_numpy(fake), net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ganeval.mifid(real, fake, weights=weights, protocol="torchmetrics")  # the fixture's cached rows
    record(protocol="torchmetrics", tool="torchmetrics MiFID", metric="MiFID", config="rgb48-copies",
           ganeval=got.values["MiFID"], peer=want)
    assert got.values["MiFID"] == pytest.approx(want, rel=1e-4)  # the protocol tests' FID tolerance
