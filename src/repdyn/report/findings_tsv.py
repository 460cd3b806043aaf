"""How the findings are written: the table's columns, a row, a verdict's wording, numbers as mean (sd, n),
and reports/findings.tsv (the rules that fill the rows: repdyn.report.findings)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from repdyn.storage import atomic

COLUMNS = ("finding", "layer", "values", "comparison", "verdict", "experiments")


def finding_row(
    finding: str, layer: str, values: str, comparison: str, verdict: str, experiments: str
) -> dict[str, Any]:
    """One row of the table (COLUMNS)."""
    return {
        "finding": finding,
        "layer": layer,
        "values": values,
        "comparison": comparison,
        "verdict": verdict,
        "experiments": experiments,
    }


def verdict_text(holds: bool, seeds: int) -> str:
    """ "holds" or "does not hold", with how many seeds it rests on (one seed: a measurement)."""
    text = "holds" if holds else "does not hold"
    return f"{text} (one seed: a measurement)" if seeds < 2 else f"{text} ({seeds} seeds)"


def mean_sd(values: Sequence[float], signed: bool = False) -> str:
    """One value as is; several as their mean (sd, n), to three decimals."""
    fmt = "{:+.3f}" if signed else "{:.3f}"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.fmean(values))} (sd {statistics.stdev(values):.3f}, n {len(values)})"


def format_tsv(rows: Sequence[Mapping[str, Any]]) -> str:
    """reports/findings.tsv: a header and one line per row (tabs and newlines inside cells become spaces)."""

    def text(value: Any) -> str:
        return " ".join(str(value).split())

    return "\n".join(["\t".join(COLUMNS)] + ["\t".join(text(r[c]) for c in COLUMNS) for r in rows]) + "\n"


def write_tsv(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write reports/findings.tsv atomically."""
    atomic.write_text(path, format_tsv(rows))
