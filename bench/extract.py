"""Where the extraction job's time goes, per epoch: the probe forward by memory layout and chunk size, and the
Grams by product (issue 16: extraction is 90 % of repdyn's CKA time at E = 256).

    python bench/extract.py [--width 8] [--probe 2048] [--chunks 32 64 128 256 512] [--repeats 5]

One checkpoint of a width-k pre-activation ResNet-18 on the bench/cka.py probe set (B x 512 Fashion-MNIST test
images), 2 torch threads. Rows, each the median of --repeats interleaved rounds:
- forward: the whole probe set, eval mode, every analysed layer tapped; contiguous (NCHW) in batches of 512
  (what extraction did before), and channels-last in chunks of each --chunks size;
- Grams: every layer's batch-centred Gram of every probe batch (`centred_gram`, `pack_upper`), from the
  contiguous outputs;
- extract_part: the job itself (forward, Grams, Zarr writes) on --epochs checkpoints, s per epoch; with
  --baseline-src, the job of this checkout and of another checkout's src, each in fresh processes,
  alternately for --repeats rounds (medians and their ratio, measured side by side);
- per-epoch breakdown (--breakdown): what extraction did per epoch before and does now besides the forward:
  build the network and load its checkpoint (before) or load the weights into the network built once (now);
  write the epoch's Grams zstd-compressed, looking each array up per write (before), or uncompressed into
  arrays opened once (now); beside the forward and Grams (`probe_grams`) themselves;
- codecs (--codecs): compressed size and single-thread compress / decompress speed of this epoch's real
  packed Grams under Blosc lz4 / zstd with byte or bit shuffle (how the Gram store's codec was chosen).
Agreement: the largest difference between the packed Grams of a contiguous forward and of a channels-last one
(the smallest chunk), and of the job's own `probe_grams` (whichever layout `forward_layout` picks), relative to
each Gram's largest entry.
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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import zarr

REPO_SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cka as bench_cka  # noqa: E402  (bench/cka.py: the cached model and probe set)
from drs import interleaved_times  # noqa: E402

from repdyn.cka.grams import centred_gram, pack_upper  # noqa: E402
from repdyn.data import DatasetArtifact  # noqa: E402
from repdyn.extract import grams_store as store  # noqa: E402
from repdyn.extract.job import extract_part, feature_rows, forward_batch, forward_layout, probe_grams  # noqa: E402
from repdyn.models import LayerTap  # noqa: E402
from repdyn.train import load_checkpoint_model  # noqa: E402
from repdyn.train.checkpoints import load_checkpoint  # noqa: E402


def median_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each function over interleaved rounds."""
    return {name: statistics.median(values) for name, values in interleaved_times(fns, repeats).items()}


def tapped_outputs(
    model: torch.nn.Module, images: torch.Tensor, layers: list[str], layout: torch.memory_format, chunk: int
) -> list[dict[str, torch.Tensor]]:
    """Per probe batch, the tapped layers' outputs (what the Grams are formed from)."""
    model.to(memory_format=layout)
    out = []
    with torch.no_grad(), LayerTap(model, layers, flatten=False) as tap:
        for batch in images:
            out.append(forward_batch(model, tap, batch, layout, chunk))
    return out


def gram_rows(outputs: list[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
    return [feature_rows(t) for batch in outputs for t in batch.values()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--probe", type=int, default=2048, help="probe images (batches of 512)")
    p.add_argument("--chunks", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=8, help="checkpoints timed through extract_part")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "repdyn-bench-cka")
    p.add_argument("--breakdown", action="store_true", help="also time the per-epoch steps, before and now")
    p.add_argument("--codecs", action="store_true", help="also measure codecs on the real Grams")
    p.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="another checkout's src: time its extract_part beside this one's, in fresh processes",
    )
    p.add_argument("--job", default=None, help=argparse.SUPPRESS)  # inside a fresh process (--baseline-src)
    p.add_argument("--skip-layouts", action="store_true", help="skip the layout and chunk table")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.job is not None:
        return job_process(json.loads(args.job))
    bench_cka.SUBSETS.update(train=100, test=100)  # bench/cka.py's --train-subset 100 --test-subset 100
    cache = bench_cka.cache_dir(args.work, args.width, 512)
    cache.mkdir(parents=True, exist_ok=True)
    train = bench_cka.probe_artifact(cache, 512, 512)
    data_path = bench_cka.probe_artifact(cache, args.probe, 512)
    ckpts = bench_cka.checkpoints(cache, args.width, train, args.epochs)
    dataset = DatasetArtifact.load(data_path)
    run = bench_cka.run_settings(args.width)
    model = load_checkpoint_model(ckpts[args.epochs - 1], run, dataset, device="cpu").eval()
    layers = list(model.analysed_layers)
    probe = dataset.probe_images()
    images = [dataset.normalize(probe[b]) for b in range(probe.shape[0])]
    print(
        f"# bench/extract.py  torch {torch.__version__}, {args.threads} threads, width-{args.width} preact_resnet18, "
        f"N = {args.probe} probe images, epoch {args.epochs - 1}, load {bench_cka.load()}"
    )

    if not args.skip_layouts:
        layouts(args, model, images, layers, probe, dataset)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        extract_part(
            run,
            data_path,
            ckpts,
            Path(tmp) / "extract",
            bench_cka.EXTRACT_SETTINGS,
            {"run": "bench", "extract": "bench"},
        )
        job_s = (time.perf_counter() - started) / args.epochs
    print(f"\n{'extract_part (whole job)':<48} {job_s:8.3f} s per epoch ({args.epochs} epochs)")
    if args.baseline_src:
        request = {"run": run, "data": str(data_path), "checkpoints": {e: str(c) for e, c in ckpts.items()}}
        side_by_side(request, args.baseline_src, args.epochs, args.threads, args.repeats)
    if args.breakdown or args.codecs:
        result = probe_grams(model, probe, dataset.normalize, layers, torch.device("cpu"))
    if args.breakdown:
        steps = breakdown(ckpts[args.epochs - 1], run, dataset, model, probe, result, args.repeats)
        print(f"\n{'per-epoch step':<48} {'s':>8}")
        for name, seconds in steps.items():
            print(f"{name:<48} {seconds:8.4f}")
    if args.codecs:
        print_codecs([entry["grams"][b] for entry in result.values() for b in range(entry["grams"].shape[0])])
    return 0


def job_process(request: dict) -> int:
    """Inside a fresh process: extract_part of the repdyn on PYTHONPATH; prints its wall seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        extract_part(
            request["run"],
            request["data"],
            {int(e): c for e, c in request["checkpoints"].items()},
            Path(tmp) / "extract",
            bench_cka.EXTRACT_SETTINGS,
            {"run": "bench", "extract": "bench"},
        )
        print(time.perf_counter() - started)
    return 0


def job_seconds(request: dict, src: Path, threads: int) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--threads", str(threads), "--job", json.dumps(request)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"extract_part from {src} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def side_by_side(request: dict, baseline_src: Path, epochs: int, threads: int, repeats: int) -> None:
    """This checkout's extract_part and the baseline's, alternately in fresh processes: median s per epoch."""
    sources = {"this checkout": REPO_SRC, f"baseline {baseline_src}": baseline_src}
    times: dict[str, list[float]] = {name: [] for name in sources}
    for _ in range(repeats):
        for name, src in sources.items():
            times[name].append(job_seconds(request, src, threads) / epochs)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{'extract_part, fresh process (median of ' + str(repeats) + ')':<48} {'s/epoch':>8}  rounds")
    for name, median in medians.items():
        print(f"{name:<48} {median:8.3f}  {' '.join(f'{t:.3f}' for t in times[name])}")
    this, baseline = medians.values()
    print(f"{'this / baseline':<48} {this / baseline:8.3f}")


def layouts(args, model, images, layers, probe, dataset) -> None:
    """The forward by layout and chunk size, the Grams, and their agreement (the table of --chunks)."""
    forwards = {"contiguous, batch 512": lambda: tapped_outputs(model, images, layers, torch.contiguous_format, 512)}
    for chunk in args.chunks:
        forwards[f"channels-last, chunk {chunk}"] = lambda c=chunk: tapped_outputs(
            model, images, layers, torch.channels_last, c
        )
    forward_s = median_seconds(forwards, args.repeats)
    rows = gram_rows(tapped_outputs(model, images, layers, torch.contiguous_format, 512))
    gram_s = median_seconds({"Grams (GEMM + pack)": lambda: [pack_upper(centred_gram(r)) for r in rows]}, args.repeats)
    old = [pack_upper(centred_gram(r)) for r in rows]
    new = [
        pack_upper(centred_gram(r))
        for r in gram_rows(tapped_outputs(model, images, layers, torch.channels_last, min(args.chunks)))
    ]
    agreement = max(float((a - b).abs().max() / a.abs().max()) for a, b in zip(old, new))
    job = probe_grams_outputs(model, probe, dataset, layers)
    layout_name = str(forward_layout(model, torch.device("cpu"))).removeprefix("torch.")
    job_agreement = max(float((a - b).abs().max() / a.abs().max()) for a, b in zip(old, job))
    print(f"\n{'step':<30} {'s per epoch':>12} {'vs first':>9}")
    for table in (forward_s, gram_s):
        first = next(iter(table.values()))
        for name, seconds in table.items():
            print(f"{name:<30} {seconds:12.3f} {first / seconds:8.2f}x")
    print(
        f"\nmax relative difference of the packed Grams, contiguous vs channels-last chunk {min(args.chunks)}: "
        f"{agreement:.1e}; vs the job's probe_grams ({layout_name}): {job_agreement:.1e}"
    )


def breakdown(
    ckpt: Path,
    run: dict,
    dataset: DatasetArtifact,
    model: torch.nn.Module,
    probe: torch.Tensor,
    result: dict,
    repeats: int,
) -> dict[str, float]:
    """Median seconds of each per-epoch step of extraction, as it was and as it is."""
    layers = list(model.analysed_layers)
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for name, compress in (("before", True), ("now", False)):
            store.GRAM_COMPRESS = compress
            stores[name] = store.create_grams_store(
                Path(tmp) / name, list(range(repeats)), layers, {}, result, dataset.probe_index.numpy(), {}
            )
        group = zarr.open_group(str(Path(tmp) / "before"), mode="r+")
        position = {"before": 0, "now": 0}

        def write_before() -> None:  # the extraction loop before: look each array up, zstd chunks
            for layer, entry in result.items():
                for kind, values in entry.items():
                    group[f"{kind}/{layer}"][position["before"] % repeats] = values
            position["before"] += 1

        def write_now() -> None:
            store.write_epoch(stores["now"], position["now"] % repeats, result)
            position["now"] += 1

        steps = {
            "build network + load checkpoint (before)": lambda: load_checkpoint_model(ckpt, run, dataset),
            "load weights into the built network (now)": lambda: model.load_state_dict(load_checkpoint(ckpt)["model"]),
            "probe forward + Grams (probe_grams)": lambda: probe_grams(
                model, probe, dataset.normalize, layers, torch.device("cpu")
            ),
            "write Grams: zstd, array looked up (before)": write_before,
            "write Grams: uncompressed, arrays kept (now)": write_now,
        }
        return median_seconds(steps, repeats)


def print_codecs(chunks: list[np.ndarray]) -> None:
    """Size and single-thread speed of Blosc codecs on the epoch's packed Grams (one chunk per batch Gram)."""
    from numcodecs import Blosc

    raw = sum(c.nbytes for c in chunks)
    print(f"\n{'codec (Blosc)':<26} {'size':>6} {'compress MB/s':>14} {'decompress MB/s':>16}")
    for name, cname, level, shuffle in (
        ("lz4, byte shuffle", "lz4", 5, Blosc.SHUFFLE),
        ("lz4, bit shuffle", "lz4", 5, Blosc.BITSHUFFLE),
        ("zstd 1, byte shuffle", "zstd", 1, Blosc.SHUFFLE),
        ("zstd 3, byte shuffle (before)", "zstd", 3, Blosc.SHUFFLE),
        ("zstd 3, bit shuffle", "zstd", 3, Blosc.BITSHUFFLE),
    ):
        codec = Blosc(cname, level, shuffle, blocksize=0)
        encoded = [codec.encode(c) for c in chunks]
        times = interleaved_times(
            {
                "encode": lambda codec=codec: [codec.encode(c) for c in chunks],
                "decode": lambda codec=codec, encoded=encoded: [codec.decode(e) for e in encoded],
            },
            3,
        )
        print(
            f"{name:<26} {sum(len(e) for e in encoded) / raw:6.3f} "
            f"{raw / statistics.median(times['encode']) / 1e6:14.0f} "
            f"{raw / statistics.median(times['decode']) / 1e6:16.0f}"
        )
    copy = statistics.median(interleaved_times({"copy": lambda: [c.copy() for c in chunks]}, 3)["copy"])
    print(f"{'none (now): a copy':<26} {1:6.3f} {raw / copy / 1e6:14.0f} {raw / copy / 1e6:16.0f}")


def probe_grams_outputs(
    model: torch.nn.Module, probe: torch.Tensor, dataset: DatasetArtifact, layers: list[str]
) -> list[torch.Tensor]:
    """The job's own packed Grams (probe_grams), in the order of gram_rows (batch-major, then layer)."""
    result = probe_grams(model, probe, dataset.normalize, layers, torch.device("cpu"))
    return [torch.from_numpy(result[layer]["grams"][b]) for b in range(probe.shape[0]) for layer in layers]


if __name__ == "__main__":
    sys.exit(main())
