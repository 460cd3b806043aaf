"""repdyn's CKA pipeline vs torch-cka 0.21 on a real model, side by side (issue 3, item 7).

    python bench/cka.py [--epochs 8 32] [--probe 512 2048] [--width 8] [--repeats 3]

Setup (not timed): a Fashion-MNIST artifact per probe size N (B batches of 512 test images), a width-k
pre-activation ResNet-18 trained E_max - 1 epochs with Adam (lr 1e-3) so that representations change, and
its E_max checkpoints, cached under --work so that reruns skip training.

Timed, per (E, N):
- repdyn, as the workflow runs it: `extract_part` (one forward per epoch, per-batch Grams into Zarr), then
  `run_tile` for every tile and `assemble` + `write_assembled`, for all 6 layers. Block size E (one
  diagonal tile) and E/4 (10 tiles, to show the tiling overhead) on the same extraction. Median of --repeats.
- torch-cka, the way its users call it: per epoch pair (i <= j) load both checkpoints,
  `CKA(m_i, m_j, model1_layers=layers, model2_layers=layers).compare(DataLoader(probe, 512))` and read the
  same-layer entries. E(E+1)/2 pairs are too many to time at E = 32, so a random sample is timed and its
  median extrapolated; the row given by --full is timed on every pair to check that extrapolation.

repdyn repeats and slices of the torch-cka pairs alternate, so both tools see the same load on a shared machine.

Accuracy: |repdyn - torch-cka| on the timed pairs, and |repdyn - exact| on every entry, where exact is the
float64 path of `repdyn.cka.cka_matrix` on the float32 forward's activations cast to float64 (streamed one
epoch at a time to bound memory; checked against a literal `cka_matrix` call on the first epochs).
Both sides run with the same number of torch threads (--threads). See bench/README.md for the output.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
import io
import itertools
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # benchmark the checkout it ships with

from repdyn.cka import cka_matrix, open_cka
from repdyn.cka.api import epoch_vector
from repdyn.cka.assemble_job import assemble, write_assembled
from repdyn.cka.tile_job import run_tile
from repdyn.cka.tiles import diagonal_tile_cka, tile_products
from repdyn.cka.transforms import vector_length
from repdyn.data import DatasetArtifact, prepare_dataset
from repdyn.extract.job import extract_part
from repdyn.models import LayerTap
from repdyn.storage import atomic
from repdyn.train import init_run, load_checkpoint_model, train_segment

ESTIMATOR = "minibatch_unbiased"  # torch-cka's estimator (docs/algorithms.md §1.4)
TILE_SETTINGS = {"estimator": ESTIMATOR, "accumulate": "float64"}  # the workflow's defaults
EXTRACT_SETTINGS = {"raw_max_features": 1024, "full_gram": False, "tf32": False}  # the workflow's defaults
# A layer counts as well-conditioned for torch-cka's uncentred float32 Grams when its features' common offset
# is small next to their spread: offset ratio n|mean|^2 / |X - mean|^2 at most this (docs/algorithms.md §1.6).
WELL_CONDITIONED_OFFSET = 10.0


def run_settings(width: int) -> dict[str, Any]:
    """The training run: the default experiment's recipe (Adam, lr 1e-3, augmentation) at width k."""
    return {
        "model": {"arch": "preact_resnet18", "width": width},
        "train": {
            "seed": 0,
            "batch_size": 128,
            "precision": "fp32",
            "eval_train": False,
            "optimizer": {
                "name": "adam",
                "lr": 1e-3,
                "betas": [0.9, 0.999],
                "eps": 1e-8,
                "weight_decay": 0.0,
                "momentum": 0.0,
                "nesterov": False,
            },
            "augment": {"crop_padding": 4, "hflip": True},
        },
    }


# --train-subset / --test-subset: a small training set makes the 255 training epochs of E = 256 cheap (the
# representations only need to change); the probe set is the test split's B x 512 images either way.
SUBSETS = {"train": 2000, "test": 1000}


def data_settings(batches: int, batch_size: int) -> dict[str, Any]:
    """Resolved `data` settings: 2000 noisy training images, 1000 test images for metrics, B probe batches."""
    return {
        "dataset": "fashion_mnist",
        "root": None,
        "download": False,
        "image_size": 32,
        "train_subset": SUBSETS["train"],
        "test_subset": SUBSETS["test"],
        "subset_seed": 0,
        "label_noise": 0.2,
        "noise_seed": 0,
        "probe": {"batches": batches, "batch_size": batch_size, "seed": 0},
        "normalization": "auto",
    }


# --------------------------------------------------------------------------------------------- setup


def cache_dir(work: Path, width: int, batch_size: int) -> Path:
    """Directory keyed by everything that changes the checkpoints, so a changed setting never reuses them."""
    key = json.dumps([run_settings(width), data_settings(1, batch_size)], sort_keys=True)
    return work / f"rn18k{width}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def probe_artifact(cache: Path, n: int, batch_size: int) -> Path:
    """The dataset artifact whose probe set is n test images in n / batch_size batches (built once)."""
    path = cache / f"data-N{n}.h5"
    if not path.is_file():
        prepare_dataset(data_settings(n // batch_size, batch_size), path)
    return path


def checkpoints(cache: Path, width: int, train_data: Path, count: int) -> dict[int, Path]:
    """Checkpoints of epochs 0 .. count-1, training (and caching) whatever the cache lacks.

    Missing epochs are trained as one more resumable segment after the last cached one, so asking for a
    longer run later extends the cached chain instead of starting over.
    """
    run = run_settings(width)
    if not (cache / "init").is_dir():
        init_run(run, train_data, cache / "init")
    paths = {0: cache / "init" / "checkpoints" / "e000000.pt"}
    segments = sorted(cache.glob("seg-*-*"), key=lambda p: int(p.name.split("-")[2]))
    for segment in segments:
        paths.update({int(p.stem[1:]): p for p in (segment / "checkpoints").glob("e*.pt")})
    last = max(paths)
    if last < count - 1:
        state = segments[-1] / "state.pt" if segments else cache / "init" / "state.pt"
        print(f"# training epochs {last + 1}..{count - 1} (cached under {cache}) ...", flush=True)
        segment = cache / f"seg-{last:04d}-{count - 1:04d}"
        train_segment(run, train_data, state, count - 1, list(range(last + 1, count)), segment)
        paths.update({e: segment / "checkpoints" / f"e{e:06d}.pt" for e in range(last + 1, count)})
    return {e: paths[e] for e in range(count)}


# --------------------------------------------------------------------------------------------- helpers


def load() -> str:
    """1-minute load average (the machine is shared: other jobs slow both sides alike)."""
    return f"{os.getloadavg()[0]:.2f}"


def pair_count(epochs: int) -> int:
    return epochs * (epochs + 1) // 2


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc), so that one phase's garbage neither crowds the shared
    machine nor hides the next phase's peak in already-resident pages."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


class PeakRss:
    """Peak resident memory of this process during a block, above its level at entry (Linux; else NaN).

    Freed memory is first returned to the OS and the kernel's high-water mark reset (/proc/self/clear_refs),
    so the peak is the block's own. Where the reset is not allowed, RSS is sampled every 2 ms instead.
    """

    def __init__(self) -> None:
        self.peak_mb = float("nan")
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if not os.path.exists("/proc/self/status"):
            return self
        release_memory()
        self._base = self._peak = _status_kb("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS
        except OSError:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, _status_kb("VmRSS"))

    def __exit__(self, *exc: object) -> None:
        if not hasattr(self, "_base"):
            return
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        else:
            self._peak = _status_kb("VmHWM")
        self.peak_mb = (self._peak - self._base) / 1024


# --------------------------------------------------------------------------------------------- repdyn


@dataclass
class RepdynRun:
    """Wall times (s) of one repeat and the matrices it produced, per block size."""

    extract_s: float
    tiles_s: dict[int, float] = field(default_factory=dict)
    assemble_s: dict[int, float] = field(default_factory=dict)
    peak_mb: dict[int, float] = field(default_factory=dict)
    matrices: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


def tile_ranges(count: int, block: int) -> list[list[int]]:
    return [list(range(start, min(start + block, count))) for start in range(0, count, block)]


def tiles_and_assembly(extracted: Path, out: Path, epochs: list[int], block: int) -> tuple[float, float, float]:
    """Every tile I <= J of a block x block split, then the assembled store. Returns tiles s, assembly s, MB."""
    ranges = tile_ranges(len(epochs), block)
    tile_dirs = []
    with PeakRss() as memory:
        started = time.perf_counter()
        for i, rows in enumerate(ranges):
            for j in range(i, len(ranges)):
                tile = out / f"tiles/{rows[0]}-{rows[-1] + 1}_{ranges[j][0]}-{ranges[j][-1] + 1}"
                run_tile(
                    tile,
                    [extracted],
                    [extracted],
                    [epochs[r] for r in rows],
                    [epochs[c] for c in ranges[j]],
                    TILE_SETTINGS,
                    i == j,
                    {"tile": tile.name},
                )
                tile_dirs.append(tile)
        tiles_s = time.perf_counter() - started
    started = time.perf_counter()
    matrices, _ = assemble(tile_dirs, epochs, epochs, symmetric=True)
    write_assembled(out / "assembled", matrices, epochs, epochs, {"estimator": ESTIMATOR, "layers": list(matrices)})
    return tiles_s, time.perf_counter() - started, memory.peak_mb


def repdyn_once(
    dataset: Path, ckpts: Mapping[int, Path], width: int, blocks: Sequence[int], scratch: Path
) -> RepdynRun:
    """One timed repeat: extraction once, then tiles + assembly for each block size (fresh directories)."""
    epochs = sorted(ckpts)
    run = run_settings(width)
    started = time.perf_counter()
    extract_part(run, dataset, dict(ckpts), scratch / "extract", EXTRACT_SETTINGS, {"run": "bench", "extract": "bench"})
    result = RepdynRun(extract_s=time.perf_counter() - started)
    for block in blocks:
        out = scratch / f"block{block}"
        tiles_s, assemble_s, peak_mb = tiles_and_assembly(scratch / "extract", out, epochs, block)
        result.tiles_s[block], result.assemble_s[block], result.peak_mb[block] = tiles_s, assemble_s, peak_mb
        stored = open_cka(out / "assembled")
        result.matrices[block] = {layer: stored[layer] for layer in stored.layers}
    shutil.rmtree(scratch)  # hundreds of MB of Grams per repeat at N = 2048
    return result


# --------------------------------------------------------------------------------------------- exact float64


@dataclass
class Exact:
    matrices: dict[str, np.ndarray]  # layer -> E x E float64
    offset_ratio: dict[str, float]  # layer -> max over epochs, batches of n|mean|^2 / |X - mean|^2
    self_check: float  # max |streamed - literal cka_matrix| on the first epochs


def probe_activations(
    model: torch.nn.Module, dataset: DatasetArtifact, layers: list[str]
) -> dict[str, list[torch.Tensor]]:
    """Per layer, the float32 flattened activations of each probe batch, forwarded batch by batch like extraction."""
    probe = dataset.probe_images()
    out: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with torch.no_grad(), LayerTap(model, layers) as tap:
        for batch in probe:
            model(dataset.normalize(batch))
            for layer in layers:
                out[layer].append(tap.outputs[layer].clone())
    return out


def offset_ratio(batch: torch.Tensor) -> float:
    """n|mean|^2 / |X - mean|^2 of one float64 batch (n, p): how far its features sit from the origin
    relative to their spread. torch-cka forms uncentred float32 Grams, which cancel when this is large."""
    offset = batch.shape[0] * float(batch.mean(dim=0).square().sum())
    spread = float(torch.linalg.vector_norm(batch)) ** 2 - offset
    return offset / spread if spread > 0 else float("inf")


def exact_matrices(
    dataset_path: Path, ckpts: Mapping[int, Path], width: int, check_epochs: int, only: Sequence[int] | None = None
) -> Exact:
    """float64 CKA of every epoch pair: the path `cka_matrix` runs for float64 input, one epoch at a time.

    The first `check_epochs` epochs are also kept whole and passed to `cka_matrix` itself (self_check).
    `only`: compute the pairs among these epochs only (float64 vectors of all E = 256 epochs would need
    E x D x 8 bytes = 1 GB per layer at N = 2048); other entries are NaN and left out of every comparison.
    """
    if only is not None:
        kept_epochs = sorted(set(only))
        sub = exact_matrices(dataset_path, {e: ckpts[e] for e in kept_epochs}, width, check_epochs)
        size = max(ckpts) + 1
        matrices = {}
        for layer, m in sub.matrices.items():
            full = np.full((size, size), np.nan)
            full[np.ix_(kept_epochs, kept_epochs)] = m
            matrices[layer] = full
        return Exact(matrices, sub.offset_ratio, sub.self_check)
    dataset = DatasetArtifact.load(dataset_path)
    run = run_settings(width)
    sizes = [int(dataset.probe_index.shape[1])] * int(dataset.probe_index.shape[0])
    vectors: dict[str, list[torch.Tensor]] = {}
    ratios: dict[str, float] = {}
    kept: dict[str, list[torch.Tensor]] = {}
    for position, epoch in enumerate(sorted(ckpts)):
        model = load_checkpoint_model(ckpts[epoch], run, dataset)
        for layer, batches in probe_activations(model, dataset, model.analysed_layers).items():
            rows = torch.cat(batches).double()
            vectors.setdefault(layer, []).append(epoch_vector(rows, sizes, ESTIMATOR, f"epoch {epoch} {layer}"))
            ratios[layer] = max(ratios.get(layer, 0.0), *(offset_ratio(b) for b in rows.split(sizes[0])))
            if position < check_epochs:
                kept.setdefault(layer, []).append(rows)
    matrices = {layer: diagonal_tile_cka(torch.stack(v), "float64").numpy() for layer, v in vectors.items()}
    self_check = max(
        (
            float(
                np.abs(
                    cka_matrix(acts, ESTIMATOR, batch_size=sizes[0]) - matrices[layer][: len(acts), : len(acts)]
                ).max()
            )
            for layer, acts in kept.items()
        ),
        default=float("nan"),
    )
    return Exact(matrices, ratios, self_check)


# --------------------------------------------------------------------------------------------- torch-cka


def hook_firing_order(model: torch.nn.Module, layers: list[str], example: torch.Tensor) -> list[str]:
    """The order in which the layers' forward hooks fire: torch-cka's result rows follow it, not `layers`."""
    fired: list[str] = []
    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_hook(lambda *_, name=name: fired.append(name)) for name in layers]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    if sorted(fired) != sorted(layers):
        raise RuntimeError(f"hooks fired as {fired}; expected each of {layers} exactly once")
    return fired


def torch_cka_pair(
    path_i: Path,
    path_j: Path,
    run: Mapping[str, Any],
    dataset: DatasetArtifact,
    loader,
    layers: list[str],
    order: list[str],
) -> tuple[float, dict[str, float]]:
    """Seconds for one epoch pair as a torch-cka user runs it, and its same-layer CKA values."""
    from torch_cka import CKA

    started = time.perf_counter()
    model_i = load_checkpoint_model(path_i, run, dataset)
    model_j = load_checkpoint_model(path_j, run, dataset)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # its warnings and tqdm bar
        warnings.simplefilter("ignore")
        cka = CKA(
            model_i,
            model_j,
            model1_name="epoch_i",
            model2_name="epoch_j",
            model1_layers=layers,
            model2_layers=layers,
            device="cpu",
        )
        cka.compare(loader)
    seconds = time.perf_counter() - started
    matrix = cka.export()["CKA"]
    return seconds, {name: float(matrix[k, k]) for k, name in enumerate(order)}


@dataclass
class TorchCkaRows:
    seconds: list[float]
    values: dict[tuple[int, int], dict[str, float]]  # (i, j) -> layer -> CKA
    full: bool


class TorchCkaBench:
    """What every torch-cka pair of a row shares: the probe DataLoader (as a user builds it) and the layers."""

    def __init__(self, dataset_path: Path, ckpts: Mapping[int, Path], width: int) -> None:
        self.dataset = DatasetArtifact.load(dataset_path)
        self.run = run_settings(width)
        self.ckpts = ckpts
        images = self.dataset.normalize(self.dataset.probe_images().reshape(-1, *self.dataset.train_images.shape[1:]))
        labels = self.dataset.probe_labels().reshape(-1)
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(images, labels),
            batch_size=int(self.dataset.probe_index.shape[1]),
            shuffle=False,
        )
        model = load_checkpoint_model(ckpts[min(ckpts)], self.run, self.dataset)
        self.layers = model.analysed_layers
        self.order = hook_firing_order(model, self.layers, images[:2])

    def time_pairs(
        self, pairs: Sequence[tuple[int, int]], into: TorchCkaRows, budget_s: float | None, min_pairs: int
    ) -> None:
        """Time `pairs` in order; with a budget, stop once it is spent and at least min_pairs are done."""
        began = time.perf_counter()
        for done, (i, j) in enumerate(pairs, start=1):
            seconds, values = torch_cka_pair(
                self.ckpts[i], self.ckpts[j], self.run, self.dataset, self.loader, self.layers, self.order
            )
            into.seconds.append(seconds)
            into.values[(i, j)] = values
            if budget_s is not None and done >= min_pairs and time.perf_counter() - began >= budget_s:
                return


# --------------------------------------------------------------------------------------------- one row


@dataclass
class Row:
    epochs: int
    probe: int
    blocks: tuple[int, int]
    repdyn_total: dict[int, float]  # block -> median total s
    repdyn_parts: dict[str, float]  # median extract / tiles / assembly s (block E)
    peak_mb: dict[int, float]
    vector_bound_mb: dict[int, float]
    repeats_identical: bool
    tiling_diff: float
    tc: TorchCkaRows
    diff_tc: dict[str, float]  # layer -> max |repdyn - torch-cka| on the timed pairs
    diff_tc_exact: dict[str, float]  # layer -> max |torch-cka - exact| on the timed pairs
    diff_exact: dict[str, float]  # layer -> max |repdyn - exact| over every entry, both block sizes
    load: str

    @property
    def pairs(self) -> int:
        return pair_count(self.epochs)

    @property
    def repdyn_pair_ms(self) -> float:
        return 1e3 * self.repdyn_total[self.blocks[0]] / self.pairs

    @property
    def tc_pair_ms(self) -> float:
        return 1e3 * statistics.median(self.tc.seconds)

    @property
    def tc_total(self) -> float:
        return self.tc_pair_ms * self.pairs / 1e3


def vector_bound_mb(epochs: int, block: int, d: int) -> float:
    """The tile_job docstring's bound: float32 epoch vectors of a tile's two blocks (one for a diagonal tile)."""
    sides = epochs if block >= epochs else 2 * block
    return sides * d * 4 / 2**20


def measure_row(
    epochs: int,
    n: int,
    args: argparse.Namespace,
    cache: Path,
    ckpts: Mapping[int, Path],
    exact: Exact,
    rng: random.Random,
) -> Row:
    """One (E, N) row. repdyn repeats and slices of the torch-cka pairs alternate, so that both tools see
    the same spread of load from other jobs on a shared machine."""
    dataset = probe_artifact(cache, n, args.batch_size)
    row_ckpts = {e: ckpts[e] for e in range(epochs)}
    blocks = (epochs, max(1, epochs // 4))
    full = (epochs, n) == tuple(args.full)
    every_pair = [(i, j) for i in range(epochs) for j in range(i, epochs)]
    pairs = every_pair if full else rng.sample(every_pair, min(args.pairs, len(every_pair)))
    budget = None if full else args.pair_budget / args.repeats
    slice_min = math.ceil(args.min_pairs / args.repeats)
    bench = TorchCkaBench(dataset, row_ckpts, args.width)
    tc = TorchCkaRows([], {}, full)
    print(
        f"#   E={epochs} N={n}: {args.repeats} repdyn repeats alternating with torch-cka on "
        + ("all pairs" if full else f"up to {len(pairs)} random pairs / {args.pair_budget:.0f} s"),
        flush=True,
    )
    runs = []
    for repeat in range(args.repeats):
        scratch = Path(tempfile.mkdtemp(prefix=f"E{epochs}-N{n}-", dir=cache))
        runs.append(repdyn_once(dataset, row_ckpts, args.width, blocks, scratch))
        r = runs[-1]
        print(
            f"#     repdyn repeat {repeat + 1}: extract {r.extract_s:.2f} s, tiles "
            + ", ".join(f"{r.tiles_s[b]:.2f} s (block {b})" for b in blocks)
            + f", load {load()}",
            flush=True,
        )
        timed = len(tc.seconds)
        bench.time_pairs(pairs[repeat :: args.repeats], tc, budget, slice_min)
        print(
            f"#     torch-cka: {len(tc.seconds) - timed} pairs, median "
            f"{statistics.median(tc.seconds[timed:]):.2f} s, load {load()}",
            flush=True,
        )

    first = runs[0].matrices
    identical = all(np.array_equal(r.matrices[b][l], first[b][l]) for r in runs for b in blocks for l in first[b])
    tiling_diff = max(float(np.abs(first[blocks[0]][l] - first[blocks[1]][l]).max()) for l in first[blocks[0]])
    totals = {b: statistics.median(r.extract_s + r.tiles_s[b] + r.assemble_s[b] for r in runs) for b in blocks}
    parts = {
        "extract": statistics.median(r.extract_s for r in runs),
        "tiles": statistics.median(r.tiles_s[blocks[0]] for r in runs),
        "assemble": statistics.median(r.assemble_s[blocks[0]] for r in runs),
    }
    d = vector_length([args.batch_size] * (n // args.batch_size), ESTIMATOR)
    layers = list(first[blocks[0]])
    reference = {l: exact.matrices[l][:epochs, :epochs] for l in layers}
    diff_exact = {l: max(float(np.nanmax(np.abs(first[b][l] - reference[l]))) for b in blocks) for l in layers}
    diff_tc = {l: max(abs(first[blocks[0]][l][i, j] - v[l]) for (i, j), v in tc.values.items()) for l in layers}
    diff_tc_exact = {
        l: max(
            (abs(reference[l][i, j] - v[l]) for (i, j), v in tc.values.items() if np.isfinite(reference[l][i, j])),
            default=float("nan"),
        )
        for l in layers
    }
    return Row(
        epochs,
        n,
        blocks,
        totals,
        parts,
        {b: max(r.peak_mb[b] for r in runs) for b in blocks},
        {b: vector_bound_mb(epochs, b, d) for b in blocks},
        identical,
        tiling_diff,
        tc,
        diff_tc,
        diff_tc_exact,
        diff_exact,
        load(),
    )


# --------------------------------------------------------------------------------------------- report


def print_table(rows: Sequence[Row]) -> None:
    header = (
        f"{'E':>4} {'N':>5} {'pairs':>5} | {'repdyn s':>8} {'(E/4 s)':>8} {'ms/pair':>8} | "
        f"{'tc ms/pair':>10} {'timed':>7} {'tc total s':>11} | {'ratio':>6} | "
        f"{'max|rd-tc|':>10} {'max|rd-f64|':>11} | {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        timed = f"{len(r.tc.seconds)}{'*' if r.tc.full else ''}"
        total = f"{r.tc_total:.0f}{'' if r.tc.full else ' ext'}"
        print(
            f"{r.epochs:>4} {r.probe:>5} {r.pairs:>5} | {r.repdyn_total[r.blocks[0]]:>8.2f} "
            f"{r.repdyn_total[r.blocks[1]]:>8.2f} {r.repdyn_pair_ms:>8.1f} | {r.tc_pair_ms:>10.0f} {timed:>7} "
            f"{total:>11} | {r.tc_pair_ms / r.repdyn_pair_ms:>5.0f}x | {max(r.diff_tc.values()):>10.1e} "
            f"{max(r.diff_exact.values()):>11.1e} | {r.load:>5}"
        )
    print("timed: torch-cka pairs timed (* = all pairs, total measured; otherwise 'ext' = median x pairs).")
    print("repdyn s: extraction + tiles + assembly, block E (one tile); (E/4 s): same extraction, block E/4.")


def print_details(rows: Sequence[Row], exact: Mapping[int, Exact]) -> None:
    print("\nper-row details (medians over repeats):")
    for r in rows:
        p = r.repdyn_parts
        print(
            f"  E={r.epochs:<3} N={r.probe:<5} repdyn: extract {p['extract']:.2f} s "
            f"({1e3 * p['extract'] / r.epochs:.0f} "
            f"ms/epoch), tiles {p['tiles']:.2f} s, assembly {p['assemble']:.2f} s; block {r.blocks[1]}: "
            f"{r.repdyn_total[r.blocks[1]] - r.repdyn_total[r.blocks[0]]:+.2f} s; repeats bit-identical: "
            f"{r.repeats_identical}; max |block E - block E/4| = {r.tiling_diff:.1e}"
        )
        print(
            f"  {'':<14}tile stage, peak RSS above its start: "
            + ", ".join(
                f"{r.peak_mb[b]:.0f} MB at block {b} (documented bound: {r.vector_bound_mb[b]:.0f} MB of "
                "float32 vectors + a constant)"
                for b in r.blocks
            )
        )
    print("\nper-layer accuracy (max over rows; tc = torch-cka on its timed pairs, f64 = exact float64 everywhere):")
    layers = list(rows[0].diff_exact)
    print(f"  {'N':>5} {'layer':<7} {'|rd-tc|':>9} {'|tc-f64|':>9} {'|rd-f64|':>9} {'offset':>8}")
    for n in sorted({r.probe for r in rows}):
        of_n = [r for r in rows if r.probe == n]
        for layer in layers:
            print(
                f"  {n:>5} {layer:<7} {max(r.diff_tc[layer] for r in of_n):>9.1e} "
                f"{max(r.diff_tc_exact[layer] for r in of_n):>9.1e} {max(r.diff_exact[layer] for r in of_n):>9.1e} "
                f"{exact[n].offset_ratio[layer]:>8.2g}"
            )
    print(
        "  offset = max over epochs and batches of n|mean|^2 / |X - mean|^2: large values make torch-cka's "
        "uncentred float32 Grams cancel (docs/algorithms.md §1.6)."
    )


def print_validation(rows: Sequence[Row], rng: random.Random, subsample: int) -> None:
    for r in rows:
        if not r.tc.full:
            continue
        measured = sum(r.tc.seconds)
        sample = rng.sample(r.tc.seconds, min(subsample, len(r.tc.seconds)))
        from_sample = statistics.median(sample) * r.pairs
        print(
            f"\nextrapolation check (E={r.epochs}, N={r.probe}): all {r.pairs} pairs took {measured:.1f} s; "
            f"median x pairs = {r.tc_total:.1f} s ({100 * (r.tc_total / measured - 1):+.1f}%); from a random "
            f"{len(sample)}-pair sample: {from_sample:.1f} s ({100 * (from_sample / measured - 1):+.1f}%)."
        )
        same_n = [o for o in rows if o.probe == r.probe and o is not r]
        for o in same_n:
            print(
                f"  per-pair median at E={o.epochs} ({len(o.tc.seconds)} pairs): {o.tc_pair_ms:.0f} ms vs "
                f"{r.tc_pair_ms:.0f} ms here (torch-cka's per-pair cost does not depend on E)."
            )


def print_targets(rows: Sequence[Row], exact: Mapping[int, Exact], target_epochs: int = 32) -> None:
    print("\ntargets (issue 3, item 7; issue 16, item 3):")
    for r in rows:
        if r.epochs == 256 and r.probe == 2048:
            ratio = r.tc_pair_ms / r.repdyn_pair_ms
            print(
                f"  ratio at E=256, N=2048 (the paper's 4 x 512 probe set): {ratio:.0f}x (target >= 1000x): "
                f"{'met' if ratio >= 1000 else 'NOT met'}"
            )
    for r in rows:
        if r.epochs == target_epochs:
            ratio = r.tc_pair_ms / r.repdyn_pair_ms
            print(
                f"  ratio at E={r.epochs}, N={r.probe}: {ratio:.0f}x (target >= 50x): "
                f"{'met' if ratio >= 50 else 'NOT met'}"
            )
    for n in sorted({r.probe for r in rows}):
        ratios = [
            r.tc_pair_ms / r.repdyn_pair_ms for r in sorted((r for r in rows if r.probe == n), key=lambda r: r.epochs)
        ]
        if len(ratios) > 1:
            grows = all(b > a for a, b in itertools.pairwise(ratios))
            print(
                f"  ratio grows with E at N={n}: {' -> '.join(f'{x:.0f}x' for x in ratios)}: {'yes' if grows else 'NO'}"
            )
    worst_exact = max(max(r.diff_exact.values()) for r in rows)
    print(
        f"  max |repdyn - exact float64| = {worst_exact:.1e} (target <= 1e-6): "
        f"{'met' if worst_exact <= 1e-6 else 'NOT met'}"
    )
    good = [(r, l) for r in rows for l in r.diff_tc if exact[r.probe].offset_ratio[l] <= WELL_CONDITIONED_OFFSET]
    worst_good = max((r.diff_tc[l] for r, l in good), default=float("nan"))
    print(
        f"  max |repdyn - torch-cka| on well-conditioned layers (offset <= {WELL_CONDITIONED_OFFSET:g}; "
        f"{len(good)} of {sum(len(r.diff_tc) for r in rows)} row-layers) = {worst_good:.1e} (target <= 1e-4): "
        f"{'met' if worst_good <= 1e-4 else 'NOT met'}"
    )
    for n in sorted({r.probe for r in rows}):
        for layer, ratio in exact[n].offset_ratio.items():
            if ratio > WELL_CONDITIONED_OFFSET:
                of_n = [r for r in rows if r.probe == n]
                print(
                    f"    excluded N={n} {layer} (offset {ratio:.3g}): |repdyn - torch-cka| up to "
                    f"{max(r.diff_tc[layer] for r in of_n):.1e}, |torch-cka - exact| up to "
                    f"{max(r.diff_tc_exact[layer] for r in of_n):.1e}, |repdyn - exact| up to "
                    f"{max(r.diff_exact[layer] for r in of_n):.1e}"
                )


# --------------------------------------------------------------------------------------------- tile kernel


def kernel_rates(epochs: int, d: int, repeats: int) -> dict[str, float]:
    """GFLOP/s of a diagonal tile (`diagonal_tile_cka`, symmetric product) and of a general tile
    (`tile_products`), both float64 accumulation on float32 epoch vectors (E, d), beside a bare float64
    GEMM of the same (E, d) x (d, E) product on operands already in float64 (no conversion, no
    chunking): the kernel's ceiling on this machine. Interleaved rounds, medians.

    Rates count the 2·E²·d flops of the full product, so the symmetric tile may exceed the bare GEMM;
    `executed` is the symmetric tile's own flop count (torch's FlopCounterMode) per second.
    """
    from torch.utils.flop_counter import FlopCounterMode

    block = torch.randn(epochs, d, generator=torch.Generator().manual_seed(0))
    wide = block.double()
    runs = {
        "diagonal tile (symmetric)": lambda: diagonal_tile_cka(block, "float64"),
        "general tile": lambda: tile_products(block, block, "float64"),
        "bare float64 GEMM": lambda: wide @ wide.T,
    }
    with FlopCounterMode(display=False) as counter:
        runs["diagonal tile (symmetric)"]()
    executed = counter.get_total_flops()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeats + 1):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            if round_:
                times[name].append(time.perf_counter() - started)
    flops = 2 * epochs * epochs * d
    rates = {name: flops / statistics.median(t) / 1e9 for name, t in times.items()}
    rates["diagonal tile, executed"] = executed / statistics.median(times["diagonal tile (symmetric)"]) / 1e9
    return rates


def print_kernel(rates: Mapping[str, float], epochs: int, d: int) -> None:
    print(f"\ntile kernel, E = {epochs}, d = {d:,} (float64 accumulation), GFLOP/s of the full 2·E²·d product:")
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:>8.1f}")
    bare = rates["bare float64 GEMM"]
    print(
        f"  general tile at {100 * rates['general tile'] / bare:.0f}% of the bare GEMM; the symmetric diagonal "
        f"tile delivers {rates['diagonal tile (symmetric)'] / rates['general tile']:.2f}x the general tile"
    )


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--epochs", type=int, nargs="+", default=[8, 32], help="grid sizes E (checkpoints 0..E-1)")
    p.add_argument("--probe", type=int, nargs="+", default=[512, 2048], help="probe-set sizes N")
    p.add_argument("--batch-size", type=int, default=512, help="probe batch size (N must be a multiple)")
    p.add_argument("--width", type=int, default=8, help="ResNet-18 width k")
    p.add_argument("--repeats", type=int, default=3, help="repdyn repeats (median reported)")
    p.add_argument("--pairs", type=int, default=30, help="torch-cka: most random pairs timed per row")
    p.add_argument("--pair-budget", type=float, default=60.0, help="torch-cka: stop sampling a row after this many s")
    p.add_argument("--min-pairs", type=int, default=5, help="torch-cka: fewest pairs timed per row")
    p.add_argument(
        "--full",
        type=int,
        nargs=2,
        default=[8, 512],
        metavar=("E", "N"),
        help="the row whose torch-cka pairs are all timed, to check the extrapolation (0 0: none)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    p.add_argument("--seed", type=int, default=0, help="seed of the pair sample")
    p.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "repdyn-bench-cka",
        help="cache of datasets and checkpoints; scratch stores are deleted after each repeat",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    p.add_argument("--train-subset", type=int, default=2000, help="training images of the benchmarked run")
    p.add_argument("--test-subset", type=int, default=1000, help="test images of its per-epoch metrics")
    p.add_argument(
        "--exact-epochs",
        type=int,
        default=64,
        help="above this E, the float64 reference covers a random sample of this many epochs only",
    )
    p.add_argument("--kernel", action="store_true", help="also time the tile kernel beside a bare GEMM")
    p.add_argument("--kernel-only", action="store_true", help="only the tile kernel beside a bare GEMM")
    args = p.parse_args(argv)
    for name in ("epochs", "probe"):
        if any(v < 2 for v in getattr(args, name)):
            raise ValueError(f"--{name} values must be >= 2, got {getattr(args, name)}")
    if args.batch_size < 4:
        raise ValueError(f"--batch-size must be >= 4 (the unbiased estimator needs n >= 4), got {args.batch_size}")
    bad = [n for n in args.probe if n % args.batch_size]
    if bad:
        raise ValueError(f"--probe sizes {bad} are not multiples of --batch-size {args.batch_size}")
    for name in ("repeats", "pairs", "min_pairs", "threads", "width"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def to_json(rows: Sequence[Row], exact: Mapping[int, Exact], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": [
            {
                "E": r.epochs,
                "N": r.probe,
                "pairs": r.pairs,
                "repdyn_total_s": r.repdyn_total[r.blocks[0]],
                "repdyn_total_block_quarter_s": r.repdyn_total[r.blocks[1]],
                "repdyn_parts_s": r.repdyn_parts,
                "repdyn_ms_per_pair": r.repdyn_pair_ms,
                "torch_cka_ms_per_pair": r.tc_pair_ms,
                "torch_cka_pairs_timed": len(r.tc.seconds),
                "torch_cka_all_pairs": r.tc.full,
                "torch_cka_pair_s": r.tc.seconds,
                "torch_cka_total_s": r.tc_total,
                "ratio": r.tc_pair_ms / r.repdyn_pair_ms,
                "max_abs_diff_torch_cka": r.diff_tc,
                "max_abs_diff_torch_cka_vs_exact": r.diff_tc_exact,
                "max_abs_diff_exact": r.diff_exact,
                "tile_peak_rss_mb": r.peak_mb,
                "repeats_identical": r.repeats_identical,
                "load1": r.load,
            }
            for r in rows
        ],
        "offset_ratio": {n: e.offset_ratio for n, e in exact.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    SUBSETS.update(train=args.train_subset, test=args.test_subset)
    torch.set_num_threads(args.threads)
    if args.kernel_only:
        d = 8 * 8192
        print(f"# torch {torch.__version__}, {args.threads} torch threads, load {load()}")
        print_kernel(kernel_rates(max(args.epochs), d, args.repeats), max(args.epochs), d)
        print(f"# load {load()}")
        return 0
    from importlib.metadata import version

    began = time.perf_counter()
    print(
        f"# bench/cka.py  torch {torch.__version__}, torch-cka {version('torch-cka')}, {args.threads} torch threads, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load {load()}"
    )
    print(
        f"# width-{args.width} preact_resnet18 on Fashion-MNIST ({SUBSETS['train']} train images, Adam lr 1e-3), "
        f"estimator {ESTIMATOR}, probe batches of {args.batch_size}, E in {args.epochs}, N in {args.probe}"
    )
    cache = cache_dir(args.work, args.width, args.batch_size)
    cache.mkdir(parents=True, exist_ok=True)
    ckpts = checkpoints(cache, args.width, probe_artifact(cache, args.batch_size, args.batch_size), max(args.epochs))
    print(f"# setup done in {time.perf_counter() - began:.0f} s (cached under {cache})", flush=True)
    rng = random.Random(args.seed)
    rows, exact = [], {}
    for n in args.probe:
        started = time.perf_counter()
        check = 3 if n == args.probe[0] else 0  # one literal cka_matrix check is enough; it holds E x N x p floats
        sample = None
        if max(args.epochs) > args.exact_epochs:  # first and last epoch, and a random sample between
            inner = random.Random(args.seed + 1).sample(range(1, max(args.epochs) - 1), args.exact_epochs - 2)
            sample = [0, max(args.epochs) - 1, *inner]
        exact[n] = exact_matrices(probe_artifact(cache, n, args.batch_size), ckpts, args.width, check, sample)
        print(
            f"# exact float64 reference N={n}: {time.perf_counter() - started:.0f} s (not timed)"
            + (
                f"; streamed vs literal cka_matrix on epochs 0-{check - 1}: max diff {exact[n].self_check:.1e}"
                if check
                else ""
            ),
            flush=True,
        )
        release_memory()
        for epochs in sorted(args.epochs):
            rows.append(measure_row(epochs, n, args, cache, ckpts, exact[n], rng))
            release_memory()
    print(
        f"\n# results (load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"wall time of this run {time.perf_counter() - began:.0f} s)\n"
    )
    print_table(rows)
    print_details(rows, exact)
    print_validation(rows, rng, subsample=10)
    print_targets(rows, exact)
    if args.kernel:
        d = 8 * 8192  # 1/8 of the 4 x 512 probe set's D = 523,264: same kernel, seconds per round
        print_kernel(kernel_rates(max(args.epochs), d, args.repeats), max(args.epochs), d)
    if args.json is not None:
        atomic.write_json(args.json, to_json(rows, exact, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
