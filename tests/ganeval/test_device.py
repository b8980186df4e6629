"""CPU and CUDA run the same code; where a GPU exists, their numbers must agree."""
import pytest
import torch

from ganeval import ms_ssim, swd

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@cuda
def test_swd_agrees_across_devices(crops):
    a, b = crops
    cpu = swd(a, b, seed=0, device="cpu").values
    gpu = swd(a, b, seed=0, device="cuda").values
    for k in cpu:  # same patches and directions; only float rounding and sort ties differ
        assert gpu[k] == pytest.approx(cpu[k], rel=1e-4)


@cuda
def test_msssim_agrees_across_devices(crops):
    assert ms_ssim(crops[0], device="cuda").value == pytest.approx(ms_ssim(crops[0], device="cpu").value, abs=1e-6)


def test_default_device_is_cuda_when_available(crops):
    r = swd(crops[0][:16], crops[1][:16])
    assert r.settings["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
