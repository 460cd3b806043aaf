"""Cost of the DRS stages per grid epoch on the default experiment's model, and of the paper's DRS grid.

    python bench/drs.py [--config config.yaml] [--repeats 3] [--max-points 40000] [--threads 2]

Model: the first experiment of --config (the default: pre-activation ResNet-18, width 8, 1 input channel,
2000 class-balanced Fashion-MNIST training images, 1000 test images) at its initialisation weights (seed 0).
Costs do not depend on the weights: every stage runs a fixed amount of arithmetic per example or point.

Timed (median of --repeats, torch threads = --threads, CPU):
- probe training of all 6 layers for one grid epoch, exactly as probe_segment runs it
  (repdyn.drs.probe_job.epoch_probes: training-set forward into the feature cache, `probe.epochs`
  Adam epochs, train and test error), with the cache forward also timed on its own;
- plane evaluation (repdyn.drs.agreement.predict_planes, one forward per batch of `drs.eval_batch_size` points serving
  all layers) for P·R² from 10·20² to the paper's 500·50²; sizes above --max-points are not run but
  extrapolated from the largest measured size's points/s (marked "extrap.");
- peak memory: growth of the resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs)
  over the resident set before the stage, and the absolute VmHWM.
Then the paper's ResNet-18 DRS grid (k = 64, 3 x 32 x 32, 50,000 training and 10,000 test images, 1120 grid
epochs, 6 layers, 500·50² points), extrapolated on this machine from a measured k = 64 forward rate on plane
points, a measured probe-training cost per example on k = 64 features (random features: cost is arithmetic),
and a measured agreement-count (DRS tile) rate.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # benchmark the checkout it ships with

from repdyn import config as repdyn_config  # noqa: E402
from repdyn.config import grids  # noqa: E402
from repdyn.config.probe_schedule import probe_passes  # noqa: E402
from repdyn.data import DatasetArtifact, prepare_dataset  # noqa: E402
from repdyn.drs.agreement import MEMORY_FORMATS, agreement_counts, parameters_in, predict_planes  # noqa: E402
from repdyn.drs.probe_job import (  # noqa: E402
    FORWARD_BATCH,
    epoch_probes,
    probe_label_source,
    probe_seed,
)
from repdyn.drs.probes import FeatureCache, init_generator, init_probe, train_probes  # noqa: E402
from repdyn.drs.selection import select_planes  # noqa: E402
from repdyn.models import LayerTap, build  # noqa: E402

PLANE_SIZES = [(10, 20), (50, 20), (20, 50), (100, 50), (500, 50)]  # (P, R)
PAPER = {
    "width": 64,
    "channels": 3,
    "train": 50_000,
    "test": 10_000,
    "epochs": 1120,
    "points": 500 * 50**2,
    "classes": 10,
}


# ------------------------------------------------------------------ measurement helpers


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """{'growth_mb', 'peak_mb'} of the block: VmHWM after a reset (Linux), else ru_maxrss (never reset)."""
    out: dict[str, float] = {}
    can_reset = os.access("/proc/self/clear_refs", os.W_OK)
    if can_reset:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak-RSS mark (VmHWM)
    base = _status_kb("VmRSS") or 0
    yield out
    peak = _status_kb("VmHWM") if can_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_mb"] = (peak or 0) / 1024
    out["growth_mb"] = max(0.0, ((peak or 0) - base) / 1024)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, dict[str, float], Any]:
    """(median seconds, peak memory of the largest run, last result) over `repeats` calls."""
    times, memory, result = [], {"growth_mb": 0.0, "peak_mb": 0.0}, None
    for _ in range(repeats):
        with peak_memory() as mem:
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
        memory = {k: max(memory[k], mem[k]) for k in memory}
    return statistics.median(times), memory, result


# ------------------------------------------------------------------ the default experiment


def default_setup(config_path: str, work: Path) -> tuple[Any, torch.nn.Module, dict, dict, list[int]]:
    """(dataset, model at init, probe settings, drs settings, DRS grid epochs) of --config's first experiment."""
    exp = repdyn_config.load(config_path).experiments[0]
    data_path = work / "dataset.h5"
    prepare_dataset(exp.section("data"), data_path)
    dataset = DatasetArtifact.load(data_path)
    model_settings = exp.section("model")
    torch.manual_seed(exp.section("train")["seed"])
    model = build(
        model_settings["arch"],
        width=model_settings.get("width", 64),
        in_channels=dataset.in_channels,
        num_classes=dataset.num_classes,
        image_size=dataset.image_size,
    ).eval()
    grid = grids.epochs(exp.section("grids")["drs"], exp.section("train")["epochs"])
    print(
        f"default experiment {exp.name!r}: {model_settings}, {dataset.train_images.shape[0]} train / "
        f"{dataset.eval_index.shape[0]} test images, DRS grid {len(grid)} epochs {grid[:3]}...{grid[-1]}, "
        f"probe {exp.section('probe')}, init weights"
    )
    return dataset, model, exp.section("probe"), exp.section("drs"), grid


def bench_probes(dataset, model, probe: dict, repeats: int) -> tuple[list[dict], dict]:
    """Rows for the phases of one grid epoch's probe job and for the whole of it (as probe_segment runs it)."""
    layers = model.analysed_layers
    labels = probe_label_source(dataset, probe["labels"])
    budget = probe["memory_budget_mb"] * 2**20
    seed = probe_seed(probe["seed"], 0, 0)
    n_train, n_test = int(dataset.train_images.shape[0]), int(dataset.eval_index.shape[0])

    def cache(images):
        return FeatureCache.build(
            model, layers, images, dataset.normalize, FORWARD_BATCH, budget, "cpu", pooling=probe["pooling"]
        )

    def whole_epoch():
        return epoch_probes(model, dataset, labels, probe, seed, budget, torch.device("cpu"))

    epoch_probes(
        model, dataset, labels, {**probe, "epochs": 1, "min_steps": 0}, 0, budget, torch.device("cpu")
    )  # warm-up
    passes = probe_passes(probe, n_train)
    rows = []
    with cache(dataset.train_images) as train_cache:
        nbytes, mode = train_cache.nbytes, train_cache.mode
        seconds, mem, _ = timed(lambda: cache(dataset.train_images).close(), repeats)
        rows.append(
            {
                "stage": "probe: training-set forward into the cache",
                "size": f"{n_train} img",
                "seconds": seconds,
                "rate": f"{n_train / seconds:.0f} img/s",
                **mem,
                "note": f"{mode} cache {nbytes / 2**20:.0f} MB",
            }
        )
        train = lambda: train_probes(  # noqa: E731 (timed as a callable)
            train_cache,
            labels,
            dataset.num_classes,
            epochs=passes,
            lr=probe["lr"],
            batch_size=probe["batch_size"],
            seed=seed,
        )
        seconds, mem, _ = timed(train, repeats)
        rows.append(
            {
                "stage": f"probe: Adam, {passes} epochs, 6 layers at once",
                "size": f"{n_train} img",
                "seconds": seconds,
                "rate": f"{passes * n_train / seconds:.0f} ex/s",
                **mem,
                "note": f"sum p = {sum(train_cache.dims.values()):,}",
            }
        )
    seconds, mem, result = timed(whole_epoch, repeats)
    rows.append(
        {
            "stage": "probe: whole grid epoch (+ train/test error)",
            "size": f"{n_train}+{n_test} img",
            "seconds": seconds,
            "rate": "",
            **mem,
            "note": f"{result['cache_mode']} cache",
        }
    )
    return rows, result["probes"]


def bench_planes(dataset, model, probes: dict, drs: dict, repeats: int, max_points: int) -> list[dict]:
    layers = model.analysed_layers
    images = dataset.normalize(dataset.train_images)
    rows, rate = [], None
    warm = select_planes(images, dataset.train_labels, 1, 0, resolution=32)  # one full batch: kernels set up
    predict_planes(model, layers, probes, warm, drs["eval_batch_size"], "cpu")
    for planes, resolution in PLANE_SIZES:
        points = planes * resolution**2
        label = f"{planes}·{resolution}² = {points:,}"
        if points > max_points:
            seconds = points / rate
            rows.append(
                {
                    "stage": "plane evaluation (all layers)",
                    "size": label,
                    "seconds": seconds,
                    "rate": f"{rate:.0f} pt/s",
                    "growth_mb": math.nan,
                    "peak_mb": math.nan,
                    "note": "extrap.",
                }
            )
            continue
        plane_set = select_planes(
            images,
            dataset.train_labels,
            planes,
            drs["seed"],
            resolution=resolution,
            range_l=drs["range_l"],
            range_r=drs["range_r"],
        )

        def evaluate(plane_set=plane_set):
            return predict_planes(model, layers, probes, plane_set, drs["eval_batch_size"], "cpu")

        seconds, mem, _ = timed(evaluate, repeats)
        rate = points / seconds
        rows.append(
            {
                "stage": "plane evaluation (all layers)",
                "size": label,
                "seconds": seconds,
                "rate": f"{rate:.0f} pt/s",
                **mem,
                "note": "measured",
            }
        )
    return rows


# ------------------------------------------------------------------ plane evaluation vs the bare forward

PRECISIONS = {"float32": None, "bf16": torch.bfloat16}
FORMATS = ("contiguous", "channels_last")


def bare_forward(
    model, images: torch.Tensor, batch_size: int, autocast_dtype, memory_format: str
) -> Callable[[], None]:
    """The network alone on the same points: inference_mode, eval mode, same batches, same layout, no taps."""
    layout = MEMORY_FORMATS[memory_format]
    batches = [b.contiguous(memory_format=layout) for b in images.split(batch_size)]
    amp = (lambda: torch.autocast("cpu", dtype=autocast_dtype)) if autocast_dtype else contextlib.nullcontext

    def run() -> None:
        with torch.inference_mode(), parameters_in(model, layout), amp():
            for batch in batches:
                model(batch)

    return run


def interleaved_times(runs: dict[Any, Callable[[], object]], repeats: int) -> dict[Any, list[float]]:
    """Wall times (s) of each run, the runs interleaved round by round so that they all see the same load."""
    times: dict[Any, list[float]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            started = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - started)
    return times


def bench_eval_vs_forward(
    dataset,
    model,
    probes: dict,
    drs: dict,
    repeats: int,
    points: tuple[int, int],
    precisions: list[str],
    batch_size: int,
) -> list[dict]:
    """Plane-evaluation points/s beside the bare forward's images/s, per precision and memory format.

    Every (precision, format) pair is timed in each round, bare forward and plane evaluation next to each
    other, rounds repeated `repeats` times: both see the same load, so their ratio is meaningful.
    """
    layers = model.analysed_layers
    images = dataset.normalize(dataset.train_images)
    planes, resolution = points
    plane_set = select_planes(
        images,
        dataset.train_labels,
        planes,
        drs["seed"],
        resolution=resolution,
        range_l=drs["range_l"],
        range_r=drs["range_r"],
    )
    warm_set = select_planes(images, dataset.train_labels, 1, drs["seed"], resolution=8)

    def cases(plane_set):
        flat = torch.cat([x for _, x in plane_set.iter_flat(batch_size)])
        runs = {}
        for precision in precisions:
            for fmt in FORMATS:
                dtype = PRECISIONS[precision]
                runs[(precision, fmt, "forward")] = bare_forward(model, flat, batch_size, dtype, fmt)
                runs[(precision, fmt, "planes")] = lambda dtype=dtype, fmt=fmt: predict_planes(
                    model, layers, probes, plane_set, batch_size, "cpu", autocast_dtype=dtype, memory_format=fmt
                )
        return runs

    for run in cases(warm_set).values():  # warm-up on 64 points: oneDNN kernels for each layout and dtype
        run()
    times = interleaved_times(cases(plane_set), repeats)
    n = plane_set.num_points
    rate = {key: n / statistics.median(t) for key, t in times.items()}
    fastest = {key: n / min(t) for key, t in times.items()}  # load from other jobs only ever adds time
    rows = []
    for precision in precisions:
        best_forward = max(rate[(precision, f, "forward")] for f in FORMATS)
        best_forward_min = max(fastest[(precision, f, "forward")] for f in FORMATS)
        for fmt in FORMATS:
            rows.append(
                {
                    "precision": precision,
                    "format": fmt,
                    "forward": rate[(precision, fmt, "forward")],
                    "planes": rate[(precision, fmt, "planes")],
                    "best_forward": best_forward,
                    "planes_min": fastest[(precision, fmt, "planes")],
                    "best_forward_min": best_forward_min,
                    "spread": max(max(t) / min(t) for k, t in times.items() if k[:2] == (precision, fmt)),
                }
            )
    return rows


def print_eval_table(rows: list[dict], points: int, batch_size: int, repeats: int) -> None:
    print(
        f"\nplane evaluation vs bare forward, same model, same {points:,} points, batch {batch_size}, "
        f"median of {repeats} interleaved rounds"
    )
    print(
        f"{'precision':<9} {'format':<14} {'forward img/s':>13} {'planes pt/s':>12} {'planes/forward':>15} "
        f"{'planes/best fwd':>16} {'(best rounds)':>14} {'max/min':>8}"
    )
    for r in rows:
        print(
            f"{r['precision']:<9} {r['format']:<14} {r['forward']:>13.0f} {r['planes']:>12.0f} "
            f"{100 * r['planes'] / r['forward']:>14.1f}% {100 * r['planes'] / r['best_forward']:>15.1f}% "
            f"{100 * r['planes_min'] / r['best_forward_min']:>13.1f}% {r['spread']:>8.2f}"
        )
    print("(best rounds): the same ratio from each run's fastest round; max/min: spread of a case's rounds (load).")
    for precision in dict.fromkeys(r["precision"] for r in rows):
        best = max((r for r in rows if r["precision"] == precision), key=lambda r: r["planes"])
        share = best["planes"] / best["best_forward"]
        print(
            f"target: fastest {precision} plane evaluation ({best['format']}) at {100 * share:.1f}% of the fastest "
            f"bare {precision} forward (>= 90%): {'met' if share >= 0.9 else 'NOT met'}"
        )


def bench_batch_sizes(
    dataset, model, probes: dict, drs: dict, repeats: int, sizes: list[int]
) -> list[tuple[int, float]]:
    """Plane-evaluation points/s (float32, channels_last) per batch size, interleaved rounds."""
    layers = model.analysed_layers
    images = dataset.normalize(dataset.train_images)
    plane_set = select_planes(images, dataset.train_labels, 2, drs["seed"], resolution=32)
    times: dict[int, list[float]] = {b: [] for b in sizes}
    for round_ in range(repeats + 1):
        for b in sizes:
            started = time.perf_counter()
            predict_planes(model, layers, probes, plane_set, b, "cpu")
            if round_:  # round 0 warms up
                times[b].append(time.perf_counter() - started)
    return [(b, plane_set.num_points / statistics.median(times[b])) for b in sizes]


# ------------------------------------------------------------------ the paper's grid


def paper_rates(repeats: int) -> dict[str, float]:
    """Measured k = 64 rates: plane points/s, probe-training s per example-epoch, agreement cell-points/s."""
    torch.manual_seed(0)
    model = build("preact_resnet18", width=PAPER["width"], in_channels=PAPER["channels"]).eval()
    layers = model.analysed_layers
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.standard_normal((30, 3, 32, 32)).astype(np.float32))
    labels = np.arange(30) % 10
    plane_set = select_planes(images, labels, 2, 0, resolution=16)  # 512 points
    dims = {"conv1": 65536, "layer1": 65536, "layer2": 32768, "layer3": 16384, "layer4": 8192, "linear": 10}
    probes = {name: init_probe(p, 10, init_generator(0, i)) for i, (name, p) in enumerate(dims.items())}
    predict_planes(model, layers, probes, plane_set, 256, "cpu")  # warm-up
    seconds, _, _ = timed(lambda: predict_planes(model, layers, probes, plane_set, 256, "cpu"), repeats)
    points_per_s = plane_set.num_points / seconds

    n = 256
    feats = {name: rng.standard_normal((n, p), dtype=np.float32) for name, p in dims.items()}
    with FeatureCache.from_arrays(feats) as cache:
        train_probes(cache, labels=np.arange(n) % 10, num_classes=10, epochs=1)  # warm-up
        seconds, _, _ = timed(lambda: train_probes(cache, np.arange(n) % 10, 10, epochs=1), repeats)
    probe_s_per_example = seconds / n

    q = rng.integers(0, 10, (32, 200_000), dtype=np.uint8)
    agreement_counts(q, q, 10)
    seconds, _, _ = timed(lambda: agreement_counts(q, q, 10), repeats)
    cell_points_per_s = q.shape[0] ** 2 * q.shape[1] / seconds
    return {
        "points_per_s": points_per_s,
        "probe_s_per_example": probe_s_per_example,
        "cell_points_per_s": cell_points_per_s,
    }


def paper_extrapolation(rates: dict[str, float]) -> list[tuple[str, float]]:
    """Seconds for the whole paper grid, per stage (forward rate on plane points also used for training images)."""
    e, p = PAPER["epochs"], PAPER["points"]
    forward = (PAPER["train"] + PAPER["test"]) / rates["points_per_s"]
    probe_train = 10 * PAPER["train"] * rates["probe_s_per_example"]
    planes = p / rates["points_per_s"]
    # symmetric matrix: E(E+1)/2 cells per layer, 6 layers (one-hot GEMM cost per cell-point measured directly)
    tiles = 6 * e * (e + 1) / 2 * p / rates["cell_points_per_s"]
    return [
        ("probe features: train + test forward", e * forward),
        ("probe training, 10 epochs, 6 layers", e * probe_train),
        ("plane evaluation, 1.25 M points", e * planes),
        ("DRS tiles (agreement counts), 6 layers", tiles),
    ]


# ------------------------------------------------------------------ output


def fmt_mb(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def print_table(rows: list[dict]) -> None:
    print(f"\n{'stage':<52} {'size':>20} {'s/epoch':>9} {'rate':>12} {'+RSS MB':>8} {'peak MB':>8}  note")
    for r in rows:
        print(
            f"{r['stage']:<52} {r['size']:>20} {r['seconds']:>9.2f} {r['rate']:>12} {fmt_mb(r['growth_mb']):>8} "
            f"{fmt_mb(r['peak_mb']):>8}  {r['note']}"
        )


def random_probes(model, dataset) -> dict:
    """Probes of the right shapes for every analysed layer (plane evaluation costs the same for any weights)."""
    x = dataset.normalize(dataset.train_images[:2])
    with torch.inference_mode(), LayerTap(model, model.analysed_layers) as tap:
        model(x)
        dims = {name: out.shape[1] for name, out in tap.outputs.items()}
    return {name: init_probe(p, dataset.num_classes, init_generator(0, i)) for i, (name, p) in enumerate(dims.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "config.yaml"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-points", type=int, default=40_000, help="larger plane sets are extrapolated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--eval-points",
        type=int,
        nargs=2,
        default=[4, 32],
        metavar=("P", "R"),
        help="plane set of the plane-evaluation vs forward table",
    )
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    ap.add_argument(
        "--batch-sizes",
        type=int,
        nargs="*",
        default=[256, 512, 1024, 2048],
        help="batch sizes of the float32 channels_last sweep (none: skip it)",
    )
    ap.add_argument("--eval-batch", type=int, default=None, help="batch of the table (default: drs.eval_batch_size)")
    ap.add_argument("--eval-only", action="store_true", help="only the plane-evaluation vs forward tables")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="repdyn-bench-drs-") as work:
        dataset, model, probe, drs, grid = default_setup(args.config, Path(work))
        probes = random_probes(model, dataset)
        batch = args.eval_batch or drs["eval_batch_size"]
        eval_rows = bench_eval_vs_forward(
            dataset, model, probes, drs, args.repeats, tuple(args.eval_points), args.precisions, batch
        )
        print_eval_table(eval_rows, args.eval_points[0] * args.eval_points[1] ** 2, batch, args.repeats)
        if args.batch_sizes:
            sweep = bench_batch_sizes(dataset, model, probes, drs, args.repeats, args.batch_sizes)
            print(
                "\nfloat32 channels_last plane evaluation by batch size (2·32² points, interleaved): "
                + ", ".join(f"{b}: {r:.0f} pt/s" for b, r in sweep)
            )
        print(f"load {os.getloadavg()[0]:.1f}", flush=True)
        if args.eval_only:
            return 0
        probe_rows, probes = bench_probes(dataset, model, probe, args.repeats)
        plane_rows = bench_planes(dataset, model, probes, drs, args.repeats, args.max_points)
    print_table(probe_rows + plane_rows)

    per_epoch_probe = probe_rows[-1]["seconds"]
    rate = float(next(r for r in reversed(plane_rows) if r["note"] == "measured")["rate"].split()[0])
    configured = drs["planes"] * drs["resolution"] ** 2
    print(
        f"\ndefault experiment, {len(grid)} DRS grid epochs: probes {len(grid) * per_epoch_probe:.0f} s; planes at "
        f"P·R² = {configured:,}: {len(grid) * configured / rate:.0f} s"
    )
    for budget in (120, 180):
        points = max(0.0, budget / len(grid) - per_epoch_probe) * rate
        print(
            f"  a {budget} s DRS budget leaves {points:,.0f} plane points per grid epoch after the probes "
            f"(e.g. P·R² = {int(points // 400)}·20² or {int(points // 2500)}·50²)"
        )

    rates = paper_rates(args.repeats)
    print(
        f"\npaper ResNet-18 (k = 64) on this machine: {rates['points_per_s']:.1f} plane points/s, probe training "
        f"{rates['probe_s_per_example'] * 1e3:.2f} ms per example-epoch (6 layers), agreement "
        f"{rates['cell_points_per_s'] / 1e9:.2f} G cell-points/s"
    )
    total = 0.0
    for stage, seconds in paper_extrapolation(rates):
        total += seconds
        print(f"  {stage:<44} {seconds / 3600:>12,.0f} h")
    print(
        f"  {'total (1120 epochs, 6 layers, 500·50²)':<44} {total / 3600:>12,.0f} h  = {total / 86400 / 365:.1f} years "
        "(extrapolated)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
