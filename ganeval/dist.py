"""torch.distributed plumbing shared by the metrics, the hooks and the command line.

Every accumulator (`FeatureStats`, `SWDDescriptors`, `MSSSIMAccumulator`) declares two
things: ``portable()``, a CPU copy that can travel between processes, and ``merge(other)``,
which folds another accumulator of the same kind into it.  Syncing is then generic:
`reduce_to_rank0` gathers every rank's portable copy on rank 0 and merges them in rank
order.  Outside torch.distributed every helper is a no-op on a world of one.
"""
from __future__ import annotations

import os
from typing import Any, TypeVar

import torch

__all__ = ["rank_world", "is_distributed", "is_main", "gather_to_rank0", "reduce_to_rank0", "broadcast", "barrier"]

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
    """True on the rank that prints and writes (rank 0, or the only process)."""
    return rank_world()[0] == 0


def local_rank() -> int:
    """The process's index on its node (torchrun's LOCAL_RANK), 0 outside torchrun."""
    return int(os.environ.get("LOCAL_RANK", "0"))


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
