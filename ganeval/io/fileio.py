"""Crash-safe file writes: nothing on disk is ever left half-written.

Every writer goes through `atomic_write`: it writes to a temporary file in the target's
directory, fsyncs it and renames it over the target, so a killed process leaves either the
old file or the new one, never a truncated one.

A killed writer does leave its temporary file behind.  Temporary files are named
``.tmp-<pid>-<random>-<target name>`` so that later writers can tell whose they are: each
atomic write into a directory removes the ``.tmp-<pid>-*`` files there whose process is gone
and which nobody has touched for `STALE_TMP_AGE_S` seconds (see `_remove_stale_temps`).

JSONL logs are appended to with `append_line`, which starts a fresh line when the file ends
in a line cut off by a crash; readers skip such fragments with a warning.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from typing import IO, Iterator

__all__ = ["atomic_write", "atomic_write_text", "append_line", "STALE_TMP_AGE_S"]

TMP_PREFIX = ".tmp-"

# A dead PID alone is not proof that a temp file is abandoned: a directory on a network
# filesystem, or mounted into several containers, is shared by writers whose PIDs this process
# cannot see, and their live temp files look like a dead writer's.  Such a writer keeps its
# file's mtime fresh while it writes, so a file must also have been left alone this long.
# Fifteen minutes covers a stalled download or a slow savez of large statistics; the cost is
# only that an abandoned file lingers that long.  PID reuse errs the safe way: a reused PID
# looks alive, and its file is kept until a later write finds the PID free again.
STALE_TMP_AGE_S = 15 * 60

_STALE_RE = re.compile(re.escape(TMP_PREFIX) + r"(\d+)-")
_umask_lock = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    # os.umask can only be read by setting it, and a file another thread creates in between
    # gets the temporary mask instead of its own; Linux reports the umask in /proc, with no
    # such window.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere accept the window, which the lock closes for ganeval's own writers: another
    # thread's file created in those microseconds gets 022, the common default, never 000.
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists but belongs to someone else
        return True
    return True


def _remove_stale_temps(folder: str) -> None:
    """Delete temp files in `folder` left by writers that died (best effort, never raises)."""
    try:
        entries = os.scandir(folder)
    except OSError:
        return
    now = time.time()
    with entries:
        for entry in entries:
            m = _STALE_RE.match(entry.name)
            if m is None:
                continue
            try:
                if not entry.is_file(follow_symlinks=False) or now - entry.stat().st_mtime < STALE_TMP_AGE_S:
                    continue
                if _pid_alive(int(m.group(1))):
                    continue
                os.unlink(entry.path)
            except (OSError, ValueError, OverflowError):  # raced with another cleaner, or not ours to remove
                continue


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename itself is still atomic
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file for writing that replaces `path` only when the block succeeds.

    Text modes write UTF-8 whatever the locale.  The final file gets the mode a plain
    ``open(path, "w")`` would give it (0666 less the umask), not mkstemp's private 0600.
    """
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    _remove_stale_temps(d)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix="-" + os.path.basename(path))
    try:
        if hasattr(os, "fchmod"):  # not on Windows before 3.13, where the mode bits mean little
            with contextlib.suppress(OSError):  # filesystems without permissions (vfat, some SMB)
                os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(d)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically, as UTF-8."""
    with atomic_write(path) as f:
        f.write(text)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line (JSONL record) and fsync, so a crash loses at most the line in flight.

    If the file ends without a newline, a writer was killed mid-line: the record starts on a
    new line, so that it is not glued onto the fragment and lost with it.
    """
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        # One write call with O_APPEND: concurrent appenders' records do not interleave.
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
