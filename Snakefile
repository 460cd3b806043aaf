# repdyn: layer-wise representation dynamics over long training runs.
# Run the default experiment:  snakemake --cores 2
# On a cluster:                snakemake --profile slurm
# Another experiment file:     snakemake --cores 2 --configfile configs/x.yaml   (replaces config.yaml)

from snakemake.utils import min_version

min_version("9.0")

import os
import sys

# The rules run `python -m repdyn ...`: use the package next to this Snakefile, so the
# workflow and its code can never come from two different checkouts.
REPDYN_SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, REPDYN_SRC)

import repdyn.machine.settings

repdyn.machine.settings.export_source(REPDYN_SRC)


# `snakemake --report report.zip`: the figures and tables marked with report() in workflow/rules/*.smk
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/artifacts.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/cka.smk"
include: "workflow/rules/drs.smk"
include: "workflow/rules/twopoint.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        str(repdyn.plan.core.INDEX),
        PLAN.run_targets(),
        PLAN.cka_targets(),
        PLAN.drs_targets(),
        PLAN.twopoint_targets(),
        str(repdyn.plan.core.REPORT_INDEX),
        PLAN.report_targets(),
    localrule: True
