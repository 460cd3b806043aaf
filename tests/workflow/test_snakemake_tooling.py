"""The workflow as Snakemake's own tools see it: `--lint` finds nothing, every job rule has a benchmark,
and `--report report.zip` carries the results (figures with captions and categories, the tables).

Lint and the rule check read the workflow only (seconds); the report is built from the session's real
tiny run (`reported_run`: three experiments through their reports).
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import REPO
from support.workflow import snakemake

# Lint findings allowed, each with its reason: (file or rule, title) -> why it stays. Empty: the rule files hold
# only rules. The test fails on a stale entry, so an entry goes as soon as its finding is gone.
LINT_EXCEPTIONS: dict[tuple[str, str], str] = {}


def lint_findings(text: str) -> set[tuple[str, str]]:
    """{(snakefile relative to the repository, or 'rule <name>'), title} from `snakemake --lint` text output."""
    findings, subject = set(), None
    for line in text.splitlines():
        if line.startswith("Lints for snakefile "):
            subject = str(Path(line[len("Lints for snakefile ") :].rstrip(":")).resolve().relative_to(REPO))
        elif line.startswith("Lints for rule "):
            subject = "rule " + line[len("Lints for rule ") :].split()[0]
        elif line.startswith("    * ") and subject is not None:
            findings.add((subject, line[len("    * ") :].rstrip(":")))
    return findings


def test_lint_findings_are_parsed_from_snakemakes_text():
    text = (
        f"Lints for snakefile {REPO}/workflow/rules/cka.smk:\n    * Mixed rules and functions in same snakefile.:\n"
        "      Small one-liner functions ...\n"
        "Lints for rule spec (line 5, /x/common.smk):\n    * No log directive defined:\n      Without ...\n"
    )
    assert lint_findings(text) == {
        ("workflow/rules/cka.smk", "Mixed rules and functions in same snakefile."),
        ("rule spec", "No log directive defined"),
    }


def test_snakemake_lint_finds_nothing_unexplained(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config.yaml"),
            "--lint",
        ],
        capture_output=True,
        text=True,
    )
    findings = lint_findings(proc.stdout + proc.stderr)
    unexplained = findings - set(LINT_EXCEPTIONS)
    assert not unexplained, f"snakemake --lint: {sorted(unexplained)}\n{proc.stderr[-3000:]}"
    stale = set(LINT_EXCEPTIONS) - findings
    assert not stale, f"remove from LINT_EXCEPTIONS, the finding is gone: {sorted(stale)}"
    assert (proc.returncode == 0) == (not findings)


def rule_blocks() -> dict[str, str]:
    """rule name -> its text, from the Snakefile and workflow/rules/*.smk."""
    blocks = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        parts = re.split(r"^rule (\w+):\n", path.read_text(), flags=re.M)
        blocks.update(
            {name: re.split(r"^\S", body, maxsplit=1, flags=re.M)[0] for name, body in zip(parts[1::2], parts[2::2])}
        )
    return blocks


def test_every_job_rule_declares_a_benchmark_and_a_log():
    blocks = rule_blocks()
    assert {"spec", "train_segment", "cka_assemble", "drs_assemble", "report_index"} <= set(blocks)
    jobs = {name: body for name, body in blocks.items() if name != "all"}
    assert not [n for n, body in jobs.items() if "    benchmark:\n" not in body], "rules without a benchmark"
    assert not [n for n, body in jobs.items() if "    log:\n" not in body], "rules without a log"


@pytest.mark.slow
def test_every_job_of_a_real_run_left_a_benchmark(reported_run):
    work, _ = reported_run
    ran = {p.name for p in (work / "logs").iterdir()}
    assert {"spec", "train_segment", "cka_assemble", "cka_cross_tile", "drs_tile"} <= {
        p.removesuffix(".log") for p in ran
    }
    for name in ran:
        stem = name.removesuffix(".log")
        assert list((work / "benchmarks").glob(f"{stem}*")), f"no benchmarks/{stem} beside logs/{name}"


@pytest.mark.slow
def test_snakemake_report_carries_figures_and_tables(reported_run, tmp_path):
    work, cfg = reported_run
    out = tmp_path / "report.zip"
    snakemake(work, cfg, "--report", str(out))
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        html = next(archive.read(n) for n in names if n.endswith("report.html")).decode()
    files = [n for n in names if "/data/raw/" in n or n.endswith((".png", ".tsv"))]
    basenames = {Path(n).name for n in files}
    for figure in (
        "errors.png",
        "cka_panel.png",
        "drs_panel.png",
        "drs_probe_errors.png",
        "cka_blocks.png",
        "drs_regions_plane0.png",
        "panel.png",
        "probe_errors.png",
        "layer4.png",
        "cka_conv1.png",
    ):
        assert figure in basenames, (figure, sorted(basenames))
    assert "summary.tsv" in basenames and "e000002.tsv" in basenames
    for category in ("Experiments", "CKA", "DRS", "Training", "Summary", "Comparisons"):
        assert category in html, category
    assert "decision regions" in html  # the captions are rendered into the report
