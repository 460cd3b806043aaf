"""From a resolved config to the artifacts the workflow builds, their ids and paths.

Torch-free and file-system-free on purpose: the Snakefile calls this at parse
time, and Snakemake parses the Snakefile again inside every cluster job.
`core` holds the Plan and the data and training artifacts, `runs` plans data and training; `twopoint` the
pairs of each dataset (before extraction, which forwards them) and the two-point fits; `cka` plans extraction
and CKA matrices; `drs` plans planes, probes, plane predictions and DRS matrices.
"""

from repdyn.config import Config
from repdyn.plan import cka, drs, runs, twopoint
from repdyn.plan.cka import CkaArtifact, ExtractArtifact
from repdyn.plan.core import RESULTS, DataArtifact, ExperimentPlan, Plan, RunArtifact
from repdyn.plan.drs import DrsArtifact, PlanesArtifact, PredsArtifact, ProbeArtifact
from repdyn.plan.twopoint import PairsArtifact, TwopointArtifact


def build(config: Config) -> Plan:
    """Every artifact of every experiment, from data to assembled similarity matrices."""
    return twopoint.attach(drs.attach(cka.attach(twopoint.attach_pairs(runs.build(config)))))


__all__ = [
    "RESULTS",
    "CkaArtifact",
    "DataArtifact",
    "DrsArtifact",
    "ExperimentPlan",
    "ExtractArtifact",
    "Plan",
    "PairsArtifact",
    "PlanesArtifact",
    "PredsArtifact",
    "ProbeArtifact",
    "RunArtifact",
    "TwopointArtifact",
    "build",
]
