# CKA: per-segment Gram extraction, tiles of the epoch x epoch matrix, assembled matrices and heatmaps.
# Inputs that never change for their id are ancient(); an extraction part follows its training
# segment (not ancient: see train.smk). Tiles read parts through ancient(): a part rerun for
# added epochs leaves the epochs a finished tile used unchanged.


def _extract(wildcards):
    return PLAN.extracts[wildcards.id]


def extract_inputs(wildcards):
    x = _extract(wildcards)
    start, end = int(wildcards.start), int(wildcards.end)
    return {
        "spec": ancient(f"results/extract/{x.id}/spec.json"),
        "run_spec": ancient(f"results/train/{x.run.id}/spec.json"),
        "data": ancient(str(PLAN.data[x.run.data_id].h5)),
        "source": str(x.part_source(start, end)),
    }


def extract_epochs(wildcards):
    """Params on purpose: a grid change that adds epochs to this part reruns exactly this part."""
    return ",".join(map(str, _extract(wildcards).part_epochs(int(wildcards.start), int(wildcards.end))))


def _cka(wildcards):
    art = PLAN.ckas.get(wildcards.id)
    if art is None or art.stage != wildcards.stage:
        raise WorkflowError(f"no {wildcards.stage} artifact {wildcards.id} in the current config")
    return art


def tile_inputs(wildcards):
    art = _cka(wildcards)
    rows, cols = art.tile_parts(repdyn.plan.cka.parse_tile(wildcards.tile))
    return {
        "spec": ancient(f"results/{art.stage}/{art.id}/spec.json"),
        "rows": [ancient(d) for d in rows],
        "cols": [ancient(d) for d in cols],
    }


def assemble_inputs(wildcards):
    art = _cka(wildcards)
    rows_length, cols_length = art.lengths_of(wildcards.shape)
    return {
        "spec": ancient(f"results/{art.stage}/{art.id}/spec.json"),
        "tiles": [str(art.tile_dir(t)) for t in art.tiles(rows_length, cols_length)],
        "metrics": ancient(str(art.rows.run.metrics_path(rows_length))),
    }


def assemble_title(wildcards):
    """Experiments whose results these are (several when they share the artifact)."""
    art = _cka(wildcards)
    names = [e.name for e in PLAN.experiments if e.cka is art and str(art.assembled_dir(e.epochs, e.epochs)).endswith(wildcards.shape)]
    names += [f"{e.name} vs {other}" for e in PLAN.experiments for other, a in e.cka_cross if a is art]
    return ", ".join(names)


rule extract_segment:
    """Probe-set Grams of every analysed layer at the CKA-grid epochs of one training segment."""
    input:
        unpack(extract_inputs),
    output:
        directory("results/extract/{id}/{start}-{end}"),
    params:
        epochs=extract_epochs,
    log:
        "logs/extract_segment/{id}/{start}-{end}.log",
    benchmark:
        "benchmarks/extract_segment/{id}/{start}-{end}.tsv"
    threads: CONFIG.threads
    resources:
        **repdyn.resources.for_rule("extract_segment", PLAN, CONFIG.device),
    conda:
        "../../envs/repdyn.yaml"
    shell:
        "python -m repdyn extract results/extract/{wildcards.id} --source {input.source} --epochs={params.epochs}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule cka_tile:
    """One block x block tile of the CKA matrices of all layers."""
    input:
        unpack(tile_inputs),
    output:
        directory("results/{stage}/{id}/tiles/{tile}"),
    wildcard_constraints:
        stage="cka|cka_cross",
        tile="[0-9]{6}-[0-9]{6}_[0-9]{6}-[0-9]{6}",
    log:
        "logs/{stage}_tile/{id}/{tile}.log",
    benchmark:
        "benchmarks/{stage}_tile/{id}/{tile}.tsv"
    threads: CONFIG.threads
    resources:
        **repdyn.resources.for_rule("cka_tile", PLAN, CONFIG.device),
    conda:
        "../../envs/repdyn.yaml"
    shell:
        "python -m repdyn cka-tile results/{wildcards.stage}/{wildcards.id} --tile {wildcards.tile}"
        " --rows {input.rows} --cols {input.cols} --out {output} --threads {threads} > {log} 2>&1"


rule cka_assemble:
    """The whole matrix per layer (Zarr), heatmaps per layer and a panel with the error curves."""
    input:
        unpack(assemble_inputs),
    output:
        report(
            directory("results/{stage}/{id}/{shape}"),
            patterns=["{figure}.png"],
            caption="../report/cka.rst",
            category="CKA",
            subcategory="{stage} {id} {shape}",
            labels={"artifact": "{stage}/{id}/{shape}", "figure": "{figure}"},
        ),
    wildcard_constraints:
        stage="cka|cka_cross",
        shape="e[0-9]{6}(x[0-9]{6})?",
    params:
        title=assemble_title,
    log:
        "logs/{stage}_assemble/{id}/{shape}.log",
    benchmark:
        "benchmarks/{stage}_assemble/{id}/{shape}.tsv"
    threads: 1
    resources:
        **repdyn.resources.for_rule("cka_assemble", PLAN, CONFIG.device),
    conda:
        "../../envs/repdyn.yaml"
    shell:
        "python -m repdyn cka-assemble results/{wildcards.stage}/{wildcards.id} {input.tiles} --shape {wildcards.shape}"
        " --metrics {input.metrics} --title {params.title:q} --out {output} > {log} 2>&1"
