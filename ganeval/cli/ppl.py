"""`ganeval ppl`: perceptual path length of a generator checkpoint (thin over `ganeval.ppl`)."""
from __future__ import annotations

import click

from . import main
from .options import emit, run_options


def _lpips_resize(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return "protocol"
    if value.lower() in ("none", "box256"):
        return None if value.lower() == "none" else "box256"
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter(f"{value!r}: a size in pixels (e.g. 64), box256 or none")


def _range(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    from ..options import check_input_range
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: write LOW,HIGH, e.g. -1,1 or 0,255") from None
    return check_input_range((lo, hi), "--input-range")


@main.command("ppl")
@click.argument("generator")
@click.option("--loader", default=None, metavar="MODULE:FUNCTION",
              help="Load GENERATOR (a checkpoint path) with FUNCTION(path, device), which returns a callable G(z) "
                   "with a z_dim attribute; without it GENERATOR is a registered checkpoint kind (the reference "
                   "trainer's .pt files and run folders) or MODULE:ATTR naming a generator (or a factory of one).")
@click.option("--num-samples", "-n", type=click.IntRange(min=2), default=None,
              help="Latent pairs to measure (default 100000, the StyleGAN paper's).")
@click.option("--epsilon", type=click.FloatRange(min=0, min_open=True, max=1, max_open=True), default=1e-4,
              show_default=True, help="Step along the path; distances are divided by its square.")
@click.option("--space", type=click.Choice(["z"]), default="z", show_default=True,
              help="Latent space of the path (no mapping network: z only).")
@click.option("--protocol", type=click.Choice(["stylegan", "torch-fidelity", "torchmetrics"]), default="stylegan",
              show_default=True, help="Whose PPL to reproduce; sets the defaults of the four options below.")
@click.option("--sampling", type=click.Choice(["full", "end"]), default=None,
              help="t ~ U(0,1) along the path, or t = 0 (default: the protocol's; stylegan: full, peers: end).")
@click.option("--interpolation", type=click.Choice(["slerp", "lerp", "slerp_any"]), default=None,
              help="Path in z (default: the protocol's; stylegan: slerp, peers: lerp).")
@click.option("--lpips-resize", default=None, callback=_lpips_resize, metavar="R|box256|none",
              help="LPIPS input size (default: the protocol's; stylegan: box256 = average down to <= 256, "
                   "peers: 64).")
@click.option("--crop", is_flag=True, help="StyleGAN's face crop (rows 3/8..7/8, columns 2/8..6/8) before LPIPS.")
@click.option("--no-filter", is_flag=True, help="Average every distance (default: drop those outside the "
                                                "1st..99th percentiles, as the original).")
@click.option("--lpips-weights", default=None, metavar="FILE",
              help="VGG16 backbone for LPIPS, torchvision's vgg16-397923af.pth layout (else $GANEVAL_LPIPS_WEIGHTS, "
                   "then $TORCH_HOME/hub/checkpoints).")
@click.option("--lpips-lin-weights", default=None, metavar="FILE",
              help="LPIPS linear layers (default: lpips/weights/v0.1/vgg.pth of the installed lpips package).")
@click.option("--input-range", default=None, callback=_range, metavar="LOW,HIGH",
              help="Range of the generator's output (default: its input_range attribute, else -1,1).")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=64, show_default=True,
              help="Latent pairs per generator call (each call generates twice as many images).")
@run_options
def ppl_cmd(generator, loader, num_samples, epsilon, space, protocol, sampling, interpolation, lpips_resize, crop,
            no_filter, lpips_weights, lpips_lin_weights, input_range, batch_size, seed, device, as_json, output,
            quiet) -> None:
    """Perceptual path length (StyleGAN, Karras et al. 2019) of GENERATOR in z, LPIPS-VGG16.

    \b
    Example:
      ganeval ppl runs/cpu-tiny/network-snapshot-000036.pt -n 10000 --lpips-weights vgg16-397923af.pth
      ganeval ppl my.ckpt --loader mymodels:load_G --protocol torch-fidelity
    """
    from ..metrics.ppl import DEFAULT_NUM_SAMPLES, ppl
    emit(ppl(generator, loader=loader, num_samples=num_samples or DEFAULT_NUM_SAMPLES, epsilon=epsilon, space=space,
             protocol=protocol, sampling=sampling, interpolation=interpolation, lpips_resize=lpips_resize, crop=crop,
             percentiles=None if no_filter else (1.0, 99.0), lpips_weights=lpips_weights,
             lin_weights=lpips_lin_weights, input_range=input_range, seed=seed, device=device, batch_size=batch_size,
             quiet=quiet), as_json, output)
