"""The `ganeval` command line: click commands only, each a thin layer over the Python API.

Data errors exit with code 1 and usage errors with code 2, each as one line on stderr (see
`boundary`); ``--debug`` before the command name (or after it, on commands that take it)
shows the traceback instead.
"""
from __future__ import annotations

import click

from .boundary import BoundaryGroup, set_debug


class _Main(BoundaryGroup):
    # The metric commands split their image sets across torchrun's processes.
    distributed_commands = ("swd", "msssim", "fid", "is", "kid", "pr", "dc", "fd", "all", "stats", "sfid", "mifid")


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="ganeval")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """ganeval: GAN evaluation metrics (SWD, MS-SSIM, FID, IS, KID, PR)."""
    set_debug(debug, ctx)
    from ..threads import apply_threads
    apply_threads(None)  # $GANEVAL_THREADS for every command; the metric commands' --threads overrides it


def _register() -> None:
    # Each command module adds its commands to `main`; imports stay light until a command runs.
    import importlib
    for mod in ("core", "inception", "reporting", "ppl", "clip", "neighbours"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise


_register()
