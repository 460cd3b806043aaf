"""CKA tiles read from disk against the bare GEMM of the same shapes: how close a tile job is to the roofline.

    python bench/tile_roofline.py --epochs 512 --batches 4 --batch-size 512 --layers 1 [--json OUT]

Builds, in a temporary directory, one extraction part in the real on-disk format (the extraction job's own
writer, `create_grams_store` / `write_epoch`: its layout, chunking and compressor) holding 2 x --epochs epochs
of random packed Grams (--batches probe batches of --batch-size examples, --layers layers). Then, in rounds
(--repeats, interleaved so that each round sees the same load), it times:
- the bare GEMM: the full (E, D) x (D, E) product of two in-memory operands, already in the working dtype
  (float64 for --accumulate float64, float32 for chunked_float32), no chunking, no conversion;
- the real tile job (`run_tile`) in a fresh Python process, reading the part from disk: one diagonal tile
  (epochs [0, E) against themselves) and one off-diagonal tile ([0, E) against [E, 2E)). Its seconds are
  the job's own wall time inside that process, from opening the part to the written tile store (the
  interpreter's start-up and imports, about 2 s, are the scheduler's start-up allowance, reported apart).
Rates count the full product, 2 x rows x columns x D x layers FLOP, for both tiles (the diagonal tile does
about half of it), and `ratio` is a tile's rate over the same round's bare GEMM rate. Medians over rounds.
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
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from repdyn.cka.grams import packed_length
try:  # --job-src runs this file under another checkout: the Gram store's module under either name
    from repdyn.extract import grams_store as store
except ImportError:
    from repdyn.cka import store
from repdyn.cka.transforms import vector_length
from repdyn.storage import zarr_store

ESTIMATOR = "minibatch_unbiased"


def write_part(path: Path, epochs: int, batches: int, batch_size: int, layers: int, compress: bool,
               seed: int = 0) -> None:
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
            arrays = store.create_grams_store(path / store.GRAMS_STORE, list(range(epochs)), names, {n: n for n in names},
                                        result, probe_index, {"run": "bench", "extract": "bench"})
        store.write_epoch(arrays, position, result)
    zarr_store.consolidate(path / store.GRAMS_STORE)


def run_tile_process(part: Path, out: Path, rows: Sequence[int], cols: Sequence[int], diagonal: bool,
                     accumulate: str, threads: int, src: Path) -> dict[str, float]:
    """The tile job in a fresh process importing repdyn from `src`: its own wall time and the process's."""
    request = {"part": str(part), "out": str(out), "rows": list(rows), "cols": list(cols), "diagonal": diagonal,
               "accumulate": accumulate, "threads": threads}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--tile-job", json.dumps(request)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(src)})
    process = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"tile job failed:\n{done.stderr[-3000:]}")
    return {"seconds": float(done.stdout.strip().splitlines()[-1]), "process_seconds": process}


def tile_job(request: dict[str, Any]) -> None:
    """Inside the fresh process: run_tile on the part, printing its wall time."""
    from repdyn.cka.tile_job import run_tile

    torch.set_num_threads(request["threads"])
    started = time.perf_counter()
    run_tile(request["out"], [request["part"]], [request["part"]], request["rows"], request["cols"],
             {"estimator": ESTIMATOR, "accumulate": request["accumulate"]}, request["diagonal"],
             {"cka": "bench", "tile": "bench", "estimator": ESTIMATOR})
    print(time.perf_counter() - started)


def bare_gemm_seconds(epochs: int, d: int, accumulate: str) -> float:
    """Wall time of one (E, D) x (D, E) product of in-memory operands in the working dtype."""
    dtype = torch.float64 if accumulate == "float64" else torch.float32
    generator = torch.Generator().manual_seed(1)
    left = torch.rand(epochs, d, generator=generator, dtype=dtype)
    right = torch.rand(epochs, d, generator=generator, dtype=dtype)
    started = time.perf_counter()
    left @ right.T
    return time.perf_counter() - started


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    d = vector_length([args.batch_size] * args.batches, ESTIMATOR)
    e = args.epochs
    started = time.perf_counter()
    write_part(work / "part", 2 * e, args.batches, args.batch_size, args.layers, args.compressed_part)
    written = time.perf_counter() - started
    tiles = {"diagonal": (range(e), range(e), True), "off_diagonal": (range(e), range(e, 2 * e), False)}
    rounds: dict[str, list[dict[str, float]]] = {kind: [] for kind in tiles}
    gemm: list[float] = []
    for round_ in range(args.repeats):
        gemm.append(bare_gemm_seconds(e, d, args.accumulate))
        for kind, (rows, cols, diagonal) in tiles.items():
            rounds[kind].append(run_tile_process(work / "part", work / f"{kind}-{round_}", rows, cols, diagonal,
                                                 args.accumulate, args.threads, args.job_src))
    flops = 2 * e * e * d * args.layers
    gemm_flops = 2 * e * e * d
    out_tiles = []
    for kind, timings in rounds.items():
        ratios = [(flops / t["seconds"]) / (gemm_flops / g) for t, g in zip(timings, gemm)]
        out_tiles.append({"kind": kind, "seconds": statistics.median(t["seconds"] for t in timings),
                          "process_seconds": statistics.median(t["process_seconds"] for t in timings),
                          "flops": flops, "ratio": statistics.median(ratios), "ratios": ratios})
    return {"accumulate": args.accumulate, "epochs": e, "batches": args.batches, "batch_size": args.batch_size,
            "layers": args.layers, "d": d, "compressed_part": args.compressed_part, "job_src": str(args.job_src), "threads": args.threads, "repeats": args.repeats,
            "gemm_seconds": statistics.median(gemm), "gemm_gflops": gemm_flops / statistics.median(gemm) / 1e9,
            "part_bytes": 2 * e * args.batches * packed_length(args.batch_size) * 4 * args.layers,
            "part_write_seconds": written, "load": os.getloadavg()[0], "tiles": out_tiles}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=512, help="epochs per tile side (the part holds twice as many)")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--accumulate", default="float64", choices=("float64", "chunked_float32"))
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds (medians reported)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the GEMM and of the tile job")
    p.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--job-src", type=Path, default=Path(__file__).resolve().parents[1] / "src",
                   help="source tree the tile job imports repdyn from (e.g. an older checkout's src, for a baseline)")
    p.add_argument("--compressed-part", action="store_true",
                   help="write the part's Grams zstd-compressed, as extraction stored them before (for a baseline)")
    p.add_argument("--tile-job", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tile_job is not None:
        tile_job(json.loads(args.tile_job))
        return 0
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        report = measure(args, Path(tmp))
    print(f"# bench/tile_roofline.py  torch {torch.__version__}, {args.threads} threads, E = {args.epochs} per side, "
          f"D = {report['d']:,}, {args.layers} layer(s), accumulate {args.accumulate}, load {report['load']:.2f}, "
          f"{args.repeats} round(s)")
    print(f"\n{'step':<28} {'s':>8} {'GFLOP/s':>9} {'ratio':>6}")
    print(f"{'bare GEMM':<28} {report['gemm_seconds']:8.2f} {report['gemm_gflops']:9.1f} {1:6.2f}")
    for tile in report["tiles"]:
        print(f"{tile['kind'] + ' tile (job)':<28} {tile['seconds']:8.2f} {tile['flops'] / tile['seconds'] / 1e9:9.1f} "
              f"{tile['ratio']:6.2f}   (process {tile['process_seconds']:.1f} s)")
    print(f"\npart written in {report['part_write_seconds']:.1f} s ({report['part_bytes'] / 1e9:.2f} GB)")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
