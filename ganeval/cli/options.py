"""Options shared by every metric command, and the one function that prints a result."""
from __future__ import annotations

import functools
import json
from typing import Any, Callable

import click

from ..fileio import atomic_write_text
from ..results import MetricResult
from .boundary import set_debug


def source_options(f: Callable) -> Callable:
    """Options that control how image sources are read."""
    for opt in reversed([
        click.option("--num-images", "-n", type=click.IntRange(min=1), default=None,
                     help="Use N images per set (the first N in sorted order unless --random-subset)."),
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


def run_options(f: Callable) -> Callable:
    """Options that control where and how a metric runs and reports."""
    for opt in reversed([
        click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
        click.option("--device", default=None, help="torch device (default: cuda when available, else cpu)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout."),
        click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Also write the JSON result to FILE."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
        click.option("--debug", is_flag=True, help="Show tracebacks on errors."),
    ]):
        f = opt(f)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        set_debug(kwargs.pop("debug"))
        return f(*args, **kwargs)
    return wrapper


def source_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """Map the CLI's source options onto `ganeval.sources.open_source` keyword arguments."""
    return dict(num_images=kw["num_images"], subset="random" if kw["random_subset"] else "first",
                recursive=kw["recursive"], resize=kw["resize"], skip_bad=kw["skip_bad"])


def emit(results: MetricResult | list[MetricResult], as_json: bool, output: str | None) -> None:
    """Print results as a table (or JSON with --json) and optionally save them as JSON."""
    items = results if isinstance(results, list) else [results]
    payload = [r.to_dict() for r in items]
    text = json.dumps(payload[0] if len(payload) == 1 else payload, indent=2)
    if output:
        atomic_write_text(output, text + "\n")
    if as_json:
        click.echo(text)
    else:
        click.echo("\n\n".join(r.table() for r in items))
