"""The two-point part of the plan."""

from __future__ import annotations

from repdyn import plan as planning
from repdyn.twopoint import PAIR_TYPES


def test_the_torch_free_plan_counts_the_pair_types_of_the_package():
    """The cost model sizes the pair batch from plan.twopoint.PAIR_TYPE_COUNT (kept torch-free)."""
    assert planning.twopoint.PAIR_TYPE_COUNT == len(PAIR_TYPES)
