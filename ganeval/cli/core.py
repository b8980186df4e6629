"""`ganeval swd` and `ganeval msssim`."""
from __future__ import annotations

import click

from . import main
from .options import bootstrap_option, emit, repeats_options, run_options, source_kwargs, source_options


@main.command("swd")
@click.argument("real")
@click.argument("fake")
@source_options
@run_options
@click.option("--exact-descriptors", is_flag=True, help="Store descriptors as float32 (2x memory) instead of float16.")
@repeats_options
def swd_cmd(real: str, fake: str, seed: int, device: str | None, as_json: bool, output: str | None,
            quiet: bool, exact_descriptors: bool, repeats: int, redraw: str, **kw) -> None:
    """Sliced Wasserstein distance (x1e3) per Laplacian level between REAL and FAKE.

    \b
    Example:
      ganeval swd data/real/ samples/ --num-images 8192
      ganeval swd data/real/ samples/ --repeats 5      # error bars over seeds 0..4
    """
    import torch
    from ..metrics.swd import DEFAULT_NUM_IMAGES, swd
    result = swd(real, fake, seed=seed, device=device, batch_size=kw["batch_size"], workers=kw["workers"],
                 quiet=quiet, descriptor_dtype=torch.float32 if exact_descriptors else torch.float16,
                 repeats=repeats, redraw=redraw,
                 **{**source_kwargs(kw), "num_images": kw["num_images"] or DEFAULT_NUM_IMAGES})
    emit(result, as_json, output)


@main.command("msssim")
@click.argument("images")
@source_options
@run_options
@click.option("--num-pairs", type=click.IntRange(min=1), default=None,
              help="Pairs to average (default 10000, i.e. 20000 images; overrides --num-images).")
@bootstrap_option
def msssim_cmd(images: str, seed: int, device: str | None, as_json: bool, output: str | None,
               quiet: bool, num_pairs: int | None, bootstrap: int, **kw) -> None:
    """Average MS-SSIM over consecutive pairs of IMAGES (ProGAN's diversity metric).

    \b
    Example:
      ganeval msssim samples/ --num-pairs 5000
    """
    from ..metrics.msssim import DEFAULT_NUM_PAIRS, ms_ssim
    pairs = num_pairs or (kw["num_images"] // 2 if kw["num_images"] else DEFAULT_NUM_PAIRS)
    src_kw = source_kwargs(kw)
    src_kw.pop("num_images")
    result = ms_ssim(images, num_pairs=pairs, seed=seed, device=device, batch_size=kw["batch_size"],
                     workers=kw["workers"], quiet=quiet, bootstrap=bootstrap, **src_kw)
    emit(result, as_json, output)
