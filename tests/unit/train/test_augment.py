"""repdyn.train.augment: per-epoch draws, crops and flips."""

from __future__ import annotations

import pytest
import torch

from repdyn.train import (
    loop,
)
from repdyn.train.augment import draw_epoch, epoch_seeds, horizontal_flip, random_crop


def test_epoch_draw_depends_only_on_seed_and_epoch():
    a, b = draw_epoch(300, 7, 5, padding=4, hflip=True), draw_epoch(300, 7, 5, padding=4, hflip=True)
    assert torch.equal(a.order, b.order) and torch.equal(a.offsets, b.offsets) and torch.equal(a.flips, b.flips)
    c = draw_epoch(300, 7, 6, padding=4, hflip=True)
    assert not torch.equal(a.order, c.order) and not torch.equal(a.offsets, c.offsets)
    assert not torch.equal(a.order, draw_epoch(300, 8, 5, padding=4, hflip=True).order)
    assert sorted(a.order.tolist()) == list(range(300))
    assert int(a.offsets.min()) >= 0 and int(a.offsets.max()) == 8 and 0 < int(a.flips.sum()) < 300
    assert epoch_seeds(7, 5) == epoch_seeds(7, 5) != epoch_seeds(7, 6)
    plain = draw_epoch(300, 7, 5, padding=0, hflip=False)
    assert int(plain.offsets.abs().sum()) == 0 and not bool(plain.flips.any())
    with pytest.raises(ValueError, match="train.seed"):
        epoch_seeds(-1, 0)


def test_random_crop_is_a_zero_filled_shift():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (2, 3, 10, 12), generator=generator, dtype=torch.uint8)
    offsets = torch.tensor([[1, 6], [4, 4]])  # first: shift rows by -3, columns by +2; second: identity
    cropped = random_crop(images, offsets, padding=4)
    assert cropped.shape == images.shape and cropped.dtype == images.dtype
    expected = torch.zeros_like(images[0])
    expected[:, 3:, : 12 - 2] = images[0, :, : 10 - 3, 2:]  # out[i, j] = in[i - 3, j + 2]
    assert torch.equal(cropped[0], expected)
    assert torch.equal(cropped[1], images[1])
    assert torch.equal(random_crop(images, offsets, padding=0), images)


def test_horizontal_flip_mirrors_only_flagged_images():
    images = torch.arange(2 * 1 * 2 * 3).reshape(2, 1, 2, 3)
    flipped = horizontal_flip(images, torch.tensor([True, False]))
    assert flipped[0, 0].tolist() == [[2, 1, 0], [5, 4, 3]]
    assert torch.equal(flipped[1], images[1])


def test_final_batch_of_one_is_dropped():
    assert loop._batch_bounds(65, 32) == [(0, 32), (32, 64)]
    assert loop._batch_bounds(66, 32) == [(0, 32), (32, 64), (64, 66)]
    assert loop._batch_bounds(64, 32) == [(0, 32), (32, 64)]
