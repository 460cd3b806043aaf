"""Epoch vectors streamed from the Gram store: one probe batch's columns of a block at a time, read ahead.

A tile needs, per layer, the float32 epoch vectors G (epochs, D) of its row and column blocks. Their
columns come in per-batch parts (`transforms.batch_columns`), and the store keeps one chunk per (epoch,
batch) Gram, so the part of batch b for a block is one read of consecutive chunks per extraction part
(plain chunks straight from their files, `zarr_store.read_plain_chunks`). `batch_panels` yields those parts
in order, transformed a panel at a time (`transforms.panel_vectors`); `batch_pieces` yields the same columns
in pieces of one column chunk, centred straight from the packed Grams, which are read into one buffer per
stream; `read_ahead` runs any such generator on a thread so that the next pieces are read and transformed
while the GEMM works on the current one; `column_chunks` re-cuts a stream of panels or pieces into the column
chunks of `tiles.iter_column_chunks` over the whole vector (pieces pass uncopied but where a chunk straddles
two batches), so the products are the same sums, in the same order, as from the block in memory, and
`working_chunks` converts them to the GEMM's dtype on another thread.

Memory: a stream of pieces holds one batch's packed Grams (a·n(n+1)/2·4 bytes for a block of a epochs) and
the pieces queued, in use and being built (tile_job.PIECES_AHEAD + 2 of a·c·4 bytes, c = 8192 columns); a
stream of whole panels (cka_mean) at most three panels, 3·a·D/B·4 bytes; converted chunks add at most four
of a·c·8 bytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import queue
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch

from repdyn.extract.grams_store import GramParts

from .grams import packed_length
from .tiles import DEFAULT_CHUNK
from .transforms import panel_vector_pieces, panel_vectors, part_length

T = TypeVar("T")
_DONE = object()


def _runs(parts: GramParts, epochs: Sequence[int]) -> Iterator[tuple[object, int, int, int]]:
    """(part, first index, stop index, first row) of each run of epochs stored consecutively in one part."""
    start = 0
    while start < len(epochs):
        part = parts.part_of(epochs[start])
        first = part.index(epochs[start])
        stop = start + 1
        while (
            stop < len(epochs)
            and parts.part_of(epochs[stop]) is part
            and part.index(epochs[stop]) == first + stop - start
        ):
            stop += 1
        yield part, first, first + stop - start, start
        start = stop


def packed_panel(
    parts: GramParts, layer: str, epochs: Sequence[int], batch: int | None, out: np.ndarray | None = None
) -> np.ndarray:
    """Packed Grams (len(epochs), L) of one probe batch (None: the full Gram) for the epochs, in their order,
    read as one slice of consecutive chunks per run of stored epochs (into `out` if given)."""
    for part, first, stop, row in _runs(parts, epochs):
        if out is None and stop - first == len(epochs):  # one run: the panel itself, no copy
            return part.packed_range(layer, first, stop, batch)
        values = part.packed_range(layer, first, stop, batch, None if out is None else out[row : row + stop - first])
        if out is None:
            out = np.empty((len(epochs), values.shape[1]), dtype=values.dtype)
        out[row : row + stop - first] = values
    return out


def _batch_layout(parts: GramParts, estimator: str) -> tuple[list[int | None], int]:
    """The stored probe batches a vector g is built from (None: the full Gram) and their size n."""
    first = parts.parts[0]
    if estimator == "full_biased":
        return [None], first.batch_size * first.batches
    return list(range(first.batches)), first.batch_size


def batch_panels(parts: GramParts, layer: str, epochs: Sequence[int], estimator: str) -> Iterator[torch.Tensor]:
    """Per probe batch in order, the float32 columns (len(epochs), D_b) of that batch's part of G."""
    batches, n = _batch_layout(parts, estimator)
    for batch in batches:
        yield panel_vectors(torch.from_numpy(packed_panel(parts, layer, epochs, batch)), n, estimator)


def piece_bounds(width: int, offset: int, chunk: int = DEFAULT_CHUNK) -> list[int]:
    """Bounds of the pieces of a batch's `width` columns that start at column `offset` of g: cut where g's
    column chunks (`tiles.iter_column_chunks`) are, so that `column_chunks` passes the pieces on uncopied."""
    return [0, *(cut for cut in range(-offset % chunk, width, chunk) if cut > 0), width]


def batch_pieces(
    parts: GramParts, layers: Sequence[str], epochs: Sequence[int], estimator: str, chunk: int = DEFAULT_CHUNK
) -> Iterator[torch.Tensor]:
    """Per layer in order, the columns of its `batch_panels` in pieces of at most `chunk` columns
    (`piece_bounds`), built one at a time from each batch's packed Grams (`transforms.panel_vector_pieces`):
    the stream holds one batch's packed Grams, read into one buffer for all (the Gram store holds float32),
    and the pieces in flight, not whole panels."""
    batches, n = _batch_layout(parts, estimator)
    width = part_length(n, estimator)
    buffer = torch.empty((len(epochs), packed_length(n)), dtype=torch.float32)
    for layer in layers:
        for index, batch in enumerate(batches):
            packed = torch.from_numpy(packed_panel(parts, layer, epochs, batch, buffer.numpy()))
            yield from panel_vector_pieces(packed, n, estimator, piece_bounds(width, index * width, chunk))


def pieces_per_layer(parts: GramParts, estimator: str, chunk: int = DEFAULT_CHUNK) -> int:
    """How many pieces `batch_pieces` yields for one layer."""
    batches, n = _batch_layout(parts, estimator)
    width = part_length(n, estimator)
    return sum(len(piece_bounds(width, index * width, chunk)) - 1 for index in range(len(batches)))


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Let freed blocks of up to `limit` bytes stay in the process's heap for reuse (glibc only; True if set).

    A tile makes many large short-lived temporaries (a column chunk's float64 copy, its squares: 32 MB each at
    512 epochs). By default glibc maps each one fresh and the kernel zeroes every page on first touch:
    converting a 512 x 8192 chunk to float64 then took 18 ms of CPU instead of 3 ms (measured on this
    project's 2-core machine). One arena for all threads: a thread's own arena would still map blocks over
    64 MB fresh (the float64 chunk of 1001 epochs). The memory stays mapped until the process ends: the
    tile's peak is unchanged.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return all(
            libc.mallopt(option, value)
            for option, value in ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, limit), (_M_TRIM_THRESHOLD, 2 * limit))
        )
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of `items`, produced on a thread up to `depth` ahead of the consumer; its errors re-raised here.

    The thread runs torch single-threaded: its many small operations then never wait at a parallel region's
    barrier for cores that the consumer's GEMM holds (measured on 2 shared cores: a Gram transform took
    3-4 ms on one thread, 35-200 ms on two). Stopping early (closing the iterator) stops the thread after the
    item it is building.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        torch.set_num_threads(1)  # this thread's own setting; the consumer keeps its threads
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            slots.put(error)

    thread = threading.Thread(target=produce, name="repdyn-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                slots.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def working_chunks(
    panels: Iterable[torch.Tensor], accumulate: str, chunk: int = DEFAULT_CHUNK
) -> Iterator[torch.Tensor]:
    """`column_chunks` of the panels in the dtype the tile's GEMMs use: for float64 accumulation converted on a
    thread, up to two chunks ahead (the same values `tiles.streamed_products` would convert itself)."""
    chunks = column_chunks(panels, chunk)
    if accumulate != "float64":
        return chunks
    return read_ahead((c.to(torch.float64) for c in chunks), depth=2)


def column_chunks(panels: Iterable[torch.Tensor], chunk: int = DEFAULT_CHUNK) -> Iterator[torch.Tensor]:
    """Column chunks of width `chunk` over the concatenation of `panels` (the last may be narrower): the
    chunks `tiles.iter_column_chunks` cuts from the whole block. A chunk across a panel boundary is copied."""
    carry = None
    for panel in panels:
        start = 0
        if carry is not None:
            start = chunk - carry.shape[1]
            carry = torch.cat([carry, panel[:, :start]], dim=1)
            if carry.shape[1] < chunk:
                continue
            yield carry
            carry = None
        while panel.shape[1] - start >= chunk:
            yield panel[:, start : start + chunk]
            start += chunk
        if start < panel.shape[1]:
            carry = panel[:, start:].clone()
    if carry is not None:
        yield carry
