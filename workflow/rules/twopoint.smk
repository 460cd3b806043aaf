# Two-point dynamics: the fixed pairs of each dataset, and the fits of a run's pair observables.
# The extraction parts forward the pairs (cka.smk: twopoint.zarr beside grams.zarr); the fits read the parts
# through ancient(), as CKA tiles do. Both jobs are small and run in the Snakemake process (localrule).


rule choose_pairs:
    """Stratified training-set pairs of one dataset artifact (indices, pair type, clean and trained-on labels)."""
    input:
        unpack(from_plan("pairs_inputs")),
    output:
        "results/pairs/{id}/pairs.json",
    log:
        "logs/choose_pairs/{id}.log",
    benchmark:
        "benchmarks/choose_pairs/{id}.tsv"
    localrule: True
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    shell:
        "python -m repdyn choose-pairs results/pairs/{wildcards.id} --out {output} > {log} 2>&1"


rule twopoint_fit:
    """Invariant, per-phase drift, driven and late-slope fits per layer and pair, beside shuffled baselines."""
    input:
        unpack(from_plan("twopoint_inputs")),
    output:
        report(
            directory("results/twopoint/{id}/{shape}"),
            patterns=["{figure}.png"],
            caption="../report/twopoint.rst",
            category="Two-point",
            subcategory="{id} {shape}",
            labels={"artifact": "twopoint/{id}/{shape}", "figure": "{figure}"},
        ),
    log:
        "logs/twopoint_fit/{id}/{shape}.log",
    benchmark:
        "benchmarks/twopoint_fit/{id}/{shape}.tsv"
    wildcard_constraints:
        shape="e[0-9]{6}",
    localrule: True
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    shell:
        "python -m repdyn twopoint results/twopoint/{wildcards.id} {input.parts} --shape {wildcards.shape}"
        " --metrics {input.metrics} --out {output} > {log} 2>&1"
