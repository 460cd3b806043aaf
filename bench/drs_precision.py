"""What `drs.precision: bf16` changes on a finished experiment: plane predictions and DRS matrices vs float32.

    python bench/drs_precision.py --results RESULTS_DIR [--experiment NAME] [--precision bf16] [--also-float32]

Reads a finished experiment from RESULTS_DIR (the `results/` of a float32 run: index.json, checkpoints,
probes, planes, plane predictions and assembled DRS matrices; nothing there is written), re-evaluates the
plane points at every DRS-grid epoch with the same checkpoints and stored probes in --precision through
`repdyn.drs.predict_planes` (what the plane-evaluation job runs), and prints per layer:
- the fraction of (epoch, plane point) predictions whose class differs from the stored float32 one;
- the largest |DRS_precision - DRS_float32| over all entries of the layer's epoch x epoch matrix, both
  computed by `repdyn.drs.drs_matrix` on the same points (with all planes, the stored predictions are first
  checked to reproduce the stored matrices).
--planes K uses the first K planes only (a loaded machine); --also-float32 does the same for this checkout's
float32 path (channels_last, batches spanning planes), which may differ from the stored run only where two
logits tie to float32 rounding.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # benchmark the checkout it ships with

from repdyn.data import DatasetArtifact  # noqa: E402
from repdyn.drs.agreement import drs_matrix, predict_planes  # noqa: E402
from repdyn.drs.planes import PlaneSet  # noqa: E402
from repdyn.drs.preds_job import autocast_dtype_of  # noqa: E402
from repdyn.drs.store import PredsParts, ProbeParts, open_drs, read_planes  # noqa: E402
from repdyn.machine import settings as runtime
from repdyn.storage import spec_files as artifacts  # noqa: E402
from repdyn.train import load_checkpoint_model  # noqa: E402


def checkpoint_of(run_dir: Path, epoch: int) -> Path:
    """The stored checkpoint of `epoch` (init or any segment)."""
    found = sorted(run_dir.glob(f"**/checkpoints/e{epoch:06d}.pt"))
    if not found:
        raise FileNotFoundError(f"{run_dir}: no checkpoint of epoch {epoch} (deleted by retention?)")
    return found[0]


def plane_subset(plane_set: PlaneSet, planes: int | None) -> PlaneSet:
    """The first `planes` planes (all when None): a smaller, still exact, measurement on a loaded machine."""
    if planes is None or planes >= plane_set.num_planes:
        return plane_set
    keep = slice(0, planes)
    return dataclasses.replace(
        plane_set,
        indices=plane_set.indices[keep],
        anchors=plane_set.anchors[keep],
        direction1=plane_set.direction1[keep],
        direction2=plane_set.direction2[keep],
        anchor_coords=plane_set.anchor_coords[keep],
        coefs=plane_set.coefs[keep],
    )


def reevaluate(
    results: Path, entry: dict, precision: str, batch_size: int, plane_set: PlaneSet, epochs: list[int]
) -> dict[str, np.ndarray]:
    """{layer: uint8 (E, points)}: the stored probes of every grid epoch on `plane_set`, network in `precision`."""
    probe_root = results / "probe" / entry["probe"]
    run_id = artifacts.read_spec(probe_root, "probe")["inputs"]["run"]
    run_spec = artifacts.read_spec(results / "train" / run_id, "train")
    dataset = DatasetArtifact.load(results / "data" / run_spec["inputs"]["data"] / "dataset.h5")
    probes = ProbeParts(sorted(p for p in probe_root.iterdir() if p.is_dir()))
    out: dict[str, list[np.ndarray]] = {}
    for epoch in epochs:
        started = time.perf_counter()
        part = probes.part_of(epoch)
        model = load_checkpoint_model(checkpoint_of(results / "train" / run_id, epoch), run_spec["settings"], dataset)
        preds = predict_planes(
            model,
            part.layers,
            part.probes(epoch),
            plane_set,
            batch_size,
            "cpu",
            pooling=part.pooling,
            autocast_dtype=autocast_dtype_of(precision),
        )
        for layer, q in preds.items():
            out.setdefault(layer, []).append(q.reshape(-1))
        print(
            f"# {precision} epoch {epoch}: {plane_set.num_points} points in {time.perf_counter() - started:.0f} s, "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return {layer: np.stack(rows) for layer, rows in out.items()}


def compare(stored: dict[str, np.ndarray], new: dict[str, np.ndarray], num_classes: int) -> dict[str, dict[str, float]]:
    """Per layer: fraction of differing predictions, and max |DRS_new - DRS_stored| over the whole matrix."""
    out = {}
    for layer, old_q in stored.items():
        change = drs_matrix(new[layer], num_classes) - drs_matrix(old_q, num_classes)
        out[layer] = {
            "differ": float(np.mean(old_q != new[layer])),
            "max_drs_change": float(np.abs(change).max()),
            "points": int(old_q.size),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, required=True, help="results/ directory of a finished float32 run")
    ap.add_argument("--experiment", default=None, help="experiment name in index.json (default: the first)")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--also-float32", action="store_true", help="also re-evaluate with this checkout's float32 path")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--planes", type=int, default=None, help="only the first this many planes (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    runtime.set_threads(args.threads)
    index = json.loads((args.results / "index.json").read_text())["experiments"]
    name = args.experiment or next(iter(index))
    entry = index[name]["drs"]
    reference = open_drs(args.results.parent / entry["assembled"])
    epochs = [int(e) for e in reference.epochs]
    stored = PredsParts(sorted(p for p in (args.results / "preds" / entry["preds"]).iterdir() if p.is_dir()))
    print(
        f"# experiment {name!r}: {len(epochs)} DRS-grid epochs, {stored.points:,} plane points, layers "
        f"{reference.layers}; torch {torch.__version__}, {args.threads} threads, load {os.getloadavg()[0]:.1f}"
    )
    plane_set = plane_subset(read_planes(args.results / "planes" / entry["planes"] / "planes.zarr"), args.planes)
    per_plane = plane_set.points_per_plane
    stored_q = {
        layer: stored.stack(layer, epochs)
        .reshape(len(epochs), -1, per_plane)[:, : plane_set.num_planes]
        .reshape(len(epochs), -1)
        for layer in reference.layers
    }
    whole = all(stored_q[layer].shape[1] == stored.points for layer in reference.layers)
    if whole:  # the stored matrices are the DRS of exactly these predictions
        check = max(
            float(np.abs(drs_matrix(stored_q[l], stored.num_classes) - reference[l]).max()) for l in reference.layers
        )
        print(f"# stored predictions reproduce the stored DRS matrices to {check:.1e}")
    print(
        f"# {plane_set.num_planes} of the {stored.points // per_plane} planes, {plane_set.num_points:,} points per "
        f"epoch and layer"
    )
    report = {}
    for precision in [args.precision] + (["float32"] if args.also_float32 else []):
        new = reevaluate(args.results, entry, precision, args.batch_size, plane_set, epochs)
        report[precision] = compare(stored_q, new, stored.num_classes)
    for precision, rows in report.items():
        print(
            f"\n{precision} vs the stored float32 run ({len(epochs)} epochs x {plane_set.num_points:,} points per "
            "layer; DRS over these points)"
        )
        print(f"{'layer':<8} {'predictions that differ':>24} {'max |dDRS|':>11}")
        for layer, r in rows.items():
            print(f"{layer:<8} {100 * r['differ']:>23.3f}% {r['max_drs_change']:>11.2e}")
        every = sum(r["differ"] * r["points"] for r in rows.values()) / sum(r["points"] for r in rows.values())
        print(f"{'all':<8} {100 * every:>23.3f}% {max(r['max_drs_change'] for r in rows.values()):>11.2e}")
    if args.json:
        args.json.write_text(json.dumps({"experiment": name, "epochs": epochs, "report": report}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
