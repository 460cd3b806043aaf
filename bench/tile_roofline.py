"""CKA tiles read from disk against the bare GEMM of the same shapes: how close a tile job is to the roofline.

    python bench/tile_roofline.py --epochs 512 --batches 4 --batch-size 512 --layers 1 [--json OUT]

Builds, in a temporary directory, one extraction part in the real on-disk format (the extraction job's own
writer, `create_grams_store` / `write_epoch`: its layout, chunking and compressor) holding 2 x --epochs epochs
of random packed Grams (--batches probe batches of --batch-size examples, --layers layers). Then, in rounds
(--repeats, interleaved so that each round sees the same load), it times:
- the bare GEMM: the full (E, D) x (D, E) product of two in-memory operands, already in the working dtype
  (float64 for --accumulate float64, float32 for chunked_float32), no chunking, no conversion; for
  chunked_float32 also the float64 one, the reference of the 70 % target whatever the accumulation;
- the real tile job (`run_tile`) in a fresh Python process, reading the part from disk: one diagonal tile
  (epochs [0, E) against themselves) and one off-diagonal tile ([0, E) against [E, 2E)). Its seconds are
  the job's own wall time inside that process, from opening the part to the written tile store (the
  interpreter's start-up and imports, about 2 s, are the scheduler's start-up allowance, reported apart).
Rates count the full product, 2 x rows x columns x D x layers FLOP, for both tiles (the diagonal tile does
about half of it), and `ratio` is a tile's rate over the same round's bare GEMM rate in the working dtype,
`ratio_float64` over the bare float64 GEMM's. Medians over rounds. --baseline-src runs another checkout's tile
job in the same rounds, on the same part (before/after comparisons on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repdyn.cka.grams import packed_length

try:  # --job-src runs this file under another checkout: the Gram store's module under either name
    from repdyn.extract import grams_store as store
except ImportError:
    from repdyn.cka import store
from repdyn.cka.transforms import vector_length
from repdyn.config import schema
from repdyn.storage import zarr_store

ESTIMATOR = "minibatch_unbiased"


def write_part(
    path: Path, epochs: int, batches: int, batch_size: int, layers: int, compress: bool, seed: int = 0
) -> None:
    """An extraction part of `epochs` epochs of random packed Grams, through the extraction job's writer
    (`compress`: with the shared zstd compressor, as parts were stored before GRAM_COMPRESS)."""
    store.GRAM_COMPRESS = compress
    rng = np.random.default_rng(seed)
    names = [f"layer{i + 1}" for i in range(layers)]
    length = packed_length(batch_size)
    probe_index = np.arange(batches * batch_size, dtype=np.int64).reshape(batches, batch_size)
    arrays = None
    for position in range(epochs):
        result = {name: {"grams": rng.random((batches, length), dtype=np.float32)} for name in names}
        if arrays is None:
            arrays = store.create_grams_store(
                path / store.GRAMS_STORE,
                list(range(epochs)),
                names,
                {n: n for n in names},
                result,
                probe_index,
                {"run": "bench", "extract": "bench"},
            )
        store.write_epoch(arrays, position, result)
    zarr_store.consolidate(path / store.GRAMS_STORE)


def run_tile_process(
    part: Path,
    out: Path,
    rows: Sequence[int],
    cols: Sequence[int],
    diagonal: bool,
    accumulate: str,
    threads: int,
    src: Path,
) -> dict[str, float]:
    """The tile job in a fresh process importing repdyn from `src`: its own wall time and the process's."""
    request = {
        "part": str(part),
        "out": str(out),
        "rows": list(rows),
        "cols": list(cols),
        "diagonal": diagonal,
        "accumulate": accumulate,
        "threads": threads,
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--tile-job", json.dumps(request)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    process = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"tile job failed:\n{done.stderr[-3000:]}")
    *_, cpu, seconds = done.stdout.strip().splitlines()
    return {"seconds": float(seconds), "cpu_seconds": float(cpu), "process_seconds": process}


def tile_job(request: dict[str, Any]) -> None:
    """Inside the fresh process: run_tile on the part, printing its wall time."""
    from repdyn.cka.tile_job import run_tile

    torch.set_num_threads(request["threads"])
    started, cpu = time.perf_counter(), time.process_time()
    run_tile(
        request["out"],
        [request["part"]],
        [request["part"]],
        request["rows"],
        request["cols"],
        {"estimator": ESTIMATOR, "accumulate": request["accumulate"]},
        request["diagonal"],
        {"cka": "bench", "tile": "bench", "estimator": ESTIMATOR},
    )
    print(time.process_time() - cpu)
    print(time.perf_counter() - started)


def bare_gemm_seconds(epochs: int, d: int, dtype: torch.dtype) -> dict[str, float]:
    """Wall and CPU time (all threads) of one (E, D) x (D, E) product of in-memory operands of `dtype`."""
    generator = torch.Generator().manual_seed(1)
    left = torch.rand(epochs, d, generator=generator, dtype=dtype)
    right = torch.rand(epochs, d, generator=generator, dtype=dtype)
    started, cpu = time.perf_counter(), time.process_time()
    left @ right.T
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}


def _tile_entries(
    rounds: dict[str, list[dict[str, float]]], gemm: dict[str, list[dict[str, float]]], flops: int, gemm_flops: int
) -> list[dict[str, Any]]:
    """Per tile kind: median seconds and ratios of rates, per round, to the working-dtype GEMM (`ratio`), to the
    float64 GEMM (`ratio_float64`), and of rates per CPU-second of all threads (`cpu_ratio...`)."""

    def ratios(timings, key, dtype):
        return [(flops / t[key]) / (gemm_flops / g[key]) for t, g in zip(timings, gemm[dtype])]

    out = []
    for kind, timings in rounds.items():
        entry = {
            "kind": kind,
            "flops": flops,
            **{k: statistics.median(t[k] for t in timings) for k in ("seconds", "cpu_seconds", "process_seconds")},
        }
        for name, key, dtype in (
            ("ratio", "seconds", "working"),
            ("ratio_float64", "seconds", "float64"),
            ("cpu_ratio", "cpu_seconds", "working"),
            ("cpu_ratio_float64", "cpu_seconds", "float64"),
        ):
            values = ratios(timings, key, dtype)
            entry[name], entry[name.replace("ratio", "ratios")] = statistics.median(values), values
        out.append(entry)
    return out


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    d = vector_length([args.batch_size] * args.batches, ESTIMATOR)
    e = args.epochs
    started = time.perf_counter()
    write_part(work / "part", 2 * e, args.batches, args.batch_size, args.layers, args.compressed_part)
    written = time.perf_counter() - started
    tiles = {"diagonal": (range(e), range(e), True), "off_diagonal": (range(e), range(e, 2 * e), False)}
    sources = {"tiles": args.job_src, **({"baseline": args.baseline_src} if args.baseline_src else {})}
    rounds = {name: {kind: [] for kind in tiles} for name in sources}
    working = torch.float64 if args.accumulate == "float64" else torch.float32
    gemm: dict[str, list[dict[str, float]]] = {"working": [], "float64": []}
    for round_ in range(args.repeats):
        gemm["working"].append(bare_gemm_seconds(e, d, working))
        gemm["float64"].append(
            gemm["working"][-1] if working == torch.float64 else bare_gemm_seconds(e, d, torch.float64)
        )
        for name, src in sources.items():
            for kind, (rows, cols, diagonal) in tiles.items():
                rounds[name][kind].append(
                    run_tile_process(
                        work / "part",
                        work / f"{name}-{kind}-{round_}",
                        rows,
                        cols,
                        diagonal,
                        args.accumulate,
                        args.threads,
                        src,
                    )
                )
    flops = 2 * e * e * d * args.layers
    gemm_flops = 2 * e * e * d
    seconds = {dtype: statistics.median(g["seconds"] for g in rounds_) for dtype, rounds_ in gemm.items()}
    report = {
        "accumulate": args.accumulate,
        "epochs": e,
        "batches": args.batches,
        "batch_size": args.batch_size,
        "layers": args.layers,
        "d": d,
        "compressed_part": args.compressed_part,
        "job_src": str(args.job_src),
        "threads": args.threads,
        "repeats": args.repeats,
        "gemm_seconds": seconds["working"],
        "gemm_cpu_seconds": statistics.median(g["cpu_seconds"] for g in gemm["working"]),
        "gemm_gflops": gemm_flops / seconds["working"] / 1e9,
        "gemm_float64_gflops": gemm_flops / seconds["float64"] / 1e9,
        "part_bytes": 2 * e * args.batches * packed_length(args.batch_size) * 4 * args.layers,
        "part_write_seconds": written,
        "load": os.getloadavg()[0],
        "tiles": _tile_entries(rounds["tiles"], gemm, flops, gemm_flops),
    }
    if args.baseline_src:
        report["baseline_src"] = str(args.baseline_src)
        report["baseline_tiles"] = _tile_entries(rounds["baseline"], gemm, flops, gemm_flops)
    return report


def print_table(args: argparse.Namespace, report: dict[str, Any]) -> None:
    print(
        f"# bench/tile_roofline.py  torch {torch.__version__}, {args.threads} threads, E = {args.epochs} per side, "
        f"D = {report['d']:,}, {args.layers} layer(s), accumulate {args.accumulate}, load {report['load']:.2f}, "
        f"{args.repeats} round(s)"
    )
    print(f"\n{'step':<32} {'s':>7} {'cpu s':>7} {'GFLOP/s':>8} {'ratio':>6} {'vs f64':>6} {'cpu':>6} {'cpu f64':>7}")
    gemm_ratio = report["gemm_gflops"] / report["gemm_float64_gflops"]
    print(
        f"{'bare GEMM':<32} {report['gemm_seconds']:7.2f} {report['gemm_cpu_seconds']:7.2f} "
        f"{report['gemm_gflops']:8.1f} {1:6.2f} {gemm_ratio:6.2f}"
    )
    for label, key in (("", "tiles"), ("baseline ", "baseline_tiles")):
        for tile in report.get(key, []):
            print(
                f"{label + tile['kind'] + ' tile (job)':<32} {tile['seconds']:7.2f} {tile['cpu_seconds']:7.2f} "
                f"{tile['flops'] / tile['seconds'] / 1e9:8.1f} {tile['ratio']:6.2f} {tile['ratio_float64']:6.2f} "
                f"{tile['cpu_ratio']:6.2f} {tile['cpu_ratio_float64']:7.2f}"
            )
    print(
        f"\nratio: wall-clock rate over the same round's bare GEMM in the working dtype; vs f64: over the bare "
        f"float64 GEMM ({report['gemm_float64_gflops']:.1f} GFLOP/s); cpu, cpu f64: the same for rates per "
        f"CPU-second of all threads (less sensitive to other work on the machine). Medians of the rounds."
    )
    print(f"part written in {report['part_write_seconds']:.1f} s ({report['part_bytes'] / 1e9:.2f} GB)")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=512, help="epochs per tile side (the part holds twice as many)")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument(
        "--accumulate",
        default=schema()["$defs"]["cka"]["properties"]["accumulate"]["default"],
        choices=("float64", "chunked_float32"),
        help="the tile's accumulation (default: the config's)",
    )
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds (medians reported)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the GEMM and of the tile job")
    p.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument(
        "--job-src",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "src",
        help="source tree the tile job imports repdyn from (e.g. an older checkout's src, for a baseline)",
    )
    p.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="also run this source tree's tile job in every round (a before/after comparison)",
    )
    p.add_argument(
        "--compressed-part",
        action="store_true",
        help="write the part's Grams zstd-compressed, as extraction stored them before (for a baseline)",
    )
    p.add_argument("--tile-job", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tile_job is not None:
        tile_job(json.loads(args.tile_job))
        return 0
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        report = measure(args, Path(tmp))
    print_table(args, report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
