"""repdyn.drs.prefetch: background point generation yields every item in order and passes the producer's
error on."""

from __future__ import annotations

import threading

import pytest
import torch

from repdyn.drs.prefetch import prefetch


def test_prefetch_yields_every_item_in_order():
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))
    pinned = list(prefetch(((i, torch.full((2,), i)) for i in range(3)), pin=False))
    assert [int(t[0]) for _, t in pinned] == [0, 1, 2]


def test_prefetch_raises_the_producers_error_and_stops_when_left_early():
    def failing():
        yield 1
        raise KeyError("broken batch")

    with pytest.raises(KeyError, match="broken batch"):
        list(prefetch(failing()))
    threads = threading.active_count()
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = prefetch(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer leaves: the producer must stop and its thread end
    assert threading.active_count() == threads
    assert len(produced) <= 4
    with pytest.raises(ValueError, match="depth"):
        list(prefetch(iter([1]), depth=0))
