"""Reports a researcher reads: one static HTML page per experiment and an index over all of them.

    python -m repdyn report-experiment NAME --data ... --run ... --metrics ... --phases ... --out DIR
    python -m repdyn report-index reports/experiments/* --html reports/index.html ...

Modules: `inputs` (paths and readers), `analysis` (blocks, similarity to initialisation, mean
similarity per layer), `summary` (the per-experiment-and-layer table), `html` (page building
blocks), `experiment` (one experiment's measures, figures and report.json), `experiment_page` (its
HTML page), `index` (index page, summary and findings TSVs), `comparisons` (figures comparing experiments).
"""

from .experiment import ExperimentReport
from .index import build_index
from .inputs import ExperimentInputs
from .summary import COLUMNS

__all__ = ["COLUMNS", "ExperimentInputs", "ExperimentReport", "build_index"]
