"""`ganeval cmmd`: CMMD on CLIP ViT-L/14@336 embeddings (thin over `ganeval.metrics.cmmd`)."""
from __future__ import annotations

import click

from . import main
from .options import bootstrap_option, feature_cache_options, emit, run_options, source_kwargs, source_options


@main.command("cmmd", short_help="CMMD (Jayasumana et al. 2024): RBF MMD on CLIP ViT-L/14@336 embeddings.")
@click.argument("real")
@click.argument("fake")
@click.option("--clip-weights", default=None, metavar="FILE",
              help="OpenAI's ViT-L-14-336px.pt, or a state dict in its layout (else $GANEVAL_CLIP_WEIGHTS, "
                   "ganeval's cache, $TORCH_HOME/hub/checkpoints, ~/.cache/clip).")
@click.option("--model", type=click.Choice(["vitl14-336", "vitl14", "vitb32"]), default="vitl14-336",
              show_default=True, help="CLIP image encoder (the paper's is ViT-L/14@336).")
@click.option("--download", is_flag=True, help="Download OpenAI's checkpoint (sha256-checked) if none is found.")
@feature_cache_options
@bootstrap_option
@source_options
@run_options
def cmmd_cmd(real, fake, clip_weights, model, download, bootstrap, seed, device, as_json, output, quiet, **kw):
    """CMMD between REAL and FAKE: x1000 the biased MMD^2 with a Gaussian RBF kernel (sigma 10) on
    L2-normalised CLIP embeddings, centre-cropped and Pillow-bicubic resized as the reference does.

    \b
    Example:
      ganeval cmmd real/ samples/ --clip-weights ViT-L-14-336px.pt
      ganeval cmmd real/ samples/ --bootstrap 200      # with a bootstrap 95% interval
    """
    from ..metrics.cmmd import cmmd
    emit(cmmd(real, fake, model=model, weights=clip_weights, allow_download=download, seed=seed, device=device,
              quiet=quiet, batch_size=kw["batch_size"], workers=kw["workers"], cache=not kw["no_cache"],
              content_hash=kw["content_hash"], allow_weights_mismatch=kw["allow_weights_mismatch"],
              bootstrap=bootstrap, **source_kwargs(kw)), as_json, output)
