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

Writers replace only regular files (`check_target`): a rename over a device node, FIFO,
socket or folder would destroy it (as root, ``-o /dev/null`` used to turn /dev/null into a
JSON file), so such a target is a `UsageError`.  A symbolic link as the target is refused
too, neither replaced nor written through: replacing it loses the link, and writing through
it changes a file the user did not name (``report/index.html -> ~/.bashrc`` in a shared
folder); naming the link's target is one step away.  Links among the folders on the way are
followed as usual.  Any OSError while writing names the target (a full disk's ENOSPC names
no file by itself).

Reads of files someone else may have written go through `read_bounded`: regular files only,
at most a stated size, and optionally never through a link that leads out of a folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import threading
import time
from typing import IO, Callable, Iterator

from ..errors import DataError, UsageError

__all__ = ["atomic_write", "atomic_write_text", "append_line", "check_target", "read_bounded", "STALE_TMP_AGE_S"]

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


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symbolic link")):
        if test(mode):
            return name
    return "special file"


def check_target(path: str | os.PathLike) -> None:
    """Raise `UsageError` unless `path` is absent or a regular file that a writer may replace.

    A folder, device, FIFO or socket is refused (a rename would destroy it), and so is a
    symbolic link, whatever it points at (see the module docstring).
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # nothing there; the write itself reports a bad parent
        return
    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISLNK(st.st_mode):
        try:
            to = f" (to {os.readlink(path)})"
        except OSError:
            to = ""
        raise UsageError(f"{os.fspath(path)}: is a symbolic link{to}; ganeval neither replaces links nor writes "
                         "through them: give the path of the file itself, or remove the link")
    kind = _kind(st.st_mode)
    raise UsageError(f"{os.fspath(path)}: is a {kind}, not a regular file, and writing would replace it; "
                     "choose another path")


def _named(e: OSError, path: str) -> OSError:
    """`e` with `path` as its file name when it names none (write() and fsync() errors such as
    ENOSPC carry no name), so the boundary's one line says which file could not be written."""
    if e.filename is not None or e.errno is None:
        return e
    named = OSError(e.errno, e.strerror or os.strerror(e.errno), path)
    named.__cause__ = e
    return named


def read_bounded(path: str | os.PathLike, limit: int, *, within: str | os.PathLike | None = None) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    Raises `DataError` naming `path` if it is not a regular file (a link to /dev/zero or a FIFO
    would be read forever), is larger than `limit` bytes, or, with `within`, resolves to a file
    outside the folder `within` (a link out of a run folder must not pull /etc/passwd into a
    report).  A missing file raises FileNotFoundError, for callers that treat it as empty.
    """
    path = os.fspath(path)
    real = os.path.realpath(path)
    if within is not None:
        root = os.path.realpath(within)
        if os.path.commonpath([real, root]) != root:
            raise DataError(f"{path}: is a link to {real}, outside {os.fspath(within)}; ganeval does not follow "
                            "links out of the folder: copy the file in instead")
    # Devices are not even opened (opening some has side effects); the fstat below catches a
    # swap after this check.  The resolved name is opened without following a link, and
    # O_NONBLOCK keeps a FIFO that appeared meanwhile from waiting for a writer.
    _regular(os.stat(real).st_mode, path)
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        _regular(os.fstat(fd).st_mode, path)
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    if got > limit:
        raise DataError(f"{path}: larger than {_size(limit)}, more than ganeval reads from such a file; "
                        "is it the right file?")
    return b"".join(chunks)


def _regular(mode: int, path: str) -> None:
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: is a {_kind(mode)}, not a regular file; give a regular file")


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


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
    Raises `UsageError` for a target that is not a regular file (`check_target`), before
    anything is written; an OSError while writing names `path`.
    """
    path = os.fspath(path)
    check_target(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    _remove_stale_temps(d)
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix="-" + os.path.basename(path))
    except OSError as e:
        raise _named(e, path) from e
    try:
        if hasattr(os, "fchmod"):  # not on Windows before 3.13, where the mode bits mean little
            with contextlib.suppress(OSError):  # filesystems without permissions (vfat, some SMB)
                os.fchmod(fd, 0o666 & ~_umask())
        # A file name that is not UTF-8 reaches text as surrogates (os.fsdecode); it is written as
        # "\udcff", as the error boundary prints it, instead of failing the whole write.
        text_kw = {"encoding": "utf-8", "errors": "backslashreplace"}
        with os.fdopen(fd, mode, **({} if "b" in mode else text_kw)) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        check_target(path)  # again: something may have appeared there while the block ran
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise _named(e, path) from e
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
    new line, so that it is not glued onto the fragment and lost with it.  Only a regular file
    is appended to (`check_target`); an OSError names `path`.
    """
    path = os.fspath(path)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    check_target(path)
    # No link is followed and no FIFO waited on, should one appear after the check.
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if os.path.islink(path):
            check_target(path)
        raise _named(e, path) from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path}: is a {_kind(st.st_mode)}, not a regular file; choose another path")
        size = st.st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        # One write call with O_APPEND: concurrent appenders' records do not interleave.
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except OSError as e:
        raise _named(e, path) from e
    finally:
        os.close(fd)


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 hex digest of the file at `path`, read in 1 MiB blocks (weights, statistics
    files and checkpoints are named by it in results, caches and protocols)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, *, timeout: float = 60,
             accept: Callable[[str], str | None] = lambda digest: None) -> str:
    """Stream `url` into `dest` atomically (`atomic_write`), hashing it on the way, and return
    its sha256.  ``accept(digest)`` returns None to keep the file or the reason to refuse it,
    which raises `WeightsError` before the rename (nothing is left at `dest`).  Failures to
    fetch or write raise `OSError` naming the address."""
    import urllib.request

    from ..errors import WeightsError
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, atomic_write(dest, "wb") as f:
            for block in iter(lambda: r.read(1 << 20), b""):
                h.update(block)
                f.write(block)
            refused = accept(h.hexdigest())
            if refused:
                raise WeightsError(f"downloaded {url} has sha256 {h.hexdigest()}, {refused}; refusing it")
    except WeightsError:
        raise
    except Exception as e:
        raise OSError(f"cannot download {url} ({e})") from None
    return h.hexdigest()
