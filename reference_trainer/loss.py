"""Losses of official loss.py, reduced as means over the minibatch (official train.py
registers ``tf.reduce_mean(loss)``).

`wgangp`: official G_wgan_acgan / D_wgangp_acgan without labels::

    G: -D(G(z))
    D: D(fake) - D(real) + (wgan_lambda / wgan_target**2) * (||grad D(mix)|| - wgan_target)**2
       + wgan_epsilon * D(real)**2              (wgan_lambda 10, wgan_epsilon 0.001, wgan_target 1)

Gradient-norm space: the official networks always take full-resolution images (lower
levels are nearest-upscaled and D box-downscales them back), so the penalty's gradient is
taken with respect to the full-resolution image.  We run D at the current resolution; since
D(x_full) = D(avgpool_f(x_full)) with f = 2**floor(lod), ||grad_full|| = ||grad_low|| / f
exactly, and `gp_norm_scale = 1/f` reproduces the official penalty (test_trainer_loss checks
this against autograd through an explicit upscale).  Set it to 1 to penalize at the
current resolution instead.

`lsgan` (Mao et al., as in the paper's LSGAN experiments): G 0.5*(D(fake)-1)^2, D
0.5*(D(real)-1)^2 + 0.5*D(fake)^2.  `logistic`: non-saturating G softplus(-D(fake)), D
softplus(D(fake)) + softplus(-D(real)).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Critic = Callable[[torch.Tensor], torch.Tensor]


def _fp32(x: torch.Tensor) -> torch.Tensor:
    # Official fp32(): losses in at least single precision, also under bf16 autocast.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def G_loss(kind: str, fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss (mean over the minibatch) for `kind` in wgangp, lsgan, logistic."""
    fake_scores = _fp32(fake_scores)
    if kind == "wgangp":
        return (-fake_scores).mean()
    if kind == "lsgan":
        return 0.5 * (fake_scores - 1).square().mean()
    if kind == "logistic":
        return F.softplus(-fake_scores).mean()
    raise ValueError(f"unknown loss {kind!r}; choose wgangp, lsgan or logistic")


def gradient_penalty(D: Critic, reals: torch.Tensor, fakes: torch.Tensor, *, wgan_lambda: float = 10.0,
                     wgan_target: float = 1.0, gp_norm_scale: float = 1.0) -> torch.Tensor:
    """Per-sample official WGAN-GP term on random interpolates (uniform mixing factors)."""
    mixing = torch.rand(reals.shape[0], 1, 1, 1, device=reals.device, dtype=fakes.dtype)
    mixed = torch.lerp(reals.to(fakes.dtype), fakes, mixing).requires_grad_(True)
    scores = _fp32(D(mixed))
    grads, = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = _fp32(grads).square().sum(dim=(1, 2, 3)).sqrt() * gp_norm_scale
    return (norms - wgan_target).square() * (wgan_lambda / wgan_target ** 2)


def D_loss(kind: str, D: Critic, reals: torch.Tensor, fakes: torch.Tensor, *, wgan_lambda: float = 10.0,
           wgan_epsilon: float = 0.001, wgan_target: float = 1.0, gp_norm_scale: float = 1.0
           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Discriminator loss (mean) and a dict of detached scalar statistics for the log.

    `fakes` must already be detached from G.  For wgangp the gradient penalty and drift
    term are added per sample before the mean, exactly as official D_wgangp_acgan.
    """
    real_scores, fake_scores = _fp32(D(reals)), _fp32(D(fakes))
    # Statistics stay tensors so that CUDA runs do not synchronize every step.
    stats = {"real_score": real_scores.detach().mean(), "fake_score": fake_scores.detach().mean()}
    if kind == "wgangp":
        loss = fake_scores - real_scores
        gp = gradient_penalty(D, reals, fakes, wgan_lambda=wgan_lambda, wgan_target=wgan_target,
                              gp_norm_scale=gp_norm_scale)
        loss = loss + gp + real_scores.square() * wgan_epsilon
        stats["gp"] = gp.detach().mean()
    elif kind == "lsgan":
        loss = 0.5 * (real_scores - 1).square() + 0.5 * fake_scores.square()
    elif kind == "logistic":
        loss = F.softplus(fake_scores) + F.softplus(-real_scores)
    else:
        raise ValueError(f"unknown loss {kind!r}; choose wgangp, lsgan or logistic")
    return loss.mean(), stats
