"""Progress bars on stderr (tqdm), silenced by ``quiet``."""
from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(it: Iterable[T], *, total: int | None = None, unit: str = "img", desc: str = "",
             quiet: bool = False) -> Iterator[T]:
    """Wrap an iterator of batches in a tqdm bar that advances by batch length."""
    if quiet:
        yield from it
        return
    from tqdm import tqdm
    with tqdm(total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True) as bar:
        for item in it:
            yield item
            batch = item[-1] if isinstance(item, tuple) else item  # (start, batch) pairs count their batch
            bar.update(len(batch) if hasattr(batch, "__len__") else 1)
