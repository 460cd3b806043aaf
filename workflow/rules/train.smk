# Training as a chain of resumable segments.
#
# ancient() marks inputs whose content never changes for a given id (spec.json, the dataset):
# they must not trigger reruns by their modification time. The edges that carry checkpoints
# (segment -> next segment, segment -> extraction) are deliberately NOT ancient: when a job must
# rerun, Snakemake 9 skips the params/input checks of everything downstream of it and revisits
# only jobs reached through non-ancient edges (snakemake/dag.py, update_needrun). With ancient
# edges, a grid change that adds checkpoints to several segments would rerun only the first.
# The price: new checkpoints in segment k retrain k and every later segment (bit-identical).


rule init:
    """Epoch 0: the network from the run's seed, its checkpoint and resume state."""
    input:
        unpack(from_plan("train_inputs")),
    output:
        directory("results/train/{run}/init"),
    log:
        "logs/init/{run}.log",
    benchmark:
        "benchmarks/init/{run}.tsv"
    conda:
        "../../envs/repdyn.yaml"
    threads: CONFIG.threads
    resources:
        **repdyn.scheduling.resources.for_rule("init", PLAN, CONFIG.device),
    shell:
        "python -m repdyn init results/train/{wildcards.run} --out {output} --threads {threads} > {log} 2>&1"


rule train_segment:
    """Epochs (start, end]: checkpoints of the grid epochs inside, resume state at end, metrics."""
    input:
        unpack(from_plan("segment_inputs")),
    output:
        directory("results/train/{run}/segments/{start}-{end}"),
    log:
        "logs/train_segment/{run}/{start}-{end}.log",
    benchmark:
        "benchmarks/train_segment/{run}/{start}-{end}.tsv"
    conda:
        "../../envs/repdyn.yaml"
    threads: CONFIG.threads
    resources:
        **repdyn.scheduling.resources.for_rule("train_segment", PLAN, CONFIG.device),
    params:
        checkpoints=from_plan("segment_checkpoints"),
    shell:
        "python -m repdyn train-segment results/train/{wildcards.run} --start {wildcards.start} --end {wildcards.end}"
        " --state {input.state} --checkpoints={params.checkpoints} --out {output} --threads {threads} > {log} 2>&1"


rule run_metrics:
    """Per-epoch metrics through an experiment's length, perfect-fitting epoch and test-error peak."""
    input:
        from_plan("metrics_inputs"),
    output:
        tsv=report(
            "results/train/{run}/metrics/e{end}.tsv",
            caption="../report/metrics.rst",
            category="Training",
            labels={"run": "{run}", "through epoch": "{end}", "table": "metrics"},
        ),
        phases="results/train/{run}/metrics/e{end}.phases.json",
    log:
        "logs/run_metrics/{run}/e{end}.log",
    benchmark:
        "benchmarks/run_metrics/{run}/e{end}.tsv"
    localrule: True
    conda:
        "../../envs/repdyn.yaml"
    params:
        rules=repdyn.analysis.events.RULES_VERSION,  # new event rules rewrite phases.json, not the run
    shell:
        "python -m repdyn metrics {input} --end {wildcards.end} --out {output.tsv} --phases {output.phases} > {log} 2>&1"
