"""The extraction job's entry point: read the artifact's spec.json, then extract one training segment.

The function is the `python -m repdyn extract-segment` command (repdyn.cli.extract parses the arguments);
settings come from the spec, so the rule's shell text holds only paths and epochs, and the job can be rerun
by hand.
"""

from __future__ import annotations

from pathlib import Path

from repdyn import plan
from repdyn.storage import spec_files as artifacts
from repdyn.tiling.parts import checkpoint_paths, parse_epochs


def extract(extract_dir: Path, source: str, epochs_text: str, out: str, device: str) -> None:
    """extract_segment: the Grams (and the recorded pairs' observables) of one training segment's grid epochs."""
    from repdyn.extract.job import extract_part
    from repdyn.twopoint.record import read_pairs

    spec = artifacts.read_spec(extract_dir, "extract")
    run_spec, dataset = artifacts.run_and_dataset(spec["inputs"]["run"])
    checkpoints = checkpoint_paths(source, parse_epochs(epochs_text))
    pairs_id = spec["inputs"].get("pairs")  # a spec without a pairs input records no pairs
    pairs = read_pairs(plan.RESULTS / "pairs" / pairs_id / plan.twopoint.PAIRS_FILE) if pairs_id else None
    extract_part(
        run_spec["settings"],
        dataset,
        checkpoints,
        out,
        spec["settings"],
        {"extract": extract_dir.name, **spec["inputs"]},
        device=device,
        pairs=pairs,
    )
