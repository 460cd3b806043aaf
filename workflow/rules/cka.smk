# CKA: per-segment Gram extraction, tiles of the epoch x epoch matrix, assembled matrices and heatmaps.
# Inputs that never change for their id are ancient(); an extraction part follows its training
# segment (not ancient: see train.smk). Tiles read parts through ancient(): a part rerun for
# added epochs leaves the epochs a finished tile used unchanged.


rule extract_segment:
    """Probe-set Grams of every analysed layer at the CKA-grid epochs of one training segment."""
    input:
        unpack(from_plan("extract_inputs")),
    output:
        grams_output(directory("results/extract/{id}/{start}-{end}")),
    log:
        "logs/extract_segment/{id}/{start}-{end}.log",
    benchmark:
        "benchmarks/extract_segment/{id}/{start}-{end}.tsv"
    conda:
        "../../envs/repdyn.yaml"
    threads: CONFIG.threads
    resources:
        **repdyn.scheduling.resources.for_rule("extract_segment", PLAN, CONFIG.device),
    params:
        epochs=from_plan("extract_epochs"),
    shell:
        "python -m repdyn extract results/extract/{wildcards.id} --source {input.source} --epochs={params.epochs}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule cka_tile:
    """One block x block tile of the CKA matrices of all layers."""
    input:
        unpack(from_plan("cka_tile_inputs")),
    output:
        directory("results/{stage}/{id}/tiles/{tile}"),
    log:
        "logs/{stage}_tile/{id}/{tile}.log",
    benchmark:
        "benchmarks/{stage}_tile/{id}/{tile}.tsv"
    wildcard_constraints:
        stage="cka|cka_cross",
        tile="[0-9]{6}-[0-9]{6}_[0-9]{6}-[0-9]{6}",
    conda:
        "../../envs/repdyn.yaml"
    threads: CONFIG.threads
    resources:
        **repdyn.scheduling.resources.for_rule("cka_tile", PLAN, CONFIG.device),
    shell:
        "python -m repdyn cka-tile results/{wildcards.stage}/{wildcards.id} --tile {wildcards.tile}"
        " --rows {input.rows} --cols {input.cols} --out {output} --threads {threads} > {log} 2>&1"


rule cka_assemble:
    """The whole matrix per layer (Zarr), heatmaps per layer and a panel with the error curves."""
    input:
        unpack(from_plan("cka_assemble_inputs")),
    output:
        report(
            directory("results/{stage}/{id}/{shape}"),
            patterns=["{figure}.png"],
            caption="../report/cka.rst",
            category="CKA",
            subcategory="{stage} {id} {shape}",
            labels={"artifact": "{stage}/{id}/{shape}", "figure": "{figure}"},
        ),
    log:
        "logs/{stage}_assemble/{id}/{shape}.log",
    benchmark:
        "benchmarks/{stage}_assemble/{id}/{shape}.tsv"
    wildcard_constraints:
        stage="cka|cka_cross",
        shape="e[0-9]{6}(x[0-9]{6})?",
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    resources:
        **repdyn.scheduling.resources.for_rule("cka_assemble", PLAN, CONFIG.device),
    params:
        title=from_plan("cka_title"),
    shell:
        "python -m repdyn cka-assemble results/{wildcards.stage}/{wildcards.id} {input.tiles} --shape {wildcards.shape}"
        " --metrics {input.metrics} --title {params.title:q} --out {output} > {log} 2>&1"


rule cka_layer_pairs:
    """Layers x layers CKA at one grid epoch (cka.layer_pairs_at), from the extraction part holding it."""
    input:
        unpack(from_plan("layer_pairs_inputs")),
    output:
        directory("results/cka/{id}/layers/e{epoch}"),
    log:
        "logs/cka_layer_pairs/{id}/e{epoch}.log",
    benchmark:
        "benchmarks/cka_layer_pairs/{id}/e{epoch}.tsv"
    wildcard_constraints:
        epoch="[0-9]{6}",
    localrule: True
    conda:
        "../../envs/repdyn.yaml"
    shell:
        "python -m repdyn cka-layer-pairs results/cka/{wildcards.id} --epoch {wildcards.epoch} --parts {input.parts}"
        " --out {output} > {log} 2>&1"
