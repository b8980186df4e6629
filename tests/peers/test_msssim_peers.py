"""MS-SSIM beside pytorch-msssim 1.0.0 and torchmetrics 1.9.0: a different definition.

ganeval computes the ProGAN code's MS-SSIM (``metrics/ms_ssim.py``; equal to it to 1e-7 on the
shared fixtures, tests/ganeval/metrics/test_msssim.py).  The peers use another definition (a
fixed 11-tap window at every scale with 'valid' filtering, average-pool downsampling, and their
own handling of negative contrast terms), so they refuse images under 161 px and give other
values where both run.  These tests pin down both facts, so the README's claim stays true when
a peer changes; ganeval deliberately offers no option for the peers' definition (see README).
"""
from __future__ import annotations

import pytest
import torch

from ._images import image_set


def _pairs(size: int, n: int = 10):
    x = torch.from_numpy(image_set(2 * n, size, size, seed=7))
    return x[0::2], x[1::2]


def test_peers_refuse_images_below_161_px_where_ganeval_runs():
    from pytorch_msssim import ms_ssim as pm_ms_ssim
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim
    from ganeval.metrics.msssim import ms_ssim_pairs
    a, b = _pairs(128)
    with pytest.raises(AssertionError, match="160"):
        pm_ms_ssim(a.float(), b.float(), data_range=255, size_average=False)
    with pytest.raises(ValueError):
        tm_ms_ssim(a.float(), b.float(), data_range=255.0, reduction="none")
    ours = ms_ssim_pairs(a, b)
    assert ours.shape == (10,) and bool(torch.isfinite(ours).all())


def test_peers_give_other_values_than_the_progan_definition_at_256_px():
    from pytorch_msssim import ms_ssim as pm_ms_ssim
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim
    from ganeval.metrics.msssim import ms_ssim_pairs
    a, b = _pairs(256)
    ours = float(ms_ssim_pairs(a, b).mean())
    pm = float(pm_ms_ssim(a.float(), b.float(), data_range=255, size_average=False).mean())
    tm = float(tm_ms_ssim(a.float(), b.float(), data_range=255.0, reduction="none").mean())
    # The two peers do not agree with each other either; each is at least 5% away from ours.
    for theirs in (pm, tm):
        assert abs(theirs - ours) > 0.05 * abs(ours), (ours, pm, tm)
    # Identical images are 1 under every definition: the difference is the definition, not a bug.
    same = a[:3]
    assert float(ms_ssim_pairs(same, same).min()) == pytest.approx(1.0, abs=1e-6)
    assert float(pm_ms_ssim(same.float(), same.float(), data_range=255).item()) == pytest.approx(1.0, abs=1e-5)
