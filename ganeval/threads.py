"""How many CPU threads torch uses: ``--threads N``, else ``$GANEVAL_THREADS``, else a default.

torch starts one intra-op thread per core.  On a machine whose cores are busy with other
work, those threads wait for each other at every parallel region, and throughput collapses:
the reference trainer ran 6-10x slower with 2 threads than with 1 on 2 shared cores, and
more than 40x slower with a busy process per core (benchmarks/results/threads-cpu-tiny-cpu2.json).
The setting is process-wide, so only the command lines and the trainer apply it; library
calls leave the caller's torch alone.  torch is imported only when a count is applied, so
option parsing (and ``--help``) stays light.
"""
from __future__ import annotations

import os

from .errors import UsageError

ENV = "GANEVAL_THREADS"


def resolve_threads(threads: int | None = None, *, default: int | None = None,
                    what: str = "--threads") -> int | None:
    """The thread count to use: `threads` when given, else ``$GANEVAL_THREADS``, else `default`.

    None means "leave torch's default" (one thread per core); ganeval's commands default to
    it, the reference trainer to 1.  A count below 1, or an environment value that is
    not a whole number, is a `UsageError` naming where it came from (`what` or the variable),
    so a typo in a job script fails at once instead of running on an unintended count.
    """
    if threads is None:
        raw = os.environ.get(ENV, "").strip()
        if not raw:
            return default
        try:
            threads = int(raw)
        except ValueError:
            raise UsageError(f"${ENV}={raw!r}: not a whole number; set it to a thread count such as 1") from None
        what = f"${ENV}"
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"{what} {threads!r}: must be a whole number of at least 1")
    return threads


def apply_threads(threads: int | None = None, *, default: int | None = None,
                  what: str = "--threads") -> int | None:
    """Set torch's intra-op thread count from `resolve_threads`; returns the count set.

    Called at the start of a command or training run (the count is process-wide).  With
    nothing requested it changes nothing, returns None and does not import torch.
    """
    count = resolve_threads(threads, default=default, what=what)
    if count is None:
        return None
    import torch  # only here: the CLI's --help and --version must not pay for it
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
