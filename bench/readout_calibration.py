"""Calibration tables of the readouts on synthetic inputs with known answers (docs/readouts.md quotes them).

    python bench/readout_calibration.py [--draws 200] [--block-draws 5]

Table 1: double descent (repdyn.analysis.descent via repdyn.analysis.events' rule) on test-error curves
of repdyn.analysis.surrogates: flat (sd 0.012), flat with noisier pre-fit epochs (0.03 before, 0.01 after),
monotone overfitting (+0.047, stays up), a genuine peak (+0.05), by memorisation length; plus flat and
peaked curves on a 15-point log-spaced grid (the probe grid). Counts of what each draw is read as.
Table 2: similarity blocks (repdyn.analysis.blocks.detect_blocks, the default log-time rule) on steady log-time drift
at several speeds, with and without noise, by E and grid (dense, 49-point log-spaced); a tenfold drop of
pace at E/4; a plateau on drift. Transitions per draw.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from repdyn.analysis.blocks import detect_blocks
from repdyn.analysis.descent import read_rise
from repdyn.analysis.surrogates import drift_matrix, error_curve, log_drift_positions, log_grid

CURVES = {
    "flat, sd 0.012": dict(shape="flat"),
    "flat, sd 0.03 before the fit, 0.01 after": dict(shape="flat", noise_before=0.03, noise_after=0.01),
    "monotone overfitting +0.047": dict(shape="overfit", rise=0.047),
    "peak +0.05 mid-memorisation": dict(shape="peak", rise=0.05),
}


def descent_table(draws: int) -> None:
    print("| curve | memorisation (epochs) | draws | double descent | overfitting | nothing |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, options in CURVES.items():
        for length in (30, 300, 1000):
            kinds = Counter()
            for seed in range(draws):
                epochs, values, fit = error_curve(length, seed=seed, **options)
                found = read_rise(epochs, values, fit)
                kinds[found.kind if found else None] += 1
            print(
                f"| {name} | {length} | {draws} | {kinds['double_descent']} | {kinds['overfitting']} | {kinds[None]} |"
            )
    grid = log_grid(4000, 15)
    cases = [
        ("probe grid (15 log-spaced epochs), flat sd 0.01", 0.0, None),
        ("probe grid, peak +0.05 at epoch ~55", 0.05, None),
        ("probe grid, fit at 100 (8 points up to it), flat sd 0.01", 0.0, 100),
        ("probe grid, fit at 100, peak +0.05 at epoch ~55", 0.05, 100),
    ]
    for name, rise, fit in cases:
        kinds = Counter()
        for seed in range(draws):
            u = np.log1p(grid)
            values = 0.3 + rise * np.exp(-((u - 4.0) ** 2) / 0.5) + np.random.default_rng(seed).normal(0, 0.01, u.size)
            found = read_rise(grid, values, fit)
            kinds[found.kind if found else None] += 1
        print(f"| {name} | — | {draws} | {kinds['double_descent']} | {kinds['overfitting']} | {kinds[None]} |")


def blocks_table(draws: int) -> None:
    print("| matrix | E | grid | draws | transitions per draw (counts: transitions x draws) | found at |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in (61, 1001, 4001):
        for grid_name, grid in (("dense", np.arange(size)), ("log, 49 points", log_grid(size - 1, 49))):
            cases = [
                (f"steady drift, speed {v}, noise {n}", dict(speed=v), n) for v in (0.3, 1.0, 3.0) for n in (0.0, 0.02)
            ]
            cases += [
                (f"tenfold drop of pace at {size // 4}, speed {v}", dict(speed=v, drop_at=size // 4), 0.02)
                for v in (1.0, 3.0)
            ]
            plateau = (8, 14) if size < 100 else (size // 20, size // 10)
            cases.append(
                (f"plateau {plateau[0]}-{plateau[1]} on drift, speed 1", dict(speed=1.0, plateaus=[plateau]), 0.02)
            )
            for name, options, noise in cases:
                counts, where = Counter(), []
                for seed in range(draws if noise else 1):
                    found = detect_blocks(
                        drift_matrix(log_drift_positions(grid, **options), noise=noise, seed=seed), grid
                    )
                    counts[len(found.transitions)] += 1
                    where.append(",".join(map(str, found.transitions)) or "—")
                spread = "; ".join(sorted(set(where)))
                print(
                    f"| {name} | {size} | {grid_name} | {sum(counts.values())} | "
                    f"{', '.join(f'{k} x {v}' for k, v in sorted(counts.items()))} | {spread} |",
                    flush=True,
                )


def rule_table() -> None:
    """The three rules on steady log-time drift at E = 1001 (dense grid, noise 0.02, one draw): blocks."""
    grid = np.arange(1001)
    print("| steady log-time drift, E = 1001, dense | default (log time) | drift='index' | plain (drift=False) |")
    print("| --- | --- | --- | --- |")
    for speed in (0.3, 1.0, 3.0):
        matrix = drift_matrix(log_drift_positions(grid, speed), noise=0.02, seed=1)
        counts = [len(detect_blocks(matrix, grid, drift=rule).ranges) for rule in (True, "index", False)]
        print(f"| speed {speed} | {counts[0]} | {counts[1]} | {counts[2]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200, help="noise draws per test-error curve")
    parser.add_argument("--block-draws", type=int, default=5, help="noise draws per similarity matrix")
    args = parser.parse_args()
    descent_table(args.draws)
    print()
    rule_table()
    print()
    blocks_table(args.block_draws)


if __name__ == "__main__":
    main()
