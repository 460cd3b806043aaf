"""What a change recomputes, checked row by row against docs/config.md's table with real `snakemake -n` runs on
a copy of the session's finished tiny run; reruns decided by content (a `cp -r` copy or a touched tree plans
nothing, locally and with the SLURM profile); results of a second config accumulate beside the first's."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from support import REPO
from support.configs import tiny_raw
from support.workflow import copy_run, job_counts, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.slow

TABLE = REPO / "docs" / "config.md"


def documented() -> dict[str, set[str]]:
    """Row's change (first cell) -> the rules its last column names ('none': no job)."""
    text = TABLE.read_text().split("## What is recomputed when you change something", 1)[1]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("change", "---"):
            rows[cells[0]] = set(re.findall(r"`([a-z_]+)`", cells[2]))
    return rows


def rules_of(planned: dict[str, int]) -> set[str]:
    return set(planned) - {"all"}


def with_defaults(**sections) -> dict:
    raw = tiny_raw()
    for section, values in sections.items():
        raw["defaults"].setdefault(section, {}).update(values)
    return raw


# row (as in docs/config.md) -> the config that makes the change, starting from tiny_raw's finished run
CONFIG_CHANGES = {
    "`train.epochs` longer": lambda: tiny_raw(epochs=6),
    "a `cka` setting (estimator, accumulation, block)": lambda: with_defaults(cka={"estimator": "minibatch_biased"}),
    "`report.block_penalty`, `report.init_tolerance`": lambda: {**tiny_raw(), "report": {"block_penalty": 0.5}},
    "a plane setting (`drs.planes`, `resolution`, `range_l/r`, `triplet_labels`, `seed`)": lambda: with_defaults(
        drs={"planes": 2}
    ),
    "a `probe` setting (epochs, min_steps, lr, batch size, labels, pooling, seed)": lambda: with_defaults(
        probe={"lr": 3e-4}
    ),
    "`drs.block`": lambda: with_defaults(drs={"block": 3}),
    "`drs.precision`": lambda: with_defaults(drs={"precision": "bf16"}),
    "a `twopoint` setting (`pairs_per_type`, `seed`)": lambda: with_defaults(twopoint={"seed": 1}),
    "`device`, `threads`, `data.root`, `probe.memory_budget_mb`, `drs.eval_batch_size`, `storage.grams`": lambda: {
        **with_defaults(probe={"memory_budget_mb": 64}, drs={"eval_batch_size": 7}),
        "threads": 2,
        "storage": {"grams": "after_tiles"},
    },
    "nothing": tiny_raw,
}
# rows whose change is to the files, on the unchanged config (each undone after its dry run)
FILE_CHANGES = ("a deleted tile directory", "a deleted report page (`reports/experiments/<name>`)")
# rows checked by their own tests below or elsewhere
OWN_TESTS = {
    "the results tree copied with `cp -r` (file times not kept) or touched": "test_a_copied_tree_plans_nothing",
    "a second config with other experiments, run in the same directory": "test_a_second_config_joins_the_first",
    "a grid that needs checkpoints training did not save": (
        "tests/workflow/test_cka.py::test_denser_grid_retrains_from_the_first_segment_that_needs_checkpoints"
    ),
    "a new version of the event rules (`repdyn.analysis.events.RULES_VERSION`, a param of `run_metrics`)": (
        "test_new_event_rules_rewrite_the_metrics_not_the_run"
    ),
}


@pytest.fixture(scope="module")
def work(tiny_run, tmp_path_factory) -> Path:
    return copy_run(tiny_run, tmp_path_factory.mktemp("recompute") / "w")


def test_every_row_of_the_table_has_a_check():
    assert set(documented()) == set(CONFIG_CHANGES) | set(FILE_CHANGES) | set(OWN_TESTS)


@pytest.mark.parametrize("change", list(CONFIG_CHANGES))
def test_a_changed_setting_reruns_what_the_table_says(work, change):
    cfg = write_config(work, CONFIG_CHANGES[change](), "changed.yaml")
    assert rules_of(planned_jobs(work, cfg)) == documented()[change]


def test_deleted_files_rerun_what_the_table_says(work):
    cfg = work / "config.yaml"
    index = json.loads((work / "results" / "index.json").read_text())["experiments"]["tiny"]
    tile = next((work / index["cka"]["assembled"]).parent.joinpath("tiles").iterdir())
    for change, path in zip(FILE_CHANGES, (tile, work / "reports" / "experiments" / "tiny")):
        aside = path.with_name(path.name + ".aside")
        path.rename(aside)
        try:
            assert rules_of(planned_jobs(work, cfg)) == documented()[change], change
        finally:
            aside.rename(path)
    assert planned_jobs(work, cfg) == {}


def test_a_copied_tree_plans_nothing(tiny_run, tmp_path):
    """`cp -r`: every file gets the time of the copy, in the copy's order; then inputs touched later still."""
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy, copy_function=shutil.copyfile)  # contents only, no times
    later = time.time() + 60
    for path in (copy / "results" / "data").rglob("dataset.h5"):
        os.utime(path, (later, later))  # the first input of everything, newer than every output
    cfg = copy / "config.yaml"
    assert planned_jobs(copy, cfg) == {}
    assert planned_jobs(copy, cfg, "--profile", str(REPO / "workflow" / "profiles" / "slurm")) == {}
    # the content still decides: a changed setting on the copy reruns as on the original
    longer = write_config(copy, tiny_raw(epochs=6), "longer.yaml")
    assert rules_of(planned_jobs(copy, longer)) == documented()["`train.epochs` longer"]


def test_a_second_config_joins_the_first(tiny_run, tmp_path):
    work = copy_run(tiny_run, tmp_path / "w")
    second = tiny_raw()
    second["experiments"] = [{"name": "tiny-again"}]  # shares every result with `tiny`: only views are new
    cfg = write_config(work, second, "second.yaml")
    change = "a second config with other experiments, run in the same directory"
    assert rules_of(planned_jobs(work, cfg)) == documented()[change]
    snakemake(work, cfg)
    index = json.loads((work / "results" / "index.json").read_text())["experiments"]
    assert set(index) == {"tiny", "tiny-again"}
    page = (work / "reports" / "index.html").read_text()
    assert 'href="experiments/tiny/index.html"' in page and 'href="experiments/tiny-again/index.html"' in page
    summary = (work / "reports" / "summary.tsv").read_text().splitlines()
    assert {line.split("\t")[0] for line in summary[1:]} == {"tiny", "tiny-again"}
    # back to the first config: once its views are redrawn it plans nothing, and the second is still listed
    first = work / "config.yaml"
    snakemake(work, first)
    assert planned_jobs(work, first) == {}
    assert 'href="experiments/tiny-again/index.html"' in (work / "reports" / "index.html").read_text()


def test_new_event_rules_rewrite_the_metrics_not_the_run(tiny_run, tmp_path):
    """A checkout whose event rules have a new version, on a copy of the finished run: metrics and reports only."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for part in ("Snakefile", "workflow", "src", "profiles"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, checkout / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, checkout / part)
    events = checkout / "src" / "repdyn" / "analysis" / "events.py"
    text, count = re.subn(
        r"^RULES_VERSION = (\d+)$", lambda m: f"RULES_VERSION = {int(m.group(1)) + 1}", events.read_text(), flags=re.M
    )
    assert count == 1
    events.write_text(text)
    work = copy_run(tiny_run, tmp_path / "w")
    proc = snakemake(work, work / "config.yaml", "-n", "--quiet", "rules", "-s", str(checkout / "Snakefile"))
    change = "a new version of the event rules (`repdyn.analysis.events.RULES_VERSION`, a param of `run_metrics`)"
    assert rules_of(job_counts(proc.stdout + proc.stderr)) == documented()[change]
