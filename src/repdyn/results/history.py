"""Results that accumulate: the experiments every config run in this directory has recorded.

Why: results are content-addressed and never deleted by a later config, so their indexes must not be
either. results/index.json keeps the experiments of earlier configs beside the current config's (a name in
the current config replaces its earlier entry), and the report index lists every experiment whose report
page exists. Read at parse time: one small JSON file and one stat per earlier experiment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repdyn.plan.core import INDEX, REPORTS

REPORT_FILE = "report.json"


def recorded(path: str | Path = INDEX) -> dict[str, Any]:
    """The experiments results/index.json holds now (none when there is no index yet)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text())["experiments"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a results index ({exc}); delete it and rerun to rebuild it from the current config"
        ) from None


def merged_index(current: Mapping[str, Any], path: str | Path = INDEX) -> dict[str, Any]:
    """The current config's index (repdyn.plan.Plan.index) with the earlier experiments kept after it."""
    experiments = dict(current["experiments"])
    earlier = {name: entry for name, entry in recorded(path).items() if name not in experiments}
    return {**current, "experiments": {**experiments, **dict(sorted(earlier.items()))}}


def earlier_reports(index: Mapping[str, Any], current_names: set[str], reports: str | Path = REPORTS) -> list[str]:
    """Report directories of indexed experiments outside the current config whose page was written."""
    return [
        str(Path(reports) / "experiments" / name)
        for name in index["experiments"]
        if name not in current_names and (Path(reports) / "experiments" / name / REPORT_FILE).is_file()
    ]
