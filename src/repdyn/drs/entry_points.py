"""The DRS jobs as the workflow runs them: read the artifact's spec.json, then run the stage.

Each function is one command of `python -m repdyn` (repdyn.cli.drs parses the arguments). The only
options that are not paths or epochs are the ones kept out of every id on purpose (the feature memory
budget, the plane-evaluation batch size).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from repdyn import plan
from repdyn.analysis import mean_offdiag
from repdyn.config import grids
from repdyn.storage import spec_files as artifacts
from repdyn.tiling.assembly import write_result
from repdyn.tiling.names import tile_epochs
from repdyn.tiling.parts import checkpoint_paths, parse_epochs


def make_planes(planes_dir: Path, out: str) -> None:
    """make_planes: the fixed dbViz plane set of a dataset artifact."""
    from repdyn.drs.planes_job import make_planes as make

    spec = artifacts.read_spec(planes_dir, "planes")
    data_id = spec["inputs"]["data"]
    make(
        plan.RESULTS / "data" / data_id / "dataset.h5",
        out,
        spec["settings"],
        {"planes": planes_dir.name, "data": data_id},
    )


def probe(probe_dir: Path, source: str, epochs_text: str, out: str, memory_budget_mb: int, device: str) -> None:
    """probe_segment: linear probes of every layer at one training segment's grid epochs."""
    from repdyn.drs.probe_job import probe_part

    spec = artifacts.read_spec(probe_dir, "probe")
    run_spec, dataset = artifacts.run_and_dataset(spec["inputs"]["run"])
    probe_part(
        run_spec["settings"],
        dataset,
        checkpoint_paths(source, parse_epochs(epochs_text)),
        out,
        spec["settings"],
        {"probe": probe_dir.name, "run": spec["inputs"]["run"]},
        memory_budget_bytes=memory_budget_mb * 2**20,
        device=device,
    )


def planes_eval(
    preds_dir: Path, probes: str, planes: str, source: str, epochs_text: str, out: str, batch_size: int, device: str
) -> None:
    """planes_eval: probe predictions on every plane point at one training segment's grid epochs."""
    from repdyn.drs.preds_job import preds_part

    spec = artifacts.read_spec(preds_dir, "preds")
    probe_spec = artifacts.read_spec(plan.RESULTS / "probe" / spec["inputs"]["probe"], "probe")
    run_spec, dataset = artifacts.run_and_dataset(probe_spec["inputs"]["run"])
    preds_part(
        run_spec["settings"],
        dataset,
        checkpoint_paths(source, parse_epochs(epochs_text)),
        probes,
        planes,
        out,
        {"preds": preds_dir.name, **spec["inputs"]},
        batch_size=batch_size,
        device=device,
        precision=spec["settings"].get("precision", "float32"),
    )


def tile(drs_dir: Path, name: str, rows: Sequence[str], cols: Sequence[str], out: str, device: str) -> None:
    """drs_tile: agreement counts of one block of the DRS matrices of all layers."""
    from repdyn.drs.tile_job import run_tile
    from repdyn.machine.devices import resolve_device

    grid = artifacts.read_spec(drs_dir, "drs")["settings"]["grid"]
    row_epochs, col_epochs, same_block = tile_epochs(grid, grid, name)
    run_tile(
        out,
        rows,
        cols,
        row_epochs,
        col_epochs,
        same_block,
        {"drs": drs_dir.name, "tile": name},
        device=str(resolve_device(device)),
    )


def assemble(
    drs_dir: Path, tiles: Sequence[str], shape: str, probe_parts: Sequence[str], metrics: str, title: str, out: str
) -> None:
    """drs_assemble: the whole matrices (Zarr), heatmaps, panels, probe error curves, summary.json."""
    from repdyn.drs.assemble_job import assemble as assemble_tiles
    from repdyn.drs.assemble_job import write_assembled
    from repdyn.drs.figures import drs_figures
    from repdyn.drs.store import ProbeParts
    from repdyn.train import phase_marks, read_metrics, training_phases

    spec = artifacts.read_spec(drs_dir, "drs")
    epochs = grids.epochs(spec["settings"]["grid"], plan.DrsArtifact.length_of(shape))
    counts, points = assemble_tiles(tiles, epochs)
    probes = ProbeParts(probe_parts)
    if probes.layers != list(counts):
        raise ValueError(f"probe layers {probes.layers} differ from the tiles' layers {list(counts)}")
    train_err, test_err = probes.errors(epochs)
    labels = dict(probes.parts[0].group.attrs["layer_labels"])
    rows = read_metrics([metrics])
    marks = phase_marks(training_phases(rows))
    matrices = {layer: c / points for layer, c in counts.items()}
    attrs = {
        "stage": "drs",
        "id": drs_dir.name,
        "experiments": title,
        "layer_labels": labels,
        "num_classes": probes.parts[0].num_classes,
        "inputs": spec["inputs"],
        "settings": spec["settings"],
    }

    def write(tmp: Path) -> None:
        write_assembled(tmp, counts, points, epochs, train_err, test_err, attrs)
        drs_figures(
            tmp,
            matrices,
            epochs,
            title=title,
            metrics_rows=rows,
            probe_test_err=test_err,
            layer_labels=labels,
            marks=marks,
        )

    write_result(
        out,
        write,
        {
            layer: {
                "min": float(m.min()),
                "mean_offdiag": None if math.isnan(mean := mean_offdiag(m)) else mean,
                "final_probe_test_err": float(test_err[-1, i]),
            }
            for i, (layer, m) in enumerate(matrices.items())
        },
    )
    print(json.dumps({"assembled": out, "layers": list(matrices), "points": points}))
