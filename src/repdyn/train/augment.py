"""Per-epoch randomness and batched, on-device data augmentation.

Everything random about training epoch e (the shuffling order, the crop
offsets, the flips, and the seed of torch's global RNG for layers such as
dropout) is a function of (seed, e) alone. That is what makes a run resumed at
any epoch bit-identical to an uninterrupted one: no RNG state has to be carried
across segment boundaries.

The draws are made on the CPU with a private torch.Generator (so they are the
same whatever device trains) and applied on the device to whole batches with
tensor indexing (no per-image Python loop, no PIL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from repdyn.config.integers import is_int

_63_BITS = (1 << 63) - 1


def epoch_seeds(seed: int, epoch: int) -> tuple[int, int]:
    """The two seeds of epoch `epoch` of a run with seed `seed`.

    Definition (stable, part of the reproducibility contract):
    ``words = numpy.random.SeedSequence([seed, epoch]).generate_state(2, dtype=numpy.uint64)``;
    the data seed is ``words[0]`` and the torch-global seed is ``words[1]``, each
    with its top bit cleared (torch seeds are signed 64-bit). SeedSequence
    hashes its whole entropy list, so neighbouring (seed, epoch) pairs give
    unrelated streams.
    """
    for name, value in (("train.seed", seed), ("epoch", epoch)):
        if not is_int(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    words = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, dtype=np.uint64)
    return int(words[0]) & _63_BITS, int(words[1]) & _63_BITS


@dataclass(frozen=True)
class EpochDraw:
    """The random choices of one epoch, indexed by position in the epoch's visiting order.

    order:   (N,) int64, a permutation of the training-set indices.
    offsets: (N, 2) int64, crop window origin (dy, dx) in the zero-padded image,
             each in [0, 2 * padding]; (padding, padding) means "no shift".
    flips:   (N,) bool, whether the example at that position is mirrored.
    """

    order: torch.Tensor
    offsets: torch.Tensor
    flips: torch.Tensor

    def to(self, device: torch.device) -> EpochDraw:
        return EpochDraw(self.order.to(device), self.offsets.to(device), self.flips.to(device))

    def slice(self, start: int, stop: int) -> EpochDraw:
        return EpochDraw(self.order[start:stop], self.offsets[start:stop], self.flips[start:stop])


def draw_epoch(num_examples: int, seed: int, epoch: int, padding: int, hflip: bool) -> EpochDraw:
    """Draw epoch `epoch`'s order, crop offsets and flips on the CPU.

    Draw order from a Generator seeded with ``epoch_seeds(seed, epoch)[0]``:
    ``randperm(N)``, then ``randint(0, 2*padding+1, (N, 2))``, then
    ``randint(0, 2, (N,))``. All three are always drawn (with padding 0 the
    offsets are all 0; with hflip off the flips are masked to False), so one
    stream layout serves every augmentation setting.
    """
    if num_examples < 1:
        raise ValueError(f"cannot draw an epoch for {num_examples} training examples")
    if not is_int(padding) or padding < 0:
        raise ValueError(f"train.augment.crop_padding must be an integer >= 0, got {padding!r}")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(epoch_seeds(seed, epoch)[0])
    order = torch.randperm(num_examples, generator=generator)
    offsets = torch.randint(0, 2 * padding + 1, (num_examples, 2), generator=generator)
    flips = torch.randint(0, 2, (num_examples,), generator=generator).bool()
    if not hflip:
        flips = torch.zeros_like(flips)
    return EpochDraw(order, offsets, flips)


def random_crop(images: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """Crop each image of a batch from its zero-padded copy at its own offset.

    images (B, C, H, W) of any dtype; offsets (B, 2) on the same device. Output
    pixel (i, j) of image b is ``images[b, :, i + dy - padding, j + dx - padding]``
    or 0 outside the image, i.e. torchvision's RandomCrop(H, padding) with
    zero fill. Pad uint8 images before normalising so that the fill is black,
    as in the reference training code.
    """
    if padding == 0:
        return images
    batch, channels, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    device = images.device
    rows = offsets[:, 0, None] + torch.arange(height, device=device)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(width, device=device)  # (B, W)
    return padded[
        torch.arange(batch, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def horizontal_flip(images: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Mirror the images whose flag is set (left-right), leave the others."""
    return torch.where(flips[:, None, None, None], images.flip(-1), images)


def augment_batch(images: torch.Tensor, draw: EpochDraw, padding: int) -> torch.Tensor:
    """Random crop then horizontal flip, with the batch's slice of the epoch draw."""
    return horizontal_flip(random_crop(images, draw.offsets, padding), draw.flips)
