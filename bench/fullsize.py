"""Full-size behaviour of the CKA outputs at E = 4001 epochs, measured on synthetic tiles (issue 12, item 3).

    python bench/fullsize.py [--epochs 4001] [--block 1001] [--layers 6] [--work DIR]

Every step runs the package's own code in a child process of its own, so that its peak RSS is its own:

- tiles:    write the tiles of a symmetric E x E matrix per layer (block x block, the tile store the cka_tile
            job writes), from a synthetic matrix with known blocks (not timed as a workflow step);
- assemble: repdyn.cka.assemble_job.assemble + write_assembled, as the cka_assemble job does;
- read:     bytes read (Linux /proc/self/io rchar) to get one row, one 500 x 500 block and a whole layer of the
            assembled store, through xarray and through repdyn.cka.open_cka;
- figures:  repdyn.cka.figures.cka_figures (one heatmap per layer, the panel as PNG and PDF with error curves
            and training marks from a synthetic 4000-epoch metrics table), as the cka_assemble job does;
- report:   what the experiment report computes and draws from an E x E result: repdyn.report.analysis.measure
            (block detection with and without the drift model, similarity-to-init curve, per layer) and the
            blocks panel + init curves (PNG and PDF).

The figures are left in DIR/assembled and DIR/report for a look. Synthetic data: a matrix whose similarity
blocks are known (transitions at epochs 60, 400 and 1500) plus noise; the answers are printed beside what block
detection finds. Times depend on the load of the machine (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # benchmark the checkout it ships with

import numpy as np  # noqa: E402

LAYERS = ("conv1", "layer1", "layer2", "layer3", "layer4", "linear")
TRANSITIONS = (60, 400, 1500)  # epochs where the synthetic blocks begin


def synthetic_matrix(epochs: int, layer: int) -> np.ndarray:
    """Symmetric, values in [0, 1], 1 on the diagonal: high within the blocks, decaying across them."""
    rng = np.random.default_rng(layer)
    block = np.searchsorted(np.array(TRANSITIONS), np.arange(epochs), side="right")
    e = np.log1p(np.arange(epochs, dtype=np.float64))
    m = np.exp(-0.15 * np.abs(e[:, None] - e[None, :]))
    m *= np.where(block[:, None] == block[None, :], 1.0, 0.55 + 0.05 * layer)
    noise = rng.normal(0, 0.01, size=(epochs, epochs))
    m = np.clip(m + (noise + noise.T) / 2, 0, 1)
    np.fill_diagonal(m, 1.0)
    return m


def step_tiles(work: Path, epochs: int, block: int, layers: int) -> dict:
    from repdyn.cka.store import TILE_STORE, write_matrix_store
    from repdyn.config import grids

    grid = list(range(epochs))
    full = {LAYERS[i]: synthetic_matrix(epochs, i) for i in range(layers)}
    names = []
    for a, b in grids.blocks(epochs, block):
        for c, d in grids.blocks(epochs, block):
            if a > c:
                continue
            name = work / "tiles" / f"{a:06d}-{b - 1:06d}_{c:06d}-{d - 1:06d}"
            write_matrix_store(
                name / TILE_STORE,
                {k: m[a:b, c:d] for k, m in full.items()},
                grid[a:b],
                grid[c:d],
                {"estimator": "minibatch_unbiased", "layers": list(full)},
            )
            names.append(str(name))
    (work / "tiles.json").write_text(json.dumps(names))
    return {"tiles": len(names)}


def step_assemble(work: Path, epochs: int) -> dict:
    from repdyn.cka.assemble_job import assemble, write_assembled

    grid = list(range(epochs))
    matrices, attrs = assemble(json.loads((work / "tiles.json").read_text()), grid, grid, symmetric=True)
    out = work / "assembled"
    out.mkdir(exist_ok=True)
    write_assembled(out, matrices, grid, grid, {**attrs, "layers": list(matrices)})
    return {"layers": len(matrices)}


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def _bytes_read(read) -> int:
    before = _rchar()
    read()
    return _rchar() - before


def step_read(work: Path, epochs: int) -> dict:
    import xarray as xr

    from repdyn.cka import open_cka
    from repdyn.cka.store import CKA_STORE

    store = work / "assembled" / CKA_STORE
    ds = xr.open_zarr(store)
    cka = ds.cka.sel(layer="layer4")
    out = {"store_bytes": sum(f.stat().st_size for f in store.rglob("*") if f.is_file())}
    a, side = epochs // 4, min(500, epochs // 2)
    out["row_bytes"] = _bytes_read(lambda: cka.isel(row_epoch=epochs // 2).values)
    out["block_bytes"] = _bytes_read(
        lambda: cka.isel(row_epoch=slice(a, a + side), col_epoch=slice(a, a + side)).values
    )
    out["layer_bytes"] = _bytes_read(lambda: cka.values)
    out["open_cka_layer_bytes"] = _bytes_read(lambda: open_cka(work / "assembled")["layer4"])
    return out


def synthetic_metrics(epochs: int) -> list[dict]:
    """A 4000-epoch run: fits the noisy labels at epoch 400, a test-error peak near 250."""
    e = np.arange(epochs, dtype=np.float64)
    train = np.where(e < 400, np.clip(0.9 * np.exp(-e / 60) + 0.2 * np.clip(1 - e / 400, 0, 1), 0, 1), 0.0)
    test = 0.25 + 0.08 * np.exp(-(((e - 250) / 80) ** 2)) - 0.03 * (e > 600)
    return [
        {
            "epoch": float(i),
            "train_loss": float(t),
            "train_err": float(t),
            "train_err_clean": float(t) / 2,
            "noisy_fit": 1 - float(t),
            "test_loss": float(s),
            "test_err": float(s),
            "run_loss": float(t),
            "run_err": float(t),
            "wall_s": 1.0,
        }
        for i, t, s in zip(range(epochs), train, test)
    ]


def step_figures(work: Path, epochs: int) -> dict:
    from repdyn.cka import open_cka
    from repdyn.cka.figures import cka_figures
    from repdyn.train import phase_marks, training_phases

    m = open_cka(work / "assembled")
    matrices = {layer: m[layer] for layer in m.layers}
    rows = synthetic_metrics(epochs)
    cka_figures(
        work / "assembled",
        matrices,
        list(m.row_epochs),
        list(m.col_epochs),
        title=f"fullsize E={epochs}",
        estimator="minibatch_unbiased",
        metrics_rows=rows,
        marks=phase_marks(training_phases(rows)),
    )
    return {"figures": sorted(p.name for p in (work / "assembled").rglob("*.p*"))}


def step_report(work: Path, epochs: int) -> dict:
    from repdyn.cka import open_cka
    from repdyn.figures import plot_blocks_panel, plot_curves
    from repdyn.report.analysis import measure
    from repdyn.report.readers import SimilarityResult
    from repdyn.train import phase_marks, training_phases

    m = open_cka(work / "assembled")
    result = SimilarityResult(
        "CKA",
        list(m.layers),
        {layer: m[layer] for layer in m.layers},
        np.asarray(m.row_epochs),
        np.asarray(m.col_epochs),
        work / "assembled",
        work / "assembled",
    )
    started = time.perf_counter()
    measures = measure(result)
    detect_s = time.perf_counter() - started
    marks = phase_marks(training_phases(synthetic_metrics(epochs)))
    epochs_list = [int(e) for e in m.row_epochs]
    out = work / "report"
    out.mkdir(exist_ok=True)
    transitions = {layer: list(measures[layer].blocks.transitions) for layer in m.layers}
    curves = {layer: (list(x.init.epochs), list(x.init.values)) for layer, x in measures.items() if x.init}
    for fmt in ("png", "pdf"):
        plot_blocks_panel(
            result.matrices,
            epochs_list,
            transitions,
            out / f"cka_blocks.{fmt}",
            title=f"fullsize E={epochs}: CKA with detected similarity blocks",
            label="CKA",
            marks=marks,
        )
        plot_curves(curves, out / f"cka_init.{fmt}", title="CKA to epoch 0", ylabel="CKA to epoch 0", marks=marks)
    return {"block_detection_s": detect_s, "transitions": transitions, "expected": list(TRANSITIONS)}


STEPS = {
    "tiles": step_tiles,
    "assemble": step_assemble,
    "read": step_read,
    "figures": step_figures,
    "report": step_report,
}


def run_step(step: str, args: argparse.Namespace) -> tuple[float, float, dict]:
    """(wall s, peak RSS MB of the child, its result) of one step in a child process."""
    cmd = [
        sys.executable,
        __file__,
        "--step",
        step,
        "--work",
        str(args.work),
        "--epochs",
        str(args.epochs),
        "--block",
        str(args.block),
        "--layers",
        str(args.layers),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step {step} failed")
    return wall, usage.ru_maxrss / 1024, json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=4001)
    ap.add_argument("--block", type=int, default=1001)
    ap.add_argument("--layers", type=int, default=6, choices=range(1, 7))
    ap.add_argument("--work", type=Path, default=Path("/tmp/repdyn-bench-fullsize"))
    ap.add_argument("--step", choices=STEPS, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--steps", nargs="*", choices=STEPS, default=list(STEPS))
    args = ap.parse_args(argv)
    if args.step:
        fn = STEPS[args.step]
        kwargs = {"block": args.block, "layers": args.layers} if args.step == "tiles" else {}
        print(json.dumps(fn(args.work, args.epochs, **kwargs)))
        return 0
    if "tiles" in args.steps:
        shutil.rmtree(args.work, ignore_errors=True)  # a fresh set of stores (writers refuse to overwrite)
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"# E = {args.epochs}, block {args.block}, {args.layers} layers, load average {os.getloadavg()[0]:.1f}")
    print(f"{'step':<10}{'wall s':>9}{'peak RSS MB':>13}  result")
    for step in args.steps:
        wall, rss, result = run_step(step, args)
        print(f"{step:<10}{wall:>9.1f}{rss:>13.0f}  {json.dumps(result)}", flush=True)
    print(
        f"# load average after: {os.getloadavg()[0]:.1f}; "
        f"max RSS of all children {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
