"""`ganeval neighbours`: the nearest-neighbour memorization figure (thin over `ganeval.neighbours`)."""
from __future__ import annotations

import click

from ..inception.names import DEFAULT as DEFAULT_PROTOCOL, PROTOCOL_NAMES as PROTOCOLS
from . import main
from .options import DEVICE_HELP, check_device, check_output_file, quiet_option, seed_option, threads_option
from .boundary import debug_option


def _check_space(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from ..metrics.neighbours import space_names  # registers the extractors; no torch
    if value not in space_names():
        raise click.BadParameter(f"{value!r}: choose from {', '.join(space_names())}")
    return value


@main.command("neighbours", short_help="Nearest training images of generated ones (memorization figure).")
@click.argument("real")
@click.argument("fake")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), callback=check_output_file,
              help="The figure, a PNG (missing parent folders are created; checked before computing).")
@click.option("--features", default="inception", show_default=True, callback=_check_space,
              help="Feature space: inception, dinov2, clip (when installed), or pixels (pixel space only).")
@click.option("--model", default=None, help="The extractor's model (DINOv2: vitl14 or vitb14; default: its first).")
@click.option("--weights", "-w", default=None,
              help="The extractor's weights file (Inception: else the discovery order of `ganeval weights`).")
@click.option("--protocol", type=click.Choice(list(PROTOCOLS)), default=DEFAULT_PROTOCOL, show_default=True,
              help="Inception preprocessing (as for fid).")
@click.option("--download", is_flag=True, help="Download the extractor's official checkpoint if none is found "
                                               "(DINOv2, CLIP).")
@click.option("--num-fake", "-k", type=click.IntRange(min=1), default=8, show_default=True,
              help="Generated images to look up: the first K of FAKE (or a seeded random K, --random-subset).")
@click.option("--num-neighbours", type=click.IntRange(min=1), default=5, show_default=True,
              help="Nearest reals shown per generated image, in each space.")
@click.option("--num-real", type=click.IntRange(min=1), default=None, help="Search the first N reals only.")
@click.option("--random-subset", is_flag=True, help="Take seeded random subsets instead of the first K (and N).")
@click.option("--recursive", "-r", is_flag=True, help="Search image directories recursively.")
@click.option("--resize", type=click.IntRange(min=1), default=None,
              help="Resize every image of both sets to R x R (bicubic), e.g. when they differ in size.")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--workers", "-j", type=click.IntRange(min=0), default=None,
              help="DataLoader decode workers (default: up to 4).")
@click.option("--no-cache", is_flag=True, help="Do not read or write cached statistics of the reals.")
@click.option("--content-hash", is_flag=True, help="Key the cache by a hash of every file's bytes.")
@click.option("--no-labels", is_flag=True, help="No distances or titles drawn in the figure.")
@click.option("--json", "as_json", is_flag=True,
              help="Print every generated image's neighbours (file names and distances) as one JSON object.")
@seed_option()
@click.option("--device", default=None, callback=check_device, help=DEVICE_HELP)
@quiet_option
@threads_option
@debug_option
def neighbours_cmd(real, fake, output, features, model, weights, protocol, download, num_fake, num_neighbours,
                   num_real, random_subset, recursive, resize, batch_size, workers, no_cache, content_hash, no_labels,
                   as_json, seed, device, quiet):
    """For each of K generated images in FAKE, its nearest training images in REAL, in feature
    space and in pixel space, drawn as a grid: the figure that shows whether a generator
    copies its training set (a copy sits at distance 0).

    \b
    Example:
      ganeval neighbours data/real/ samples/ -o nn.png
      ganeval neighbours data/real/ samples/ -o nn.png --features dinov2 --num-fake 16 --json > nn.json
    """
    from ..metrics.neighbours import neighbours
    result = neighbours(real, fake, features=features, model=model, weights=weights, protocol=protocol,
                        num_fake=num_fake, num_neighbours=num_neighbours, num_real=num_real,
                        subset="random" if random_subset else "first", seed=seed, device=device,
                        batch_size=batch_size, workers=workers, recursive=recursive, resize=resize,
                        cache=not no_cache, content_hash=content_hash, allow_download=download, quiet=quiet)
    result.save_figure(output, labels=not no_labels)
    if as_json:
        click.echo(result.to_json())
        return
    for f in result.fakes:
        best = [(what, nb[0]) for what, nb in ((result.space, f.features), ("pixels", f.pixels)) if nb]
        click.echo(f"{f.name!r}: " + "; ".join(f"{what} {nb.name!r} at {nb.distance:.4g}" for what, nb in best))
    click.echo(f"wrote {output}")
