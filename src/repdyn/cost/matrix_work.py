"""Work of the jobs that compute and read the epoch x epoch matrices: CKA and DRS tiles, their assembly, and
the report pages (the rules that run the network, `Work` and the run facts: repdyn.cost.work).

- cka_tile: 2 B_r B_c D FLOPs per layer (D = B n(n+1)/2, or N(N+1)/2 for full_biased) at CPU GEMM
  throughput, half that on a diagonal tile; reads (B_r + B_c) D float32 per layer (B_r D on a diagonal
  tile), streamed a probe batch's columns at a time: holds up to three panels per block, 3 (B_r + B_c) D/B 4
  bytes (the whole blocks when B <= 3), and up to four float64 column chunks per block.
- drs_tile: one-hot agreement GEMMs, 2 B_r B_c C P R^2 FLOPs per layer; holds (B_r + B_c) P R^2 bytes.
- assembly: the E_r x E_c float64 matrices of all layers, read, held and written, plus figures.
- reports: every matrix an experiment's page shows read once, blocks detected, figures drawn; the index reads
  one layer of every experiment at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repdyn.cost.work import Work, gram_floats, lookup_artifact, plane_counts, run_facts
from repdyn.plan import Plan
from repdyn.tiling.names import parse_tile

FIGURE_SECONDS_PER_LAYER = 5.0
# Disk: a figure file (PNG or PDF) averages 50-75 kB on the tiny and default runs (heatmaps are downsampled
# to the figure's pixels, so larger grids do not grow it much).
FIGURE_FILE_BYTES = 75e3
ONE_HOT_CHUNK_BYTES = 256 * 2**20  # repdyn.drs.agreement.DEFAULT_CHUNK_BYTES
TILE_COLUMN_CHUNK = 8192  # columns per GEMM chunk in repdyn.cka.tiles


def _tile_panel_bytes(rows: int, cols: int, d: float, batches: int) -> float:
    """A tile's epoch vectors in memory: per block up to three panels of one probe batch's columns
    (repdyn.cka.panels), never more than the whole block."""
    return sum(e * d * 4.0 * min(1.0, 3 / batches) for e in (rows, cols))


def cka_tile(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.ckas, wc["id"], "cka")
    rows, cols = art.tile_epochs(parse_tile(wc["tile"]))
    f = run_facts(plan, art.rows.run.id)
    layers = len(f.model.layers)
    full = art.spec["settings"]["estimator"] == "full_biased"
    d = (
        gram_floats(f, full=False)
        if not full
        else ((f.probe_batch * f.probe_batches) * (f.probe_batch * f.probe_batches + 1) / 2)
    )
    br, bc = len(rows), len(cols)
    # A diagonal tile reads one block and forms only the row blocks on and right of the diagonal of the
    # symmetric product (repdyn.cka.tiles.symmetric_products): about half the flops.
    diagonal = art.symmetric and rows == cols
    return Work(
        gemm_flops=layers * 2.0 * br * bc * d * (0.5 if diagonal else 1.0),
        gemm_float64=art.spec["settings"]["accumulate"] == "float64",
        io_bytes=layers * ((br + (0 if diagonal else bc)) * d * 4.0 + br * bc * 8.0),
        host_bytes=(
            _tile_panel_bytes(br, 0 if diagonal else bc, d, 1 if full else f.probe_batches)
            + 2 * br * bc * 8.0
            + 4 * (br + (0 if diagonal else bc)) * TILE_COLUMN_CHUNK * 8.0
        ),
        output_bytes=layers * br * bc * 8.0,
    )


def _assembled(layers: int, cells: float, matrices_per_layer: int, figure_files: int) -> Work:
    size = layers * cells * 8.0 * matrices_per_layer
    return Work(
        io_bytes=2 * size,
        fixed_seconds=layers * (FIGURE_SECONDS_PER_LAYER + cells * 2e-7),
        host_bytes=2 * size + 32.0 * cells,
        output_bytes=size + figure_files * FIGURE_FILE_BYTES,
    )


def cka_assemble(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.ckas, wc["id"], "cka")
    rows, cols = art.epochs(*art.lengths_of(wc["shape"]))
    layers = len(run_facts(plan, art.rows.run.id).model.layers)
    return _assembled(layers, float(len(rows) * len(cols)), 1, layers + 2)  # heatmaps, panel PNG and PDF


def drs_tile(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.drs, wc["id"], "drs")
    rows, cols = art.tile_epochs(parse_tile(wc["tile"]))
    f = run_facts(plan, art.preds.run.id)
    _, points = plane_counts(art.preds.planes)
    layers, br, bc = len(f.model.layers), len(rows), len(cols)
    return Work(
        gemm_flops=layers * 2.0 * br * bc * f.classes * points,
        gemm_float64=False,
        io_bytes=layers * ((br + bc) * points + br * bc * 8.0),
        host_bytes=(br + bc) * points + ONE_HOT_CHUNK_BYTES + 2 * br * bc * 8.0,
        output_bytes=layers * br * bc * 8.0,
    )


def drs_assemble(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.drs, wc["id"], "drs")
    epochs = art.epochs(art.length_of(wc["shape"]))
    layers = len(run_facts(plan, art.preds.run.id).model.layers)
    return _assembled(layers, float(len(epochs) ** 2), 2, layers + 4)  # heatmaps, panel and probe errors


REPORT_FIGURES_PER_LAYER = 4  # blocks panel, init curves, copies; each as PNG and PDF
# Figure files of one experiment's page (PNG + PDF each): errors; per CKA and DRS the panel, blocks and
# init curves; probe errors and two decision-region planes; two two-point figures.
REPORT_FIGURE_FILES = 2 * (1 + 2 * 3 + 3 + 2)
BLOCK_DETECTION_S_PER_CELL = 1e-6  # dynamic programme over the E x E prefix sums, numpy-bound


def _experiment_cells(plan: Plan, exp: Any) -> tuple[int, float]:
    """(layers, matrix cells per layer) an experiment's report reads: CKA, cross-run CKA and DRS."""
    layers = len(run_facts(plan, exp.run.id).model.layers)
    cells = 0.0
    if exp.cka is not None:
        rows, cols = exp.cka.epochs(exp.epochs, exp.epochs)
        cells += len(rows) * len(cols)
    for other, art in exp.cka_cross:
        rows, cols = art.epochs(exp.epochs, plan.experiment(other).epochs)
        cells += len(rows) * len(cols)
    if exp.drs is not None:
        cells += len(exp.drs.epochs(exp.epochs)) ** 2
    return layers, cells


def report_experiment(plan: Plan, wc: Mapping[str, str]) -> Work:
    try:
        exp = plan.experiment(wc["name"])
    except KeyError:
        raise KeyError(f"no experiment {wc['name']!r} in this plan") from None
    layers, cells = _experiment_cells(plan, exp)
    size = layers * cells * 8.0
    return Work(
        io_bytes=size,
        host_bytes=2 * size,
        fixed_seconds=layers
        * (REPORT_FIGURES_PER_LAYER * FIGURE_SECONDS_PER_LAYER + cells * BLOCK_DETECTION_S_PER_CELL),
        output_bytes=(REPORT_FIGURE_FILES + 4 * len(exp.cka_cross)) * FIGURE_FILE_BYTES,
    )


def report_index(plan: Plan, wc: Mapping[str, str]) -> Work:
    """Comparison heatmaps read one layer of every experiment at a time."""
    sizes = [_experiment_cells(plan, exp) for exp in plan.experiments]
    total = sum(layers * cells * 8.0 for layers, cells in sizes)
    one_layer = sum(cells * 8.0 for _, cells in sizes)
    figures = sum(layers for layers, _ in sizes) * 2
    compared = figures if len(sizes) > 1 else 0  # comparison figures need two experiments
    return Work(
        io_bytes=total,
        host_bytes=2 * one_layer,
        fixed_seconds=figures * FIGURE_SECONDS_PER_LAYER,
        output_bytes=2 * compared * FIGURE_FILE_BYTES,
    )
