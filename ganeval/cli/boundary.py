"""One error boundary for every command line (``ganeval``, the trainer, its dataset tool).

Anything a user's data or environment can cause becomes one line on stderr and an exit code:
1 for data errors (unreadable, corrupt or missing files, bad arrays), 2 for usage errors.
Only ``--debug`` shows the traceback.  An exception this module does not recognise is a bug
in ganeval: it is still one line, which says to rerun with ``--debug`` and report it.
"""
from __future__ import annotations

import json
import pickle
import re
import sys
import zipfile
from typing import Any

import click

from ..errors import GanevalError

# torch.load's advice to retry with weights_only=False would unpickle untrusted files.
_UNSAFE_ADVICE = re.compile(r"\s*(\(\d\)\s*)?[^.]*weights_only=False[^.]*(\.|$)", re.S)


def clean(message: str) -> str:
    """First line of `message`, with any advice to load with ``weights_only=False`` removed."""
    message = _UNSAFE_ADVICE.sub(" ", str(message))
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    return line[:400]


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for `exc` (see the module docstring)."""
    if isinstance(exc, GanevalError):
        return clean(str(exc)), exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return "", exc.exit_code
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else ""
        what = exc.strerror or clean(str(exc)) or type(exc).__name__
        return (f"{name}: {what}" if name else what) + "; check the path and its permissions", 1
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at line {exc.lineno}); fix or remove the file", 1
    if isinstance(exc, (zipfile.BadZipFile, pickle.UnpicklingError, EOFError)):
        return f"corrupt or truncated file ({type(exc).__name__}: {clean(str(exc))})", 1
    if isinstance(exc, MemoryError):
        return "out of memory; lower --batch-size or --num-images", 1
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    return (f"internal error ({type(exc).__name__}: {clean(str(exc))}); rerun with --debug for the traceback "
            "and report it", 1)


def debug_requested(ctx: click.Context | None) -> bool:
    """True when ``--debug`` was given to the root command or any subcommand."""
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and isinstance(root.obj, dict) and root.obj.get("debug"))


def set_debug(flag: bool) -> None:
    """Record a subcommand's ``--debug``; it can turn debugging on but never off."""
    obj = click.get_current_context().find_root().ensure_object(dict)
    obj["debug"] = bool(obj.get("debug")) or bool(flag)


class BoundaryGroup(click.Group):
    """A click group whose commands end in one line and an exit code instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BaseException as e:  # noqa: BLE001 - the boundary is exactly the place for this
            if isinstance(e, SystemExit) or debug_requested(ctx):
                raise
            message, code = describe(e)
            if message:
                click.echo(f"error: {message}", err=True)
            sys.exit(code)
