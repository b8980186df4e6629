"""Losses against closed forms (official loss.py) and the full-resolution gradient-norm rule."""
import math

import pytest
import torch
import torch.nn.functional as F

from reference_trainer.layers import downscale2d, upscale2d
from reference_trainer.loss import D_loss, G_loss, gradient_penalty
from reference_trainer.networks import D_paper


def linear_critic(w):
    return lambda x: (x * w).sum(dim=(1, 2, 3))


def test_wgangp_on_a_linear_critic_matches_closed_form():
    # For D(x) = <w, x> the gradient at every interpolate is w, so ||g|| = ||w|| exactly.
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4, dtype=torch.float64) * 0.1
    reals, fakes = torch.randn(6, 3, 4, 4, dtype=torch.float64), torch.randn(6, 3, 4, 4, dtype=torch.float64)
    D = linear_critic(w)
    loss, stats = D_loss("wgangp", D, reals, fakes, wgan_lambda=10.0, wgan_epsilon=0.001, wgan_target=1.0)
    r, f, norm = D(reals), D(fakes), w.norm().item()
    expected = (f - r).mean() + 10.0 * (norm - 1.0) ** 2 + 0.001 * r.square().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert stats["gp"].item() == pytest.approx(10.0 * (norm - 1.0) ** 2, rel=1e-6)


def test_wgan_target_scaling_follows_official():
    w = torch.full((1, 1, 2, 2), 1.5, dtype=torch.float64)  # ||w|| = 3
    x = torch.zeros(4, 1, 2, 2, dtype=torch.float64)
    gp = gradient_penalty(linear_critic(w), x, x + 1, wgan_lambda=10.0, wgan_target=2.0)
    torch.testing.assert_close(gp, torch.full((4,), (3.0 - 2.0) ** 2 * 10.0 / 4.0, dtype=torch.float64))
    gp = gradient_penalty(linear_critic(w), x, x + 1, wgan_lambda=10.0, wgan_target=1.0, gp_norm_scale=0.5)
    torch.testing.assert_close(gp, torch.full((4,), (1.5 - 1.0) ** 2 * 10.0, dtype=torch.float64))


def test_full_resolution_gradient_norm_equals_explicit_upscale():
    # Official code feeds D full-res images (lower levels nearest-upscaled) and D box-downscales
    # them; the gradient penalty is therefore on the full-res gradient, which is ||g_low|| / f.
    torch.manual_seed(1)
    D = D_paper(32, fmap_base=64, fmap_max=32).double()
    lod = 1.0  # 16x16 inside a 32x32 network: f = 2
    reals, fakes = torch.randn(4, 3, 16, 16, dtype=torch.float64), torch.randn(4, 3, 16, 16, dtype=torch.float64)
    torch.manual_seed(5)
    ours = gradient_penalty(lambda x: D(x, lod), reals, fakes, gp_norm_scale=2.0 ** -math.floor(lod))
    torch.manual_seed(5)
    mixing = torch.rand(4, 1, 1, 1, dtype=torch.float64)
    full = upscale2d(torch.lerp(reals, fakes, mixing)).requires_grad_(True)
    g, = torch.autograd.grad(D(downscale2d(full), lod).sum(), full)
    expected = (g.flatten(1).norm(dim=1) - 1.0) ** 2 * 10.0
    torch.testing.assert_close(ours, expected)


def test_lsgan_and_logistic_closed_forms():
    reals = torch.zeros(5, 1, 1, 1)
    D = lambda x: x.flatten(1)[:, 0] * 0 + torch.where(x.flatten(1)[:, 0] > 0, 2.0, -1.0)  # noqa: E731
    fakes = torch.ones(5, 1, 1, 1)  # D(fake) = 2, D(real) = -1
    loss, _ = D_loss("lsgan", D, reals, fakes)
    assert loss.item() == pytest.approx(0.5 * 4 + 0.5 * 4)
    loss, _ = D_loss("logistic", D, reals, fakes)
    assert loss.item() == pytest.approx(2 * math.log1p(math.exp(2.0)) - math.log1p(math.exp(2.0)) + math.log1p(math.exp(1.0)))
    s = torch.tensor([2.0, -1.0])
    assert G_loss("wgangp", s).item() == pytest.approx(-0.5)
    assert G_loss("lsgan", s).item() == pytest.approx(0.5 * (1 + 4) / 2)
    assert G_loss("logistic", s).item() == pytest.approx(F.softplus(-s).mean().item())
    with pytest.raises(ValueError):
        G_loss("hinge", s)
