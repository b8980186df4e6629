"""Perceptual path length beside torch-fidelity 0.4.0 and torchmetrics 1.9.0, live.

One seeded toy generator (a random linear map to a 12x12 RGB image, tanh, bilinear upsampling
to S x S, output in [0, 255]), the same latents and the same LPIPS-VGG16 weights for the three:
a random-initialised torchvision VGG16 saved as torchvision's ``vgg16-397923af.pth`` in a
temporary ``$TORCH_HOME/hub/checkpoints`` (where torchvision, so torch-fidelity and
torchmetrics, load it from), and the ``lpips`` wheel's linear layers (torchmetrics ships the same
file; torch-fidelity gets it under its ``weights-vgg16-lpips.pth`` name in the same cache).
ganeval reads the VGG16 file through ``lpips_weights=``.  128 latent pairs, so both percentile
cuts drop distances.  Each value must match to 1e-4 relative.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

REL = 1e-4
N = 128
SEED = 2020  # torch-fidelity's default rng_seed


class TinyG(torch.nn.Module):
    """z (N, 16) -> smooth random RGB images (N, 3, size, size) in [0, 255]."""

    z_dim = 16
    input_range = (0.0, 255.0)

    def __init__(self, size: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.size = size
        self.register_buffer("w", torch.randn(self.z_dim, 3 * 12 * 12, generator=g) / self.z_dim ** 0.5)
        self.register_buffer("b", torch.randn(3 * 12 * 12, generator=g) * 0.5)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(z @ self.w + self.b).reshape(-1, 3, 12, 12)
        x = F.interpolate(x, (self.size, self.size), mode="bilinear", align_corners=False)
        return 127.5 * (x + 1)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """$TORCH_HOME with a random torchvision VGG16 and the LPIPS linear layers; yields the VGG16 path."""
    import torchvision
    from ganeval.lpips.weights import locate_lin
    root = tmp_path_factory.mktemp("ppl-torch")
    hub = root / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.manual_seed(0)
    sd = torchvision.models.vgg16(weights=None).state_dict()
    # LPIPS uses the convolutions only; the 120M classifier parameters must be present for
    # torchvision's strict load, so they are saved as zero-stride views of one zero (a file of
    # a few kB instead of 500 MB).
    sd = {k: (v.clone() if k.startswith("features.") else torch.zeros(1).expand(v.shape)) for k, v in sd.items()}
    path = hub / "vgg16-397923af.pth"
    torch.save(sd, path)
    shutil.copy(locate_lin(), hub / "weights-vgg16-lpips.pth")  # torch-fidelity's file name for them
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCH_HOME", str(root))
    mp.delenv("GANEVAL_LPIPS_WEIGHTS", raising=False)
    yield path
    mp.undo()


class _NumpyShim:
    """numpy for torch-fidelity's metric_ppl: 0.4.0 calls ``np.percentile(..., interpolation=)``,
    a keyword numpy 2.4 removed; it is passed on under its current name ``method`` (the same
    rule), so torch-fidelity's own code runs unchanged otherwise."""

    def __getattr__(self, name):
        import numpy
        return getattr(numpy, name)

    @staticmethod
    def percentile(a, q, interpolation="linear", **kw):
        import numpy
        return numpy.percentile(a, q, method=interpolation, **kw)


def _close(ours: float, theirs: float, what: str) -> None:
    assert abs(ours - theirs) <= REL * abs(theirs), f"{what}: ganeval {ours!r} vs peer {theirs!r}"


@pytest.mark.parametrize("interp,size", [("lerp", 48), ("slerp_any", 80)])
def test_ppl_equals_torch_fidelity(vgg_file, record, interp, size):
    """48 px is upsampled to 64 (bilinear), 80 px downsampled (area): both of the peers' resizes."""
    import torch_fidelity
    import torch_fidelity.metric_ppl
    from torch_fidelity.generative_model_modulewrapper import GenerativeModelModuleWrapper
    import ganeval
    torch.set_num_threads(1)
    G = TinyG(size)
    mp = pytest.MonkeyPatch()
    mp.setattr(torch_fidelity.metric_ppl, "np", _NumpyShim())
    t0 = time.time()
    theirs = torch_fidelity.calculate_metrics(
        input1=GenerativeModelModuleWrapper(G, G.z_dim, "normal", 0), input1_model_num_samples=N, ppl=True,
        cuda=False, batch_size=64, rng_seed=SEED, ppl_z_interp_mode=interp, ppl_sample_similarity_dtype=None,
        ppl_reduction="none", verbose=False, save_cpu_ram=True)
    t1 = time.time()
    mp.undo()
    ours = ganeval.ppl(G, num_samples=N, protocol="torch-fidelity", interpolation=interp, seed=SEED,
                       lpips_weights=str(vgg_file), device="cpu", batch_size=64)
    t2 = time.time()
    kept = theirs["perceptual_path_length_raw"]
    assert ours.settings["kept"] == len(kept) == N - 2  # numpy's lower/higher cuts drop one at each end
    _close(ours["PPL"], theirs["perceptual_path_length_mean"], "PPL mean")
    _close(ours["PPL_std"], theirs["perceptual_path_length_std"], "PPL std")
    record(test=f"ppl torch-fidelity {interp} {size}px", ganeval=ours["PPL"],
           peer=theirs["perceptual_path_length_mean"], seconds_peer=t1 - t0, seconds_ganeval=t2 - t1)
    print(f"torch-fidelity {interp} {size}px: ganeval {ours['PPL']!r} peer {theirs['perceptual_path_length_mean']!r}"
          f" rel {abs(ours['PPL'] / theirs['perceptual_path_length_mean'] - 1):.2e}; std rel "
          f"{abs(ours['PPL_std'] / theirs['perceptual_path_length_std'] - 1):.2e}; {t1 - t0:.1f} s vs {t2 - t1:.1f} s")


def test_ppl_equals_torchmetrics(vgg_file, record):
    from torchmetrics.image import PerceptualPathLength
    import ganeval
    from ganeval.metrics.ppl import draw_latents
    torch.set_num_threads(1)
    z0, z1, _ = draw_latents(N, TinyG.z_dim, seed=SEED, sampling="end")

    class Sampled(TinyG):
        """TinyG whose sample() hands torchmetrics z0, then z1 (it draws the two sets in that order)."""

        def __init__(self, size):
            super().__init__(size)
            self.queue = [z0.clone(), z1.clone()]

        def sample(self, num_samples):
            return self.queue.pop(0)[:num_samples]

    G = Sampled(48)
    t0 = time.time()
    metric = PerceptualPathLength(num_samples=N, interpolation_method="lerp", resize=64, sim_net="vgg")
    metric.update(G)
    mean, std, kept = metric.compute()
    t1 = time.time()
    ours = ganeval.ppl(G, num_samples=N, protocol="torchmetrics", latents=(z0, z1), lpips_weights=str(vgg_file),
                       device="cpu", batch_size=64)
    t2 = time.time()
    assert ours.settings["kept"] == kept.numel() == N - 3  # torch's "lower" upper cut drops one more
    _close(ours["PPL"], float(mean), "PPL mean")
    _close(ours["PPL_std"], float(std), "PPL std")
    record(test="ppl torchmetrics lerp 48px", ganeval=ours["PPL"], peer=float(mean), seconds_peer=t1 - t0,
           seconds_ganeval=t2 - t1)
    print(f"torchmetrics: ganeval {ours['PPL']!r} peer {float(mean)!r} rel {abs(ours['PPL'] / float(mean) - 1):.2e}; "
          f"std rel {abs(ours['PPL_std'] / float(std) - 1):.2e}; {t1 - t0:.1f} s vs {t2 - t1:.1f} s")


def test_same_lpips_linear_layers_as_torchmetrics():
    """The wheel's vgg.pth ganeval loads is the file torchmetrics ships (same bytes)."""
    import torchmetrics
    from ganeval.io.fileio import sha256_of
    from ganeval.lpips.weights import OFFICIAL_LIN_SHA256, locate_lin
    tm = Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / "vgg.pth"
    assert sha256_of(locate_lin()) == sha256_of(tm) == OFFICIAL_LIN_SHA256
