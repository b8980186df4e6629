"""Progress bars on stderr (tqdm), silenced by ``quiet``.

Every bar is drawn once more at its end: tqdm redraws at most every 0.1 s, so without that
the last state on screen (or in a log) was whatever the final batches left it at, such as
MS-SSIM's 96%.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator, TypeVar

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
        bar.refresh()  # the final count, even when it came within tqdm's redraw interval


@contextlib.contextmanager
def progress_bar(total: float | None, *, unit: str = "it", desc: str = "",
                 quiet: bool = False) -> Iterator[Callable[[float], None]]:
    """A bar for work that is not a loop over batches (SWD's distances, say).

    Yields ``advance(k)``, to call as each piece of the `total` work finishes; the bar is
    drawn at its final count on leaving the block, and removed like the batch bars.  With
    `quiet`, ``advance`` does nothing and tqdm is not imported.
    """
    if quiet:
        yield lambda k: None
        return
    from tqdm import tqdm
    with tqdm(total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True) as bar:
        yield bar.update
        bar.refresh()
