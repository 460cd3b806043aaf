"""How long a linear probe trains: at least `probe.epochs` passes and at least `probe.min_steps` Adam steps.

Why a step floor: the paper's recipe (Adam, lr 1e-4, 10 epochs, batch 128) means 3,910 optimizer steps on
CIFAR-10's 50,000 training images, but only 40 on a 500-image subset, where probes stay near their random
initialisation (a logits-layer probe then predicts worse than chance although the identity map would match
the network). The floor keeps the number of updates, not the number of passes, comparable across training
set sizes. Torch-free: the cost model (repdyn.cost.work) and the probe trainer read the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from repdyn.config.integers import require_int


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Mini-batches in one pass over `num_examples` (the last one may be smaller)."""
    require_int("batch_size", batch_size, minimum=1)
    return math.ceil(num_examples / batch_size)


def probe_epochs(epochs: int, min_steps: int, num_examples: int, batch_size: int) -> int:
    """max(epochs, ceil(min_steps / steps_per_epoch)): whole passes, so every example is seen equally often."""
    require_int("epochs", epochs, minimum=1)
    require_int("min_steps", min_steps, minimum=0)
    per_epoch = steps_per_epoch(num_examples, batch_size)
    return max(epochs, math.ceil(min_steps / per_epoch)) if per_epoch else epochs


def probe_passes(settings: Mapping[str, Any], num_examples: int) -> int:
    """`probe_epochs` of a probe artifact's settings; a spec without `min_steps` (epochs only, see
    repdyn.plan.drs.probe_spec) means 0."""
    return probe_epochs(settings["epochs"], settings.get("min_steps", 0), num_examples, settings["batch_size"])
