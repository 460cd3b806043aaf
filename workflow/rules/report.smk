# Reports: one static HTML page per experiment (reports/experiments/<name>/) and an index over all of
# them with the summary table and figures comparing experiments (reports/index.html). Reports are
# named by experiment, not by content: they are views of the content-addressed results, rebuilt
# whenever a result they show is rebuilt. The artifact specs are ancient() (they never change for an id).
# Both are local rules (docs/snakemake.md, "Conventions"): on a cluster they run in the Snakemake process's node, not in
# the queue. Their resources (from the cost model) still tell what they need: at paper scale a report
# reads each layer's 4000 x 4000 matrices (128 MB) and draws downsampled heatmaps, about a minute.


rule report_experiment:
    """One experiment's page: settings and ids, error curves, CKA/DRS panels, blocks, summary rows."""
    input:
        unpack(from_plan("report_inputs")),
    output:
        directory("reports/experiments/{name}"),
    wildcard_constraints:
        name="[A-Za-z0-9][A-Za-z0-9_.+=-]*",
    params:
        args=from_plan("report_args"),
    log:
        "logs/report_experiment/{name}.log",
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
        PLAN.report_targets(),
    output:
        html="reports/index.html",
        summary="reports/summary.tsv",
        compare=directory("reports/compare"),
    log:
        "logs/report_index.log",
    localrule: True
    threads: 1
    resources:
        **repdyn.resources.for_rule("report_index", PLAN, CONFIG.device),
    conda:
        "../../envs/repdyn.yaml"
    shell:
        "python -m repdyn report-index {input} --html {output.html} --summary {output.summary}"
        " --compare {output.compare} > {log} 2>&1"
