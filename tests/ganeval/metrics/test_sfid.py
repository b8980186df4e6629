"""sFID: the spatial tap is Mixed_6d.branch1x1's first 7 channels in NHWC order, and sFID is
the Fréchet distance of those features (checked against an independent closed form).

The network runs with random He-initialised weights written to tmp_path (a torch-fidelity
layout state dict); the comparison with torch-fidelity's own layers on the real weights is
in tests/peers/test_sfid_mifid_peers.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

N = 8


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(weights path, real images, fake images) with an isolated ganeval cache."""
    from ganeval.inception.network import InceptionV3FID
    root = tmp_path_factory.mktemp("sfid")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANEVAL_CACHE_DIR", str(root / "cache"))
    mp.delenv("GANEVAL_INCEPTION_WEIGHTS", raising=False)
    g = torch.Generator().manual_seed(0)
    model = InceptionV3FID()
    with torch.no_grad():
        for m in model.modules():  # He initialisation keeps activations alive through 40 layers
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5, generator=g)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.1, 0.1, generator=g)
    path = root / "weights-inception-random.pth"
    torch.save(model.state_dict(), path)
    real = torch.randint(0, 256, (N, 3, 32, 32), generator=g, dtype=torch.uint8)
    fake = (real.float() * 0.6 + torch.randint(0, 100, (N, 3, 32, 32), generator=g)).clamp(0, 255).to(torch.uint8)
    yield str(path), real, fake
    mp.undo()


def _model(weights):
    from ganeval.inception.features import inception
    return inception(weights, "cpu")[0]


def test_spatial_tap_is_mixed_6d_branch1x1_first_7_channels_nhwc(env):
    from ganeval.inception.protocol import get_protocol
    weights, real, _ = env
    model = _model(weights)
    x = get_protocol("tf1").prepare(real)
    seen = []
    handle = model.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, out: seen.append(out))
    try:
        with torch.no_grad():
            model.pool3_prepared(x)
    finally:
        handle.remove()
    out = seen[0]
    assert out.shape == (N, 192, 17, 17)
    want = out[:, :7].permute(0, 2, 3, 1).reshape(N, -1)  # TF's NHWC [..., :7], flattened
    got = model.spatial(real)
    assert got.shape == (N, 2023) and (got > 0).any()
    assert torch.equal(got, want)


def _closed_form(x1: np.ndarray, x2: np.ndarray) -> float:
    """The Fréchet distance of two row sets in float64 without any matrix square root:
    tr sqrt(S1 S2) is the sum of the singular values of X1c X2c^T / sqrt((n1-1)(n2-1))."""
    c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
    n1, n2 = len(x1), len(x2)
    tr = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    return float(np.sum((x1.mean(0) - x2.mean(0)) ** 2) + np.sum(c1 * c1) / (n1 - 1) + np.sum(c2 * c2) / (n2 - 1)
                 - 2 * tr)


def test_sfid_equals_the_frechet_closed_form_on_the_spatial_features(env):
    import ganeval
    weights, real, fake = env
    model = _model(weights)
    f1, f2 = (model.spatial(x).double().numpy() for x in (real, fake))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # under 2023 images
        r = ganeval.sfid(real, fake, weights=weights)
    assert r.metric == "sfid" and r.primary == "sFID"
    assert r.settings["feature"] == "mixed_6/conv[:7]" and r.settings["weights_format"] == "torchfidelity"
    want = _closed_form(f1, f2)
    assert want > 1.0
    assert r.values["sFID"] == pytest.approx(want, rel=1e-7)


def test_identical_sets_give_zero_and_bootstrap_gives_error_bars(env):
    import ganeval
    weights, real, fake = env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = ganeval.sfid(real, real, weights=weights)
        boot = ganeval.sfid(real, fake, weights=weights, bootstrap=3)
        plain = ganeval.sfid(real, fake, weights=weights)
    trace = np.trace(np.cov(_model(weights).spatial(real).double().numpy(), rowvar=False))
    assert abs(same.values["sFID"]) < 1e-9 * trace
    assert boot.values["sFID"] == plain.values["sFID"]  # the bootstrap never changes the value
    assert boot.uncertainty["sFID"]["n"] == 3


def test_evaluate_and_the_streaming_object_agree(env):
    import ganeval
    from ganeval.metrics.sfid import SFID
    weights, real, fake = env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (r,) = ganeval.evaluate(real, fake, metrics=["sfid"], weights=weights)
        m = SFID(weights, "cpu")
        m.update(real, real=True)
        m.update(fake[:5])
        m.update(fake[5:])
        s = m.compute()
    assert s.values["sFID"] == pytest.approx(r.values["sFID"], rel=1e-9)
    assert s.settings == r.settings


def test_cli_sfid_runs(env, tmp_path):
    from ganeval.cli import main
    from conftest import write_pngs
    weights, real, fake = env
    a, b = write_pngs(real.numpy(), tmp_path / "a"), write_pngs(fake.numpy(), tmp_path / "b")
    res = CliRunner().invoke(main, ["sfid", str(a), str(b), "-w", weights, "-q", "--json"])
    assert res.exit_code == 0, res.output
    assert '"sFID"' in res.output
