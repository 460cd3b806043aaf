# Reports: one static HTML page per experiment (reports/experiments/<name>/) and an index over all of
# them with the summary table and figures comparing experiments (reports/index.html). Reports are
# named by experiment, not by content: they are views of the content-addressed results, rebuilt
# whenever a result they show is rebuilt. The artifact specs are ancient() (they never change for an id).
# Both are local rules (WORKFLOW.md §8): on a cluster they run in the Snakemake process's node, not in
# the queue. Their resources (from the cost model) still tell what they need: at paper scale a report
# reads each layer's 4000 x 4000 matrices (128 MB) and draws downsampled heatmaps, about a minute.


def _report_experiment(wildcards):
    try:
        return PLAN.experiment(wildcards.name)
    except KeyError:
        raise WorkflowError(f"no experiment {wildcards.name!r} in the current config") from None


def report_inputs(wildcards):
    exp = _report_experiment(wildcards)
    out = {
        "data_spec": ancient(f"{exp.data.dir}/spec.json"),
        "run_spec": ancient(f"{exp.run.dir}/spec.json"),
        "metrics": str(exp.metrics),
        "phases": str(exp.phases),
    }
    if exp.cka is not None:
        out["cka"] = str(exp.cka.assembled_dir(exp.epochs, exp.epochs))
    if exp.drs is not None:
        out["drs"] = str(exp.drs.assembled_dir(exp.epochs))
        out["planes"] = ancient(str(exp.drs.preds.planes.store))
        out["preds"] = [ancient(d) for d in exp.drs.preds.dirs_for(exp.drs.epochs(exp.epochs))]
    for other, art in exp.cka_cross:
        out[f"cross_{other}"] = str(art.assembled_dir(exp.epochs, PLAN.experiment(other).epochs))
    return out


def report_args(wildcards):
    """The paths the report shows and the `report:` settings, as command-line options (params: a changed id or
    report setting reruns the report, and nothing else)."""
    exp = _report_experiment(wildcards)
    inputs = report_inputs(wildcards)
    args = [f"--data {exp.data.dir}", f"--run {exp.run.dir}", f"--metrics {exp.metrics}", f"--phases {exp.phases}"]
    args += [f"--{key} {inputs[key]}" for key in ("cka", "drs", "planes") if key in inputs]
    if "preds" in inputs:
        args.append("--preds " + " ".join(str(d) for d in inputs["preds"]))
    cross = [f"{other}={inputs[f'cross_{other}']}" for other, _ in exp.cka_cross]
    if cross:
        args.append("--cross " + " ".join(cross))
    if CONFIG.report["block_penalty"] is not None:
        args.append(f"--penalty {CONFIG.report['block_penalty']!r}")
    args.append(f"--init-tolerance {CONFIG.report['init_tolerance']!r}")
    return " ".join(args)


rule report_experiment:
    """One experiment's page: settings and ids, error curves, CKA/DRS panels, blocks, summary rows."""
    input:
        unpack(report_inputs),
    output:
        report(
            directory("reports/experiments/{name}"),
            patterns=["figures/{figure}.png"],
            caption="../report/experiment.rst",
            category="Experiments",
            subcategory="{name}",
            labels={"experiment": "{name}", "figure": "{figure}"},
        ),
    wildcard_constraints:
        name="[A-Za-z0-9][A-Za-z0-9_.+=-]*",
    params:
        args=report_args,
    log:
        "logs/report_experiment/{name}.log",
    benchmark:
        "benchmarks/report_experiment/{name}.tsv"
    localrule: True
    threads: 1
    resources:
        **repdyn.resources.for_rule("report_experiment", PLAN, CONFIG.device),
    conda:
        "../../envs/repdyn.yaml"
    shell:
        "python -m repdyn report-experiment {wildcards.name} {params.args} --out {output} > {log} 2>&1"


rule report_index:
    """reports/index.html over all experiments, reports/summary.tsv and the comparison figures."""
    input:
        [f"reports/experiments/{e.name}" for e in PLAN.experiments],
    output:
        html="reports/index.html",
        summary=report("reports/summary.tsv", caption="../report/summary.rst", category="Summary",
                       labels={"table": "summary.tsv"}),
        compare=report(directory("reports/compare"), patterns=["{figure}.png"], caption="../report/compare.rst",
                       category="Comparisons", labels={"figure": "{figure}"}),
    log:
        "logs/report_index.log",
    benchmark:
        "benchmarks/report_index.tsv"
    localrule: True
    threads: 1
    resources:
        **repdyn.resources.for_rule("report_index", PLAN, CONFIG.device),
    conda:
        "../../envs/repdyn.yaml"
    shell:
        "python -m repdyn report-index {input} --html {output.html} --summary {output.summary}"
        " --compare {output.compare} > {log} 2>&1"
