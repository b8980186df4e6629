"""Options shared by every metric command, their up-front checks, and the one function that
prints a result.

The checks run as click callbacks, while the command line is parsed: a wrong device, output
path or metric list is a usage error (exit 2) before any image is read or computed.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

import click

from ..errors import DataError, UsageError
from ..io.fileio import atomic_write_text, check_target
from ..options import check_seed
from ..results import MetricResult
from .boundary import debug_option

OUTPUT_HELP = ("Also write the JSON result to FILE (missing parent folders are created; checked "
               "before computing).")
DEVICE_HELP = "torch device: cpu, cuda, cuda:N or mps (default: cuda when available, else cpu)."


def _flag(param: click.Parameter | None) -> str:
    if isinstance(param, click.Argument):
        return param.human_readable_name  # OUT_DIR, as the usage line names it
    return "/".join(sorted(param.opts, key=len)) if param is not None else "path"


def check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for ``--device``: the device as a string, or a usage error if it cannot run."""
    from ..device import validate_device  # imports torch: not while only --help is parsed
    return None if value is None else str(validate_device(value, what=_flag(param)))


def writable_target(path: str, *, directory: bool, what: str = "path") -> None:
    """Raise `UsageError` unless `path` can be written as a file (or, with `directory`, filled as
    a folder).  Missing folders on the way are fine (the writers create them) as long as the
    nearest existing one is a writable folder; nothing is created here, so a run that fails
    later leaves no empty folders behind."""
    if not path:
        raise UsageError(f"{what}: empty path; give a {'folder' if directory else 'file'} name")
    if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):
        # A device, FIFO or socket (/dev/null, say): the temp-and-rename write would replace it.
        raise UsageError(f"{what} {path!r}: is a device, FIFO or socket, not a regular "
                         f"{'folder' if directory else 'file'}; choose another path")
    if directory:
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{what} {path!r}: {path} is a file, not a folder; choose a folder")
        folder = path
    else:
        if path.endswith(("/", os.sep)) or os.path.isdir(path):
            raise UsageError(f"{what} {path!r}: names a folder; give a file name "
                             f"(e.g. {os.path.join(path, 'out.json')})")
        try:  # a device, FIFO, socket or link there would be replaced (or written through)
            check_target(path)
        except UsageError as e:
            raise UsageError(f"{what}: {e}") from None
        folder = os.path.dirname(path) or "."
    existing = folder
    while not os.path.exists(existing):  # ends at "." or the root, which exist
        existing = os.path.dirname(existing) or "."
    if not os.path.isdir(existing):
        raise UsageError(f"{what} {path!r}: {existing} is a file, not a folder; choose a path inside a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path!r}: cannot write in {existing} (permission denied); choose a writable folder")


def check_output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for an output file option (``-o``): see `writable_target`."""
    if value is not None:
        writable_target(value, directory=False, what=_flag(param))
    return value


def check_output_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for an output folder option (``report -o``, ``--store``): see `writable_target`."""
    if value is not None:
        writable_target(value, directory=True, what=_flag(param))
    return value


def check_seed_option(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Click callback for ``--seed``: see `ganeval.options.check_seed` (a usage error, exit 2)."""
    return None if value is None else check_seed(value, _flag(param))


def seed_option(default: int | None = 0, help: str = "Random seed (0 to 2**32 - 1).") -> Callable:
    """The one ``--seed`` option of every command (ganeval's and the trainer's), range-checked."""
    return click.option("--seed", type=int, default=default, show_default=default is not None,
                        callback=check_seed_option, help=help)


def check_metrics(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    """Click callback for ``-m/--metrics``: registered names, trimmed, lower-cased and each once."""
    from ..metrics.registry import parse_metric_list
    try:
        return parse_metric_list(value)
    except UsageError as e:
        raise UsageError(f"{_flag(param)}: {e}") from None


def _count_option(f: Callable) -> Callable:
    return click.option("--num-images", "-n", type=click.IntRange(min=1), default=None,
                        help="Use N images per set (the first N in sorted order unless --random-subset).")(f)


def feature_cache_options(f: Callable) -> Callable:
    """The statistics-cache options of commands on another extractor's features (fd, cmmd)."""
    for opt in reversed((
            click.option("--no-cache", is_flag=True, help="Do not read or write cached statistics."),
            click.option("--content-hash", is_flag=True, help="Key the cache by a hash of every file's bytes."),
            click.option("--allow-weights-mismatch", is_flag=True,
                         help="Use a statistics .npz that records other weights' sha256 than the ones in use."))):
        f = opt(f)
    return f


def source_options(f: Callable) -> Callable:
    """Options that control how image sources are read."""
    return _count_option(reading_options(f))  # applied last, so listed first in --help


def reading_options(f: Callable) -> Callable:
    """`source_options` but the count: for a command whose ``-n`` is its own (the leaderboard's
    has a default and is part of its protocol), so every other reading option stays one
    declaration."""
    for opt in reversed([
        click.option("--random-subset", is_flag=True, help="Take a seeded random subset instead of the first N."),
        click.option("--recursive", "-r", is_flag=True, help="Search image directories recursively."),
        click.option("--resize", type=click.IntRange(min=1), default=None,
                     help="Resize every image to R x R (bicubic) instead of failing on mixed sizes."),
        click.option("--skip-bad", is_flag=True, help="Skip undecodable images (counted) instead of failing."),
        click.option("--batch-size", "-b", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--workers", "-j", type=click.IntRange(min=0), default=None,
                     help="DataLoader decode workers (default: up to 4)."),
    ]):
        f = opt(f)
    return f


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


def _apply_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    from ..threads import apply_threads  # torch only when a count is given
    apply_threads(value, what=_flag(param))


# Applied while parsing (never during --help), so commands take no extra argument.
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None, expose_value=False, callback=_apply_threads,
    help="CPU threads for torch (default: $GANEVAL_THREADS, else torch's one per core); 1 is much faster on a "
         "machine busy with other work.")


def run_options(f: Callable) -> Callable:
    """Options that control where and how a metric runs and reports."""
    for opt in reversed([
        seed_option(),
        click.option("--device", default=None, callback=check_device, help=DEVICE_HELP),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout."),
        click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, callback=check_output_file,
                     help=OUTPUT_HELP),
        quiet_option,
        threads_option,
        debug_option,
    ]):
        f = opt(f)
    return f


def check_count_option(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """Click callback for an error-bar count (``--repeats``, ``--bootstrap``): 0, or at least 2."""
    from ..metrics.uncertainty import check_count
    return check_count(value, _flag(param))


bootstrap_option = click.option(
    "--bootstrap", type=int, default=0, show_default=True, callback=check_count_option,
    help="Error bars from B bootstrap resamples of the images (of their extracted features; MS-SSIM: of its pairs; "
         "nothing is read again): mean, std and a 95% interval next to the usual value, which does not change.  "
         "0: off.")


def repeats_options(f: Callable) -> Callable:
    """SWD's error bars: ``--repeats K`` and what each repeat redraws."""
    f = click.option("--redraw", type=click.Choice(["patches", "directions"]), default="patches", show_default=True,
                     help="What SWD repeats redraw: patch positions and directions (as another seed would; K x the "
                          "descriptor memory), or directions only (no extra memory; misses the patch part).")(f)
    return click.option("--repeats", type=int, default=0, show_default=True, callback=check_count_option,
                        help="SWD error bars over K seeds (seed .. seed+K-1): mean, std and a 95% interval next "
                             "to the usual seed's value, which does not change.  0: off.")(f)


def source_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """Map the CLI's source options onto `ganeval.io.sources.open_source` keyword arguments."""
    return dict(num_images=kw["num_images"], subset="random" if kw["random_subset"] else "first",
                recursive=kw["recursive"], resize=kw["resize"], skip_bad=kw["skip_bad"])


def emit(results: MetricResult | list[MetricResult], as_json: bool, output: str | None) -> None:
    """Print results as a table (or JSON with --json) and optionally save them as JSON."""
    from ..dist import is_main
    if not is_main():  # under torchrun only rank 0 speaks and writes
        return
    items = results if isinstance(results, list) else [results]
    payload = [r.to_dict() for r in items]
    text = json.dumps(payload[0] if len(payload) == 1 else payload, indent=2)
    if output:
        try:
            atomic_write_text(output, text + "\n")
        except OSError as e:  # a failed write() names no file; the user needs to know which one
            raise DataError(f"{output}: cannot write the result ({e.strerror or e}); check the free space and "
                            "permissions there, or choose another -o path") from e
    if as_json:
        click.echo(text)
    else:
        click.echo("\n\n".join(r.table() for r in items))
