# Rules that write the workflow's own records: each artifact's spec.json and results/index.json.
# Both run inside the Snakemake process (one small JSON file each); their logs say what was written.


rule spec:
    """spec.json: the settings and input ids an artifact's id is the hash of."""
    output:
        "results/{stage}/{id}/spec.json",
    log:
        "logs/spec/{stage}/{id}.log",
    benchmark:
        "benchmarks/spec/{stage}/{id}.tsv"
    wildcard_constraints:
        stage=STAGES,
    localrule: True
    run:
        import repdyn.storage.spec_files

        repdyn.storage.spec_files.write_spec(
            os.path.dirname(output[0]), artifact_spec(wildcards.stage, wildcards.id), log[0]
        )


rule index:
    """results/index.json: experiment names -> artifact ids and paths (earlier configs' kept: repdyn.results.history)."""
    output:
        "results/index.json",
    log:
        "logs/index.log",
    benchmark:
        "benchmarks/index.tsv"
    localrule: True
    params:
        digest=INDEX_DIGEST,
    run:
        import repdyn.storage.spec_files

        repdyn.storage.spec_files.write_index(output[0], INDEX, log[0])
