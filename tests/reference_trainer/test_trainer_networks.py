"""G_paper / D_paper: shapes, fade-in limits, and the paper's Table 2 sizes."""
import math

import pytest
import torch

from reference_trainer.layers import downscale2d, upscale2d
from reference_trainer.networks import D_paper, G_paper, lod_to_level

TINY = dict(fmap_base=64, fmap_max=32)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return G_paper(16, latent_size=16, **TINY).eval(), D_paper(16, **TINY).eval()


@pytest.mark.parametrize("res", [4, 8, 16])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_shapes_at_every_resolution_and_alpha(nets, res, alpha):
    G, D = nets
    img = G.forward_at(torch.randn(8, 16), res, alpha)
    assert img.shape == (8, 3, res, res)
    assert D.forward_at(img, alpha).shape == (8,)


@pytest.mark.parametrize("lod,res,alpha", [(2.0, 4, 1.0), (1.75, 8, 0.25), (1.0, 8, 1.0), (0.5, 16, 0.5), (0.0, 16, 1.0)])
def test_lod_mapping(nets, lod, res, alpha):
    assert lod_to_level(lod, 4) == (res, alpha)
    G, D = nets
    img = G(torch.randn(4, 16), lod)
    assert img.shape[-1] == res and D(img, lod).shape == (4,)


@pytest.mark.parametrize("res", [8, 16])
def test_generator_at_alpha_zero_is_previous_resolution_upsampled(nets, res):
    G, _ = nets
    z = torch.randn(4, 16)
    with torch.no_grad():
        torch.testing.assert_close(G.forward_at(z, res, 0.0), upscale2d(G.forward_at(z, res // 2, 1.0)), rtol=0, atol=0)


@pytest.mark.parametrize("res", [8, 16])
def test_discriminator_at_alpha_zero_is_previous_resolution_on_downscaled(nets, res):
    _, D = nets
    x = torch.randn(8, 3, res, res)
    with torch.no_grad():
        torch.testing.assert_close(D.forward_at(x, 0.0), D.forward_at(downscale2d(x), 1.0), rtol=0, atol=0)


def test_fade_is_linear_in_alpha(nets):
    G, _ = nets
    z = torch.randn(2, 16)
    with torch.no_grad():
        a, b, mid = G.forward_at(z, 16, 0.0), G.forward_at(z, 16, 1.0), G.forward_at(z, 16, 0.25)
    torch.testing.assert_close(mid, a + 0.25 * (b - a), rtol=1e-5, atol=1e-5)


def test_feature_maps_and_gains_follow_the_paper():
    G = G_paper(1024)
    D = D_paper(1024)
    # Paper Table 2: 512 maps up to 32x32, then 256, 128, 64, 32, 16 at 64..1024.
    widths = [blk[-1].weight.shape[0] for blk in G.blocks]
    assert widths == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert [m.weight.shape[0] for m in D.fromrgb] == widths
    # Paper Table 2: 23.1M trainable parameters in each network.
    assert round(sum(p.numel() for p in G.parameters()) / 1e5) == 231
    assert round(sum(p.numel() for p in D.parameters()) / 1e5) == 231
    assert math.isclose(G.dense.scale, math.sqrt(2) / 4 / math.sqrt(512))  # official gain override
    assert all(math.isclose(t.scale, 1 / math.sqrt(t.weight.shape[1])) for t in G.torgb)  # toRGB gain 1
    assert math.isclose(D.blocks[0][2].scale, 1 / math.sqrt(512))  # final dense gain 1
    assert math.isclose(D.blocks[0][0].scale, math.sqrt(2) / math.sqrt(513 * 9))  # mbstd adds one map
