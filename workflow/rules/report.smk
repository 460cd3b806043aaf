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
        report(
            directory("reports/experiments/{name}"),
            patterns=["figures/{figure}.png"],
            caption="../report/experiment.rst",
            category="Experiments",
            subcategory="{name}",
            labels={"experiment": "{name}", "figure": "{figure}"},
        ),
    log:
        "logs/report_experiment/{name}.log",
    benchmark:
        "benchmarks/report_experiment/{name}.tsv"
    wildcard_constraints:
        name="[A-Za-z0-9][A-Za-z0-9_.+=-]*",
    localrule: True
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    resources:
        **repdyn.scheduling.resources.for_rule("report_experiment", PLAN, CONFIG.device),
    params:
        args=from_plan("report_args"),
    shell:
        "python -m repdyn report-experiment {wildcards.name} {params.args} --out {output} > {log} 2>&1"


rule report_index:
    """reports/index.html over every experiment run here, reports/summary.tsv and the comparison figures."""
    input:
        PLAN.report_targets(),
    output:
        html="reports/index.html",
        summary=report(
            "reports/summary.tsv", caption="../report/summary.rst", category="Summary", labels={"table": "summary.tsv"}
        ),
        findings=report(
            "reports/findings.tsv",
            caption="../report/findings.rst",
            category="Summary",
            labels={"table": "findings.tsv"},
        ),
        compare=report(
            directory("reports/compare"),
            patterns=["{figure}.png"],
            caption="../report/compare.rst",
            category="Comparisons",
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/report_index.log",
    benchmark:
        "benchmarks/report_index.tsv"
    localrule: True
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    resources:
        **repdyn.scheduling.resources.for_rule("report_index", PLAN, CONFIG.device),
    params:
        earlier=EARLIER_REPORTS,
    shell:
        "python -m repdyn report-index {input} {params.earlier} --html {output.html} --summary {output.summary}"
        " --findings {output.findings} --compare {output.compare} > {log} 2>&1"
