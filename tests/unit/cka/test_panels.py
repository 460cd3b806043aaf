"""repdyn.cka.panels: column chunks over panels and the read-ahead thread."""

from __future__ import annotations

import pytest
import torch

from repdyn.cka.panels import column_chunks, piece_bounds, read_ahead
from repdyn.cka.tiles import iter_column_chunks


@pytest.mark.parametrize("widths", [[5, 7, 3], [16], [8, 8], [1, 20, 2]])
def test_column_chunks_over_panels_are_the_chunks_of_the_whole_block(widths):
    block = torch.randn(3, sum(widths))
    panels = list(block.split(widths, dim=1))
    got = list(column_chunks(iter(panels), chunk=6))
    expected = list(iter_column_chunks(block, 6))
    assert [c.shape for c in got] == [c.shape for c in expected]
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize("widths", [[23, 23, 23], [6, 6], [5], [13, 2]])
def test_pieces_cut_at_the_chunks_so_column_chunks_copies_only_across_batches(widths):
    block = torch.randn(3, sum(widths))
    offsets = [sum(widths[:b]) for b in range(len(widths))]
    pieces = []
    for width, offset, batch in zip(widths, offsets, block.split(widths, dim=1)):
        bounds = piece_bounds(width, offset, chunk=6)
        assert bounds[0] == 0 and bounds[-1] == width and all(0 < b - a <= 6 for a, b in zip(bounds, bounds[1:]))
        assert all((offset + cut) % 6 == 0 for cut in bounds[1:-1])
        pieces += [batch[:, a:b] for a, b in zip(bounds, bounds[1:])]
    got = list(column_chunks(iter(pieces), chunk=6))
    expected = list(iter_column_chunks(block, 6))
    assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected))
    uncopied = sum(any(c.data_ptr() == p.data_ptr() for p in pieces) for c in got)
    # the only copies: chunks that straddle a batch boundary, and a narrower last chunk
    copies = {o // 6 for o in offsets[1:] if o % 6} | ({len(got) - 1} if sum(widths) % 6 else set())
    assert uncopied == len(got) - len(copies)


def test_read_ahead_keeps_order_and_reraises_the_producers_error():
    assert list(read_ahead(iter(range(7)))) == list(range(7))

    def failing():
        yield 1
        raise KeyError("epoch 5 is in none of the extraction parts")

    stream = read_ahead(failing())
    assert next(stream) == 1
    with pytest.raises(KeyError, match="epoch 5"):
        next(stream)


def test_read_ahead_stops_its_thread_when_the_consumer_stops():
    produced = []

    def counting():
        for i in range(1000):
            produced.append(i)
            yield i

    stream = read_ahead(counting(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert len(produced) <= 4  # the one consumed, one queued, at most one being built and one more
