rule prepare_data:
    """Dataset artifact: images, clean and noisy labels, flipped indices, probe set (HDF5)."""
    input:
        spec=ancient("results/data/{id}/spec.json"),
    output:
        "results/data/{id}/dataset.h5",
    log:
        "logs/prepare_data/{id}.log",
    benchmark:
        "benchmarks/prepare_data/{id}.tsv"
    conda:
        "../../envs/repdyn.yaml"
    threads: 1
    resources:
        **repdyn.scheduling.resources.for_rule("prepare_data", PLAN, CONFIG.device),
    shell:
        "python -m repdyn prepare-data results/data/{wildcards.id} > {log} 2>&1"
