"""torch.distributed plumbing shared by the metrics, the hooks and the command line.

Every accumulator (`FeatureStats`, `SWDDescriptors`, `MSSSIMAccumulator`) declares two
things: ``portable()``, a CPU copy that can travel between processes, and ``merge(other)``,
which folds another accumulator of the same kind into it.  Syncing is then generic:
`reduce_to_rank0` gathers every rank's portable copy on rank 0 and merges them in rank
order.  Outside torch.distributed every helper is a no-op on a world of one.
"""
from __future__ import annotations

import datetime
import os
from typing import Any, TypeVar

import torch

from .errors import GanevalError

__all__ = ["rank_world", "is_distributed", "is_main", "gather_to_rank0", "reduce_to_rank0", "broadcast", "barrier",
           "init_from_env", "agree", "PeerFailure"]

A = TypeVar("A")


def is_distributed() -> bool:
    """True inside an initialised torch.distributed process group of more than one rank."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def rank_world() -> tuple[int, int]:
    """(rank, world size) of the default process group, or (0, 1) outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on the rank that prints and writes (rank 0, or the only process).

    Before the process group exists (or after it is left) the launcher's RANK decides, so a
    command refused under torchrun is reported once, not once per process.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def local_rank() -> int:
    """The process's index on its node (torchrun's LOCAL_RANK), 0 outside torchrun."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def launched_distributed() -> bool:
    """True when torchrun (or any launcher setting WORLD_SIZE > 1) started this process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env() -> None:
    """Join the process group torchrun describes (no-op when not launched distributed).

    NCCL when CUDA is present (each process on ``cuda:LOCAL_RANK``), gloo otherwise.
    Collectives time out after ``$GANEVAL_DIST_TIMEOUT`` seconds (default 1800), so a rank
    that dies inside one can never leave the others waiting forever.
    """
    if not launched_distributed() or (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    timeout = datetime.timedelta(seconds=float(os.environ.get("GANEVAL_DIST_TIMEOUT", "1800")))
    if torch.cuda.is_available() and os.environ.get("GANEVAL_DIST_BACKEND", "nccl") == "nccl":
        torch.cuda.set_device(local_rank())
        torch.distributed.init_process_group("nccl", timeout=timeout)
    else:
        torch.distributed.init_process_group("gloo", timeout=timeout)


def shutdown() -> None:
    """Leave the process group; without this, gloo's threads can abort the process at exit."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        barrier()
        torch.distributed.destroy_process_group()


class PeerFailure(GanevalError):
    """Another rank failed; carries its one-line message and exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def agree(failure: tuple[str, int] | None = None) -> None:
    """Collective: every rank says whether it failed; raise `PeerFailure` if another one did.

    Every command passes through here before each reduction and once at its end, and a rank
    that fails calls it with its (message, exit code) instead; so a failure anywhere ends
    every rank at the next sync point with the failing rank's message, instead of leaving the
    others blocked in a collective.
    """
    if not is_distributed():
        return
    statuses: list[Any] = [None] * rank_world()[1]
    torch.distributed.all_gather_object(statuses, failure)
    failed = [(r, s) for r, s in enumerate(statuses) if s is not None]
    if failed and failure is None:
        r, (message, code) = failed[0]
        raise PeerFailure(f"rank {r}: {message}" if not message.startswith("rank ") else message, code)


def gather_to_rank0(obj: Any) -> list[Any] | None:
    """Every rank's picklable `obj` on rank 0 in rank order (None on other ranks)."""
    rank, world = rank_world()
    if world == 1:
        return [obj]
    out: list[Any] | None = [None] * world if rank == 0 else None
    torch.distributed.gather_object(obj, out, dst=0)
    return out


def reduce_to_rank0(acc: A) -> A | None:
    """The merge of every rank's accumulator, on rank 0; None on the other ranks.

    With one process the accumulator itself is returned, untouched by any copy.
    """
    if rank_world()[1] == 1:
        return acc
    agree()
    parts = gather_to_rank0(acc.portable())  # type: ignore[attr-defined]
    if parts is None:
        return None
    total = parts[0]
    for p in parts[1:]:
        total.merge(p)
    return total


def broadcast(obj: Any, src: int = 0) -> Any:
    """`obj` from rank `src` on every rank (itself outside torch.distributed)."""
    if rank_world()[1] == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op with one process)."""
    if rank_world()[1] > 1:
        torch.distributed.barrier()
