"""Overlap producing the next batch with consuming the current one: a one-thread prefetcher.

Guarantee: `prefetch(batches)` yields exactly the items of `batches`, in order; an exception raised
by the producer is raised at the consumer's next item; a consumer that stops early (break, error)
stops the producer and joins its thread before returning, so nothing keeps running behind it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

import torch

T = TypeVar("T")
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer has gone


def _pinned(item: T) -> T:
    """A tensor, or the tensors in a tuple, in page-locked memory (asynchronous copies to CUDA)."""
    if isinstance(item, torch.Tensor):
        return item.pin_memory()
    if isinstance(item, tuple):
        return tuple(x.pin_memory() if isinstance(x, torch.Tensor) else x for x in item)  # type: ignore[return-value]
    return item


def prefetch(batches: Iterable[T], pin: bool = False, depth: int = 2) -> Iterator[T]:
    """The items of `batches`, computed up to `depth` ahead on a background thread.

    Worth it when the producer's work releases the GIL (numpy arithmetic, such as
    generating plane points) while the consumer runs torch kernels. `pin` puts
    tensors in page-locked memory.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in batches:
                if not offer(_pinned(item) if pin else item):
                    return
            offer(done)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            offer(error)

    worker = threading.Thread(target=produce, name="repdyn-prefetch", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
