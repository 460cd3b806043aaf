"""The plan's storage and job outputs against a finished run (the session's tiny_run)."""

from __future__ import annotations

import pytest
from support.configs import plan_of, tiny_raw

from repdyn.cost import report as overview
from repdyn.scheduling import jobs


@pytest.mark.slow
def test_planned_disk_is_within_twice_what_a_finished_run_holds(tiny_run):
    """The planned bytes of every modelled job beside the bytes its output holds on disk (real run)."""
    p = plan_of(tiny_raw())
    rows = overview.experiment_rows(p, tiny_run)
    total = rows[-1]
    assert total["done"] == total["jobs"]
    assert 0.5 < total["planned_bytes"] / total["on_disk_bytes"] < 2.0, total


@pytest.mark.slow
def test_every_jobs_output_exists_after_a_finished_run(tiny_run):
    done = overview.done_jobs(jobs.workflow_jobs(plan_of(tiny_raw())), tiny_run)
    assert done == jobs.workflow_jobs(plan_of(tiny_raw()))
