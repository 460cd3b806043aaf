#!/usr/bin/env python3
"""Compare two results/ trees: the same ids, and every assembled CKA and DRS matrix exactly equal.

Usage: python scripts/compare_results.py RESULTS_A RESULTS_B [--parts]

Ids: results/index.json (experiment -> artifact ids and paths) must be equal, and so must the set of
artifact directories of every stage. Matrices: every array of every assembled store
(results/cka*/<id>/e*/cka.zarr, results/drs/<id>/e*/drs.zarr) must be np.array_equal (NaN equal to
NaN) with the same dtype, and so must the stores' array names. With --parts, every other Zarr store
of RESULTS_B (Gram, probe and prediction parts, plane sets, tiles) is compared with RESULTS_A's too.
Prints one line per store and a summary; exits 1 on any difference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import zarr

STAGES = ("data", "train", "extract", "cka", "cka_cross", "planes", "probe", "preds", "drs")


def artifact_ids(results: Path) -> dict[str, list[str]]:
    return {stage: sorted(p.name for p in (results / stage).glob("*") if p.is_dir()) for stage in STAGES}


def assembled_stores(results: Path) -> list[Path]:
    """Relative paths of the assembled CKA and DRS stores."""
    found = [
        *results.glob("cka/*/e*/cka.zarr"),
        *results.glob("cka_cross/*/e*/cka.zarr"),
        *results.glob("drs/*/e*/drs.zarr"),
    ]
    return sorted(p.relative_to(results) for p in found)


def part_stores(results: Path) -> list[Path]:
    """Relative paths of every other store: parts, plane sets, tiles."""
    assembled = set(assembled_stores(results))
    return sorted(
        p.relative_to(results)
        for p in results.glob("*/*/**/*.zarr")
        if p.relative_to(results) not in assembled and (p / "zarr.json").is_file()
    )


def arrays(store: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(store), mode="r")
    out: dict[str, np.ndarray] = {}

    def walk(g, prefix: str) -> None:
        for name, member in g.members():
            if isinstance(member, zarr.Array):
                out[prefix + name] = member[...]
            else:
                walk(member, prefix + name + "/")

    walk(group, "")
    return out


def compare_store(a: Path, b: Path) -> list[str]:
    """Differences between two stores (empty: equal)."""
    xa, xb = arrays(a), arrays(b)
    if set(xa) != set(xb):
        return [f"array names differ: {sorted(set(xa) ^ set(xb))}"]
    problems = []
    for name in sorted(xa):
        u, v = xa[name], xb[name]
        if u.dtype != v.dtype or u.shape != v.shape:
            problems.append(f"{name}: {u.dtype}{u.shape} vs {v.dtype}{v.shape}")
        elif not np.array_equal(u, v, equal_nan=u.dtype.kind == "f"):
            problems.append(
                f"{name}: values differ (max |a-b| = {np.nanmax(np.abs(u.astype(float) - v.astype(float)))})"
            )
    return problems


def main(argv: list[str]) -> int:
    parts = "--parts" in argv
    argv = [x for x in argv if x != "--parts"]
    if len(argv) != 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    a, b = Path(argv[0]), Path(argv[1])
    ok = True
    index_a, index_b = (json.loads((r / "index.json").read_text()) for r in (a, b))
    same_index = index_a == index_b
    ids_a, ids_b = artifact_ids(a), artifact_ids(b)
    print(f"index.json equal: {same_index}")
    for stage in STAGES:
        equal = ids_a[stage] == ids_b[stage]
        ok &= equal
        print(f"{stage:10s} ids equal: {equal} ({len(ids_a[stage])} vs {len(ids_b[stage])})")
    ok &= same_index
    stores_a, stores_b = assembled_stores(a), assembled_stores(b)
    if stores_a != stores_b:
        print(f"assembled stores differ: {sorted(set(map(str, stores_a)) ^ set(map(str, stores_b)))}")
        ok = False
    for rel in stores_a:
        if rel not in stores_b:
            continue
        problems = compare_store(a / rel, b / rel)
        n = len(arrays(a / rel))
        print(f"{rel}: {'equal' if not problems else 'DIFFERENT'} ({n} arrays, np.array_equal)")
        for p in problems:
            print(f"    {p}")
        ok &= not problems
    if parts:
        for rel in part_stores(b):
            if not (a / rel).is_dir():
                print(f"{rel}: only in {b}")
                ok = False
                continue
            problems = compare_store(a / rel, b / rel)
            print(f"{rel}: {'equal' if not problems else 'DIFFERENT'} ({len(arrays(b / rel))} arrays)")
            for p in problems:
                print(f"    {p}")
            ok &= not problems
    print("RESULT:", "same ids and equal matrices" if ok and stores_a else "DIFFERENT")
    return 0 if ok and stores_a else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
