# Parse-time setup: resolve the config, compute every artifact id, export machine settings.
# Kept cheap (no torch, no file-system scans): it runs again inside every cluster job.

import json
import os

import yaml

from snakemake.exceptions import WorkflowError

import repdyn.analysis.events
import repdyn.config
import repdyn.results.history
import repdyn.storage.ids
import repdyn.config.overrides
import repdyn.plan
import repdyn.plan.inputs
import repdyn.scheduling.resources
import repdyn.scheduling.reruns
import repdyn.scheduling.targets
import repdyn.machine.settings

# A config given with --configfile replaces config.yaml instead of being merged into it
# (Snakemake would otherwise let a paper-scale config inherit the default experiment's
# small subset). `--config` still overrides either, typed by repdyn.config.overrides (Snakemake
# keeps every value a string and refuses dotted keys: `--config set='a.b.c=1; ...'`).
_raw = {k: v for k, v in config.items() if k != repdyn.config.overrides.SET_KEY}
if "experiments" not in _raw:
    _raw = repdyn.config.deep_merge(yaml.safe_load(open(os.path.join(workflow.basedir, "config.yaml"))), _raw)
try:
    _raw = repdyn.config.overrides.apply(_raw, workflow.config_settings.config)
    CONFIG = repdyn.config.resolve(_raw)
    PLAN = repdyn.plan.build(CONFIG)
except repdyn.config.ConfigError as exc:
    raise WorkflowError(f"repdyn config error: {exc}") from None

# Reruns by content, not file times: the default profile leaves mtime out of the rerun triggers, and this makes
# Snakemake honour that (repdyn.scheduling.reruns; docs/snakemake.md, "When Snakemake reruns a job").
repdyn.scheduling.reruns.honour_rerun_triggers(workflow)


# A run that ends without a requested output fails and names it (repdyn.scheduling.targets: Snakemake 9.27.1
# can skip jobs below an ancient() input whose producer reruns).
onsuccess:
    repdyn.scheduling.targets.require_built([(job.output, job.input) for job in workflow.dag.targetjobs])


repdyn.machine.settings.export(
    CONFIG.device,
    {i: d.machine for i, d in PLAN.data.items()},
    {i: r.machine for i, r in PLAN.runs.items() if r.imported},
)

# Results accumulate (repdyn.results.history): the index keeps the experiments of earlier configs run in this
# directory, and the report index lists their pages too. Snakemake reruns a job when its params change:
# the index is rewritten exactly when the set of experiments or their ids change.
try:
    INDEX = repdyn.results.history.merged_index(PLAN.index())
except ValueError as exc:
    raise WorkflowError(f"repdyn: {exc}") from None
INDEX_DIGEST = repdyn.storage.ids.spec_id(INDEX)
# The stages whose artifacts have a spec.json: every stage with a format version (rule spec's wildcard).
STAGES = "|".join(repdyn.storage.ids.FORMAT_VERSIONS)
EARLIER_REPORTS = repdyn.results.history.earlier_reports(INDEX, {e.name for e in PLAN.experiments})


wildcard_constraints:
    id="[0-9a-f]{12}",
    run="[0-9a-f]{12}",
    start="[0-9]{6}",
    end="[0-9]{6}",


def _for_snakemake(value):
    """repdyn.plan.inputs values as Snakemake wants them: an Ancient path (never changes for its id) is ancient()."""
    if isinstance(value, repdyn.plan.inputs.Ancient):
        return ancient(str(value))
    if isinstance(value, dict):
        return {k: _for_snakemake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_snakemake(v) for v in value]
    return value


def grams_output(path):
    """extract_segment's output; temp() under storage.grams: after_tiles, so that Snakemake deletes a part once
    every job of this run that reads it (its tiles) has finished; a later job that needs it reruns the
    extraction from the checkpoints (docs/storage.md)."""
    return temp(path) if CONFIG.storage["grams"] == "after_tiles" else path


def from_plan(name):
    """The input/params/resource function `name` of repdyn.plan.inputs, bound to this workflow's plan."""
    function = getattr(repdyn.plan.inputs, name)

    def of_wildcards(wildcards):
        try:
            return _for_snakemake(function(PLAN, dict(wildcards.items())))
        except KeyError as exc:
            raise WorkflowError(exc.args[0] if exc.args else repr(exc)) from None

    of_wildcards.__name__ = name
    return of_wildcards


def artifact_spec(stage, artifact_id):
    try:
        return PLAN.spec(stage, artifact_id)
    except KeyError:
        raise WorkflowError(f"no {stage} artifact {artifact_id} in the current config") from None
