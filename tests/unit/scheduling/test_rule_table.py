"""The rule table (repdyn.scheduling.rule_table) against the workflow itself: rule names, threads and localrule."""

from __future__ import annotations

import re
import subprocess
import sys

from support import REPO

from repdyn.cost import model as cost
from repdyn.scheduling import jobs, resources
from repdyn.scheduling import rule_table as rules


def rule_blocks() -> dict[str, str]:
    """Rule name -> the text of its block, from the Snakefile and workflow/rules/*.smk."""
    blocks: dict[str, str] = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        parts = re.split(r"^rule (\w+):\n", path.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            blocks[name] = body.split("\n\n\n")[0]
    return blocks


def directive(body: str, name: str) -> str | None:
    m = re.search(rf"^    {name}: (.+)$", body, flags=re.M)
    return m.group(1).strip() if m else None


def test_table_names_the_rules_snakemake_lists(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--list-rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert listed == set(rules.NAMES)
    assert set(rule_blocks()) == listed


def test_table_threads_and_local_rules_match_the_rule_files():
    blocks = rule_blocks()
    for rule in rules.TABLE:
        body = blocks[rule.name]
        threads = directive(body, "threads")
        expected = "CONFIG.threads" if rule.threads == rules.CONFIG else str(rule.threads)
        assert (threads or "1") == expected, rule.name
        assert (directive(body, "localrule") == "True") == rule.local, rule.name
        uses_resources = f'repdyn.scheduling.resources.for_rule("{rule.name}"' in body
        assert uses_resources == (rule.work is not None), rule.name


def test_cost_resources_and_jobs_read_the_table():
    assert (
        resources.GPU_RULES
        == rules.GPU_RULES
        == {"init", "train_segment", "extract_segment", "probe_segment", "planes_eval"}
    )
    assert resources.CLUSTER_RULES == rules.MODELLED and jobs.RULES == rules.NAMES
    assert jobs.LOCAL_RULES == {
        "spec",
        "index",
        "run_metrics",
        "cka_layer_pairs",
        "choose_pairs",
        "twopoint_fit",
        "report_experiment",
        "report_index",
        "all",
    }
    assert rules.threads("cka_assemble", 8) == 1 and rules.threads("cka_tile", 8) == 8
    assert not (rules.GPU_RULES & rules.LOCAL_RULES)
    summary_stages = {rules.RULES[r].stage for r in rules.MODELLED}
    assert {"checkpoints", "grams", "cka tiles", "drs matrices", "reports"} <= summary_stages
    assert cost.job_work.__module__ == "repdyn.cost.model"


def test_the_spec_rule_takes_its_stages_from_the_format_versions():
    """The spec rule's stage wildcard is derived (common.smk's STAGES), never a second list of stage names."""
    from repdyn.storage.ids import FORMAT_VERSIONS

    assert directive(rule_blocks()["spec"].replace("\n        ", " "), "wildcard_constraints") == "stage=STAGES,"
    rule_text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    assert "|".join(FORMAT_VERSIONS) not in rule_text.replace('"|".join(repdyn.storage.ids.FORMAT_VERSIONS)', "")
    assert 'STAGES = "|".join(repdyn.storage.ids.FORMAT_VERSIONS)' in (REPO / "workflow/rules/common.smk").read_text()
