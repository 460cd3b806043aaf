# DRS: plane sets per dataset, per-segment probes and plane predictions, tiles of the epoch x epoch
# agreement, assembled matrices, heatmaps and probe error curves.
# Inputs that never change for their id are ancient(). The edges that carry a part's epochs are not
# (see train.smk): training segment -> probe part -> predictions part, and segment -> predictions part.
# Otherwise a job downstream of a rerun one would never have its params (epoch list) checked: a DRS
# grid that adds epochs to a probe part would rerun the probes but keep the old predictions part.
# Tiles read parts through ancient(), as CKA tiles do. Settings kept out of every id
# (probe.memory_budget_mb, drs.eval_batch_size) reach the jobs as resources: unlike params, resources
# never trigger a rerun.


rule make_planes:
    """P planes through three training images each (bases and grid coefficients, never points)."""
    input:
        unpack(from_plan("planes_inputs")),
    output:
        directory("results/planes/{id}/planes.zarr"),
    log:
        "logs/make_planes/{id}.log",
    benchmark:
        "benchmarks/make_planes/{id}.tsv"
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    resources:
        **repdyn.scheduling.resources.for_rule("make_planes", PLAN, CONFIG.device),
    shell:
        "python -m repdyn make-planes results/planes/{wildcards.id} --out {output} > {log} 2>&1"


rule probe_segment:
    """Linear probes of every analysed layer at the DRS-grid epochs of one training segment."""
    input:
        unpack(from_plan("probe_inputs")),
    output:
        directory("results/probe/{id}/{start}-{end}"),
    log:
        "logs/probe_segment/{id}/{start}-{end}.log",
    benchmark:
        "benchmarks/probe_segment/{id}/{start}-{end}.tsv"
    conda:
        "../../envs/repdyn.yaml"
    threads: CONFIG.threads
    resources:
        **repdyn.scheduling.resources.for_rule("probe_segment", PLAN, CONFIG.device),
        feature_budget=from_plan("probe_memory_budget"),
    params:
        epochs=from_plan("probe_epochs"),
    shell:
        "python -m repdyn probe results/probe/{wildcards.id} --source {input.source} --epochs={params.epochs}"
        " --out {output} --memory-budget-mb {resources.feature_budget} --threads {threads} > {log} 2>&1"


rule planes_eval:
    """Every plane point through the network at the DRS-grid epochs of one segment; every layer's probe applied."""
    input:
        unpack(from_plan("preds_inputs")),
    output:
        directory("results/preds/{id}/{start}-{end}"),
    log:
        "logs/planes_eval/{id}/{start}-{end}.log",
    benchmark:
        "benchmarks/planes_eval/{id}/{start}-{end}.tsv"
    conda:
        "../../envs/repdyn.yaml"
    threads: CONFIG.threads
    resources:
        **repdyn.scheduling.resources.for_rule("planes_eval", PLAN, CONFIG.device),
        eval_batch=from_plan("eval_batch"),
    params:
        epochs=from_plan("preds_epochs"),
    shell:
        "python -m repdyn planes-eval results/preds/{wildcards.id} --probes {input.probes} --planes {input.planes}"
        " --source {input.source} --epochs={params.epochs} --out {output} --batch-size {resources.eval_batch}"
        " --threads {threads} > {log} 2>&1"


rule drs_tile:
    """Exact agreement counts of one block x block tile of the DRS matrices of all layers."""
    input:
        unpack(from_plan("drs_tile_inputs")),
    output:
        directory("results/drs/{id}/tiles/{tile}"),
    log:
        "logs/drs_tile/{id}/{tile}.log",
    benchmark:
        "benchmarks/drs_tile/{id}/{tile}.tsv"
    wildcard_constraints:
        tile="[0-9]{6}-[0-9]{6}_[0-9]{6}-[0-9]{6}",
    conda:
        "../../envs/repdyn.yaml"
    threads: CONFIG.threads
    resources:
        **repdyn.scheduling.resources.for_rule("drs_tile", PLAN, CONFIG.device),
    shell:
        "python -m repdyn drs-tile results/drs/{wildcards.id} --tile {wildcards.tile}"
        " --rows {input.rows} --cols {input.cols} --out {output} --threads {threads} > {log} 2>&1"


rule drs_assemble:
    """The whole matrix per layer (Zarr), heatmaps, a panel with the error curves, the probe error curves."""
    input:
        unpack(from_plan("drs_assemble_inputs")),
    output:
        report(
            directory("results/drs/{id}/{shape}"),
            patterns=["{figure}.png"],
            caption="../report/drs.rst",
            category="DRS",
            subcategory="drs {id} {shape}",
            labels={"artifact": "drs/{id}/{shape}", "figure": "{figure}"},
        ),
    log:
        "logs/drs_assemble/{id}/{shape}.log",
    benchmark:
        "benchmarks/drs_assemble/{id}/{shape}.tsv"
    wildcard_constraints:
        shape="e[0-9]{6}",
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    resources:
        **repdyn.scheduling.resources.for_rule("drs_assemble", PLAN, CONFIG.device),
    params:
        title=from_plan("drs_title"),
    shell:
        "python -m repdyn drs-assemble results/drs/{wildcards.id} {input.tiles} --shape {wildcards.shape}"
        " --probes {input.probes} --metrics {input.metrics} --title {params.title:q} --out {output} > {log} 2>&1"
