"""Validate the two-point theory in its own setting (issue 13, item 3): a CPU run of minutes.

    python scripts/twopoint_toy.py [--inits 3] [--gains 1.0 1.2 1.3 1.4 1.4@0.001] [--grid-dx 1 1.25 1.5]
                                   [--grid-dy 0 0.5 1] [--json out.json]

The network: leaky-ReLU MLP, 20 hidden layers of 500, Xavier-normal weights times the gain (1.0), zero biases,
full-batch SGD (lr 0.01) on 0.5·MSE of two scalar points with ‖dx‖² = 1, ‖dy*‖² = 0.5, 3000 epochs.
Prints: synthetic recovery of (η_h, η_y) = (0.004, 0.02); the fit per hidden layer (depth profile) of seed 0;
the control (modified ODEs refitted, epoch-shuffled data) at --layer; η over --inits initialisations; the gain
sweep (rich → lazy); the final distance on the (‖dx‖, ‖dy*‖) grid predicted with the averaged η. Writes the
figures into --figures (docs/twopoint by default) and every number into --json if given. Runs are cached in
--cache by their settings, so a rerun only refits. See docs/twopoint.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # the checkout this script ships with

from repdyn.twopoint.toy import ToyRecord, ToySetup, train_two_point  # noqa: E402
from repdyn.twopoint.toy_figures import (  # noqa: E402
    plot_depth_profile,
    plot_final_distance,
    plot_gains,
    plot_trajectories,
)
from repdyn.twopoint.toy_validation import (  # noqa: E402
    control_errors,
    depth_profile,
    final_distance_point,
    fit_layer,
    gain_row,
    synthetic_recovery,
)


def cached_run(setup: ToySetup, cache: Path) -> ToyRecord:
    """train_two_point, or its saved record when the same settings ran before."""
    key = hashlib.sha256(json.dumps(dataclasses.asdict(setup), sort_keys=True).encode()).hexdigest()[:16]
    path = cache / f"{key}.npz"
    if path.exists():
        z = np.load(path)
        return ToyRecord(setup, z["epochs"], z["H"], z["Y"], z["W"], z["loss"])
    start = time.perf_counter()
    record = train_two_point(setup)
    print(
        f"# trained gain={setup.gain:g} seed={setup.seed} dx={setup.dx:g} dy={setup.dy:.3g}: "
        f"{record.epochs[-1]:.0f} epochs, loss {record.loss[-1]:.2e}, {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, epochs=record.epochs, H=record.H, Y=record.Y, W=record.W, loss=record.loss)
    tmp.replace(path)
    return record


def grid_seed(dx: float, dy: float) -> int:
    """The initialisation seed of a grid point, fixed by the point (not by the grid it is part of)."""
    return 100_000 + 1000 * round(100 * dx) + round(100 * dy)


def table(header: list[str], rows: list[list]) -> None:
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for row in rows:
        print(" | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--width", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=3000)
    ap.add_argument("--layer", type=int, default=10, help="hidden layer (0-based) of the η, control and grid readings")
    ap.add_argument("--inits", type=int, default=3, help="initialisations (seeds 0..) whose η are averaged")
    ap.add_argument(
        "--gains",
        nargs="+",
        default=["1.0", "1.2", "1.3", "1.4", "1.4@0.001"],
        help="gains of the sweep; GAIN@LR also changes the learning rate",
    )
    ap.add_argument("--grid-dx", type=float, nargs="+", default=[1.0, 1.25, 1.5])
    ap.add_argument("--grid-dy", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument(
        "--grid-epochs",
        type=int,
        default=4000,
        help="longest grid run (runs ending above loss 1e-4 are left out of the error summary)",
    )
    ap.add_argument("--grid-stop-loss", type=float, default=1e-6, help="grid runs stop below this loss")
    ap.add_argument("--figures", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "twopoint")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "repdyn-twopoint-toy")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)  # batch-2 steps are memory-bound; a second thread only adds contention
    args.cache.mkdir(parents=True, exist_ok=True)
    base = ToySetup(depth=args.depth, width=args.width, epochs=args.epochs)
    out: dict = {"setup": dataclasses.asdict(base), "layer": args.layer}

    t = np.arange(0.0, args.epochs + 1.0)
    recovered = synthetic_recovery(t, (0.05, 1e-8, 1e-8 - np.sqrt(0.5) * 1e-4))
    out["synthetic"] = {"true": [0.004, 0.02], "fitted": list(recovered)}
    print("## synthetic data from (η_h, η_y) = (0.004, 0.02)\n")
    table(["", "η_h", "η_y"], [["true", 0.004, 0.02], ["fitted", *recovered]])

    records = [cached_run(dataclasses.replace(base, seed=s), args.cache) for s in range(args.inits)]
    profile = depth_profile(records[0])
    out["depth_profile"] = [dataclasses.asdict(f) for f in profile]
    print(f"## seed 0: the theory fitted with H at each hidden layer (final loss {records[0].loss[-1]:.1e})\n")
    table(
        ["layer", "η_h", "η_y", "η_h·η_y", "error (normalised)", "error (raw)"],
        [[f.layer, f.eta_h, f.eta_y, f.eta_h * f.eta_y, f.error, f.raw_error] for f in profile],
    )

    controls = [control_errors(r, args.layer) for r in records]
    out["control"] = controls
    print(f"## control at layer {args.layer}: normalised fit error of each ODE, refitted, per initialisation\n")
    table(
        ["ODE", *(f"seed {k}" for k in range(len(records))), "× theory (median)"],
        [
            [name, *(c[name] for c in controls), float(np.median([c[name] / c["theory"] for c in controls]))]
            for name in controls[0]
        ],
    )

    fits = [fit_layer(r, args.layer) for r in records]
    eta_h, eta_y = float(np.mean([f.eta_h for f in fits])), float(np.mean([f.eta_y for f in fits]))
    out["inits"] = [dataclasses.asdict(f) for f in fits]
    print(f"## η at layer {args.layer} over {len(fits)} initialisations\n")
    table(
        ["seed", "η_h", "η_y", "error", "H(0)", "H(end)"],
        [
            [s, f.eta_h, f.eta_y, f.error, r.H[0, args.layer], r.H[-1, args.layer]]
            for s, (f, r) in enumerate(zip(fits, records))
        ]
        + [
            ["mean", eta_h, eta_y, float(np.mean([f.error for f in fits])), "", ""],
            ["sd", float(np.std([f.eta_h for f in fits])), float(np.std([f.eta_y for f in fits])), "", "", ""],
        ],
    )

    gain_records = []
    for spec in args.gains:
        gain, _, lr = spec.partition("@")
        setup = dataclasses.replace(base, gain=float(gain), lr=float(lr) if lr else base.lr)
        try:
            gain_records.append(records[0] if setup == base else cached_run(setup, args.cache))
        except FloatingPointError as error:
            print(f"# {error}")
    rows = [gain_row(r, args.layer) for r in gain_records]
    out["gains"] = [dataclasses.asdict(r) for r in rows]
    print(f"## rich → lazy: gain sweep at layer {args.layer} (laziness = C(0)/sqrt(κ‖dy*‖²))\n")
    table(
        ["gain", "lr", "H(0)", "H(end)", "H(end)/H(0)", "laziness", "η_h", "η_y", "error", "final loss"],
        [
            [
                r.gain,
                rec.setup.lr,
                r.H0,
                r.H_end,
                r.H_end / r.H0,
                r.laziness,
                r.fit.eta_h,
                r.fit.eta_y,
                r.fit.error,
                r.final_loss,
            ]
            for r, rec in zip(rows, gain_records)
        ],
    )

    points = [(dx, dy) for dx in args.grid_dx for dy in args.grid_dy]
    grid_setups = [
        dataclasses.replace(
            base, dx=dx, dy=dy, seed=grid_seed(dx, dy), epochs=args.grid_epochs, stop_loss=args.grid_stop_loss
        )
        for dx, dy in points
    ]
    grid = [final_distance_point(cached_run(s, args.cache), args.layer, eta_h, eta_y) for s in grid_setups]
    out["final_distance"] = [dataclasses.asdict(p) for p in grid]
    rel = [abs(p.predicted - p.measured) / p.measured for p in grid if p.measured > 1e-3 and p.final_loss < 1e-4]
    print(f"## final distance at layer {args.layer}: closed form with the averaged η vs the run's end\n")
    table(
        ["‖dx‖", "‖dy*‖", "predicted", "measured", "rel. error", "final loss"],
        [
            [p.dx, p.dy, p.predicted, p.measured, abs(p.predicted - p.measured) / max(p.measured, 1e-300), p.final_loss]
            for p in grid
        ],
    )
    if rel:
        print(
            f"median relative error {np.median(rel):.3g}, max {np.max(rel):.3g} over the {len(rel)} converged "
            "points (final loss < 1e-4) with H > 1e-3\n"
        )

    args.figures.mkdir(parents=True, exist_ok=True)
    plot_trajectories(records[0], profile[args.layer], args.figures / "trajectories.png")
    plot_depth_profile(profile, args.figures / "depth_profile.png")
    plot_gains(gain_records, [r.fit for r in rows], args.figures / "rich_lazy.png")
    plot_final_distance(grid, args.figures / "final_distance.png")
    print(f"# figures in {args.figures}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
