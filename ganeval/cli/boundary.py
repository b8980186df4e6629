"""One error boundary for every command line (``ganeval``, the trainer, its dataset tool).

Anything a user's data or environment can cause becomes one line on stderr and an exit code:
1 for data errors (unreadable, corrupt or missing files, bad arrays), 2 for usage errors
(click's own parse errors included).  Only ``--debug`` shows the traceback.  An exception this
module does not recognise is a bug in ganeval: it is still one line, which says to rerun with
``--debug`` and report it.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import sys
import warnings
import zipfile
from typing import Any, Iterator, NoReturn

import click

from ..errors import GanevalError

MAX_LENGTH = 400

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
# torch.load's refusals advise retrying with weights_only=False or allowlisting the class; both
# would run code from a file the user may not trust, so no sentence carrying that advice (in
# any torch version's wording) is passed on.  Only messages from torch.load are filtered, by
# phrases rather than words, so that a path which happens to hold such a word survives.
_TORCH_LOAD = re.compile(r"weights[ _]only", re.I)
_UNSAFE = re.compile(r"weights_only|safe_globals|trusted source|trust the source|trust this|arbitrary code"
                     r"|can still be loaded|recommended steps|documentation of torch", re.I)

_OS_ADVICE = {
    errno.EACCES: "fix its permissions or use another path",
    errno.EPERM: "fix its permissions or use another path",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path",
    errno.EISDIR: "check the path",
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EROFS: "write elsewhere",
}


def clean(message: str, limit: int | None = MAX_LENGTH) -> str:
    """`message` as one line of at most `limit` characters, without terminal colour codes or
    torch.load's advice to load unsafely."""
    text = _ANSI.sub("", str(message))
    sentences = [s.strip() for s in _SENTENCES.split(text) if s.strip()]
    kept = [s for s in sentences if not _UNSAFE.search(s)] if _TORCH_LOAD.search(text) else sentences
    line = " ".join(kept)
    if len(kept) < len(sentences):
        # A dropped last sentence may have held the closing bracket of a wrapper's "(...)".
        line += ")" * max(0, line.count("(") - line.count(")"))
    return line if limit is None or len(line) <= limit else line[: limit - 3] + "..."


def _os_error(exc: OSError) -> str:
    names = " -> ".join(os.fsdecode(n) if isinstance(n, bytes) else str(n)
                        for n in (exc.filename, exc.filename2) if n is not None)
    what = exc.strerror or clean(str(exc)) or type(exc).__name__
    advice = _OS_ADVICE.get(exc.errno, "check the path and its permissions")
    return f"{names}: {what}; {advice}" if names else f"{what}; {advice}"


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for `exc` (see the module docstring)."""
    if isinstance(exc, GanevalError):
        # ganeval's own messages end in what to do, so they are never cut short.
        return clean(str(exc), limit=None) or type(exc).__name__, exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return "", exc.exit_code
    if isinstance(exc, click.UsageError):
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return clean(exc.format_message()) + where, exc.exit_code
    if isinstance(exc, click.ClickException):
        return clean(exc.format_message()), exc.exit_code
    if isinstance(exc, click.Abort):
        return "aborted", 1
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, OSError):
        return _os_error(exc), 1
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); fix or remove the file", 1
    if isinstance(exc, (zipfile.BadZipFile, pickle.UnpicklingError, EOFError)):
        return f"corrupt or truncated file ({type(exc).__name__}: {clean(str(exc))}); replace the file", 1
    # torch.OutOfMemoryError (CUDA or MPS) is matched by name: importing torch here would slow
    # every command, and torch is already loaded whenever it can be raised.
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "out of memory; lower --batch-size or --num-images", 1
    return (f"internal error ({type(exc).__name__}: {clean(str(exc))}); rerun with --debug for the traceback "
            "and report it", 1)


def debug_requested(ctx: click.Context | None) -> bool:
    """True when ``--debug`` was given to the root command or any subcommand."""
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and isinstance(root.obj, dict) and root.obj.get("debug"))


def set_debug(flag: bool, ctx: click.Context | None = None) -> None:
    """Record a subcommand's ``--debug``; it can turn debugging on but never off."""
    obj = (ctx or click.get_current_context()).find_root().ensure_object(dict)
    obj["debug"] = bool(obj.get("debug")) or bool(flag)


def debug_option(f: Any) -> Any:
    """A subcommand's ``--debug``.  Eager, so it is recorded before the other options' checks run
    and a usage error found while parsing shows its traceback too."""
    return click.option("--debug", is_flag=True, is_eager=True, expose_value=False,
                        callback=lambda ctx, _param, value: set_debug(value, ctx),
                        help="Show tracebacks on errors.")(f)


def fail(exc: BaseException) -> NoReturn:
    """Print `exc` as one line on stderr and exit with its code.

    Under torchrun the other ranks learn of the failure at their next sync point (see
    `ganeval.dist.agree`) and exit with the same code; only rank 0 prints.
    """
    from .. import dist
    message, code = describe(exc)
    main_rank = dist.is_main()  # before leaving the group, after which every process looks like rank 0
    if dist.is_distributed():
        with contextlib.suppress(Exception):  # a peer already gone must not hide this error
            if not isinstance(exc, dist.PeerFailure):
                dist.agree((message, code))
            dist.shutdown()
    if message and main_rank:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """`warnings.showwarning` for the command line: one ``warning: ...`` line on stderr.

    Python's own format adds the category and the source line that raised it, which tell a
    user nothing; and text written while a tqdm bar is drawn lands on the bar's line.  So the
    message is cleaned to one line and, when tqdm is loaded, written with `tqdm.write`, which
    clears every bar first and redraws them after.
    """
    text = f"warning: {clean(str(message), limit=None)}"
    tqdm = sys.modules.get("tqdm")  # never imported here: without tqdm loaded no bar can be drawn
    if tqdm is not None:
        tqdm.tqdm.write(text, file=sys.stderr)
    else:
        click.echo(text, err=True)


def _recording_warnings() -> bool:
    # catch_warnings(record=True) (pytest, for one) swaps this hook for a list's append; a
    # showwarning installed over it would take the warnings away from the recorder.
    impl = getattr(warnings, "_showwarnmsg_impl", None)
    return getattr(impl, "__name__", "_showwarnmsg_impl") != "_showwarnmsg_impl"


@contextlib.contextmanager
def one_line_warnings(ctx: click.Context | None) -> Iterator[None]:
    """Show warnings through `show_warning` while a command runs (Python's format with
    ``--debug``, whose source lines are then wanted; untouched while warnings are recorded)."""
    if _recording_warnings():
        yield
        return
    saved = warnings.showwarning

    def show(*args: Any, **kw: Any) -> None:
        # Asked at each warning: a subcommand's --debug is recorded only once it is parsed.
        (saved if debug_requested(ctx) else show_warning)(*args, **kw)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


class BoundaryGroup(click.Group):
    """A click group whose commands end in one line and an exit code instead of a traceback.

    Commands named in `distributed_commands` may run under torchrun: the process group is
    joined before the command runs and every rank meets once more after it (so a failure on
    any rank ends all of them); other commands refuse to run under torchrun.
    """

    distributed_commands: tuple[str, ...] = ()

    def _join_process_group(self, ctx: click.Context) -> bool:
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:  # dist.launched_distributed(), without importing
            return False                                   # torch for `--help` (ganeval.dist imports it)
        from .. import dist
        from ..errors import UsageError
        if not dist.launched_distributed():
            return False
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None) or []
        args = [*protected, *ctx.args]
        name = next((a for a in args if not a.startswith("-")), None)
        if name not in self.distributed_commands:
            raise UsageError(f"'{name}' does not run under torchrun; run it as one process (distributed: "
                             f"{', '.join(self.distributed_commands) or 'none'})")
        dist.init_from_env()
        return True

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        # The root's own options are parsed here, outside `invoke`.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # its message is the help page
                raise
            fail(e)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            distributed = self._join_process_group(ctx)
            with one_line_warnings(ctx):
                out = super().invoke(ctx)
            if distributed:
                from .. import dist
                dist.agree()  # the last sync point: a rank that failed after the others finished
                dist.shutdown()
            return out
        except (click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except click.ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                raise
            fail(e)  # a parse error's traceback shows click's internals, never the user's problem
        except BaseException as e:  # noqa: BLE001 - the boundary is exactly the place for this
            # A closed stdout pipe (`ganeval ... | head`) is click's to silence: it also stops the
            # second error that flushing stdout at exit would raise.
            if debug_requested(ctx) or (isinstance(e, OSError) and e.errno == errno.EPIPE):
                raise
            fail(e)
