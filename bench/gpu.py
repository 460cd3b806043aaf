"""GPU check: training, extraction, CKA tiles and plane evaluation of a width-64 ResNet-18 on CUDA, one JSON.

    python bench/gpu.py [--out gpu.json]            # on a CUDA machine: a few minutes, width 64
    python bench/gpu.py --tiny --out tiny.json       # CPU, width 2, seconds: the CI version
                                                      # (tests/pipeline/test_gpu_bench.py)

Runs the workflow's own job functions on real Fashion-MNIST (Debian package dataset-fashion-mnist) and checks
the CUDA paths they rely on, each check a named boolean in the JSON ("checks"):
- determinism: two trainings of the same epochs give bit-identical checkpoints
(repdyn.machine.devices.deterministic_kernels
  is on inside training and restored after it; on the CPU, whose kernels are deterministic, it changes nothing);
- Grams in IEEE float32: inside extraction's precision guard float32 matmuls are not TF32, a Gram on the device
  matches a float64 Gram to float32 accuracy (TF32 would miss by ~1e-3), and the settings are restored after;
- autocast: under bf16 autocast the convolutions run in bfloat16, probe logits stay float32, and bf16 plane
  predictions agree with float32 ones on most points.
Throughputs ("rates"): training images/s, extraction epochs/s and images/s, tile GFLOP/s of the symmetric
diagonal tile, a general tile and a bare GEMM, plane-evaluation points/s beside the bare forward's images/s
per precision and memory format. On the CPU (--tiny, or no CUDA) the same code runs at toy sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # benchmark the checkout it ships with

from repdyn.cka.grams import centred_gram, cuda_float32_matmul_is_ieee  # noqa: E402
from repdyn.cka.tiles import diagonal_tile_cka, tile_products  # noqa: E402
from repdyn.data import DatasetArtifact, prepare_dataset  # noqa: E402
from repdyn.drs.agreement import predict_planes  # noqa: E402
from repdyn.drs.probes import init_generator, init_probe  # noqa: E402
from repdyn.drs.selection import select_planes  # noqa: E402
from repdyn.extract.job import extract_part, float32_precision  # noqa: E402
from repdyn.machine.devices import deterministic_kernels  # noqa: E402
from repdyn.models import LayerTap  # noqa: E402
from repdyn.storage import atomic  # noqa: E402
from repdyn.train import init_run, load_checkpoint_model, train_segment  # noqa: E402

SIZES = {  # full: a few minutes on one GPU; tiny: seconds on a CPU
    "full": {
        "width": 64,
        "train": 2000,
        "epochs": 3,
        "probe_batches": 4,
        "tile_epochs": 256,
        "tile_d": 523_264,
        "planes": 20,
        "resolution": 50,
        "eval_batch": 4096,
        "repeats": 3,
    },
    "tiny": {
        "width": 2,
        "train": 100,
        "epochs": 1,
        "probe_batches": 1,
        "tile_epochs": 16,
        "tile_d": 4096,
        "planes": 1,
        "resolution": 8,
        "eval_batch": 32,
        "repeats": 1,
    },
}


def run_settings(width: int) -> dict[str, Any]:
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


def data_settings(train: int, probe_batches: int) -> dict[str, Any]:
    return {
        "dataset": "fashion_mnist",
        "root": None,
        "download": False,
        "image_size": 32,
        "train_subset": train,
        "test_subset": 100,
        "subset_seed": 0,
        "label_noise": 0.2,
        "noise_seed": 0,
        "probe": {"batches": probe_batches, "batch_size": 512 if probe_batches > 1 else 128, "seed": 0},
        "normalization": "auto",
    }


def synchronised(device: torch.device, fn: Callable[[], Any]) -> float:
    """Seconds of fn() with the device's queue drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def median_seconds(device: torch.device, fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (kernel choice, caches)
    return statistics.median(synchronised(device, fn) for _ in range(repeats))


# ------------------------------------------------------------------ stages


def training(work: Path, dataset: Path, size: dict, device: str) -> tuple[dict, dict, dict[int, Path]]:
    """Two identical trainings: images/s of the second, bit-identical checkpoints, the deterministic switch."""
    run = run_settings(size["width"])
    epochs = size["epochs"]
    paths = []
    seconds = 0.0
    for attempt in range(2):
        out = work / f"train{attempt}"
        init_run(run, dataset, out / "init", device)
        dev = torch.device(device)
        seconds = synchronised(
            dev,
            lambda out=out: train_segment(
                run, dataset, out / "init" / "state.pt", epochs, list(range(1, epochs + 1)), out / "seg", device
            ),
        )
        paths.append(out)
    ckpts = {0: paths[1] / "init" / "checkpoints" / "e000000.pt"}
    ckpts |= {e: paths[1] / "seg" / "checkpoints" / f"e{e:06d}.pt" for e in range(1, epochs + 1)}
    identical = all(
        _same_checkpoint(paths[0] / "seg" / "checkpoints" / f"e{e:06d}.pt", ckpts[e]) for e in range(1, epochs + 1)
    )
    dev = torch.device(device)
    before = _deterministic_flags()
    with deterministic_kernels(dev):
        inside = _deterministic_flags()
    restored = _deterministic_flags() == before
    # CPU kernels are deterministic already: there the switch must leave every setting as it was.
    inside_ok = (
        inside == before
        if dev.type != "cuda"
        else inside["algorithms"] and inside["cudnn_deterministic"] and not inside["cudnn_benchmark"]
    )
    train_images = int(DatasetArtifact.load(dataset).train_images.shape[0])
    rates = {"train_images_per_s": epochs * train_images / seconds}
    checks = {
        "training_bit_identical": identical,
        "deterministic_kernels_on_inside": bool(inside_ok),
        "deterministic_kernels_restored": restored,
    }
    return rates, checks, ckpts


def _same_checkpoint(a: Path, b: Path) -> bool:
    sa, sb = torch.load(a, map_location="cpu"), torch.load(b, map_location="cpu")
    ma, mb = sa.get("model", sa), sb.get("model", sb)
    return ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)


def _deterministic_flags() -> dict[str, bool]:
    return {
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "algorithms": torch.are_deterministic_algorithms_enabled(),
    }


def extraction(work: Path, dataset: Path, size: dict, ckpts: dict[int, Path], device: str) -> tuple[dict, dict]:
    """extract_part over the checkpoints; the Gram precision guard checked on the device."""
    settings = {"raw_max_features": 1024, "full_gram": False, "tf32": False}
    dev = torch.device(device)
    seconds = synchronised(
        dev,
        lambda: extract_part(
            run_settings(size["width"]),
            dataset,
            ckpts,
            work / "extract",
            settings,
            {"run": "gpu-check", "extract": "gpu-check"},
            device,
        ),
    )
    probe = DatasetArtifact.load(dataset).probe_index
    images = len(ckpts) * int(probe.shape[0] * probe.shape[1])
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(512, 4096, generator=generator) + 3.0).to(dev)
    with float32_precision(False):
        ieee_inside = dev.type != "cuda" or cuda_float32_matmul_is_ieee()
        gram = centred_gram(x).double().cpu()
    exact = centred_gram(x.double().cpu())
    error = float((gram - exact).abs().max() / exact.abs().max())
    if dev.type == "cuda":
        before = torch.backends.cuda.matmul.fp32_precision
        with float32_precision(False):
            pass
        restored = torch.backends.cuda.matmul.fp32_precision == before
    else:
        restored = True
    rates = {"extract_epochs_per_s": len(ckpts) / seconds, "extract_images_per_s": images / seconds}
    checks = {
        "gram_matmul_ieee_inside_guard": bool(ieee_inside),
        "gram_relative_error_below_1e-5": error < 1e-5,
        "gram_precision_restored": restored,
    }
    return rates | {"gram_relative_error": error}, checks


def tiles(size: dict, device: str) -> dict:
    """GFLOP/s (of the full 2·E²·d product) of the symmetric diagonal tile, a general tile and a bare GEMM."""
    dev = torch.device(device)
    e, d = size["tile_epochs"], size["tile_d"]
    block = torch.randn(e, d, generator=torch.Generator().manual_seed(0)).to(dev)
    wide = block.double()
    flops = 2 * e * e * d
    out = {}
    for name, fn in (
        ("diagonal_tile", lambda: diagonal_tile_cka(block, "float64")),
        ("diagonal_tile_chunked_float32", lambda: diagonal_tile_cka(block, "chunked_float32")),
        ("general_tile", lambda: tile_products(block, block, "float64")),
        ("bare_float64_gemm", lambda: wide @ wide.T),
    ):
        out[f"{name}_gflops"] = flops / median_seconds(dev, fn, size["repeats"]) / 1e9
    return out


def plane_evaluation(dataset_path: Path, size: dict, ckpt: Path, device: str) -> tuple[dict, dict]:
    """predict_planes beside the bare forward, per precision and memory format; bf16 agreement and dtypes."""
    dev = torch.device(device)
    dataset = DatasetArtifact.load(dataset_path)
    model = load_checkpoint_model(ckpt, run_settings(size["width"]), dataset, device=device).eval()
    layers = model.analysed_layers
    images = dataset.normalize(dataset.train_images)
    planes = select_planes(images, dataset.train_labels, size["planes"], 0, resolution=size["resolution"])
    with torch.inference_mode(), LayerTap(model, layers) as tap:
        model(images[:2].to(dev))
        dims = {name: out.shape[1] for name, out in tap.outputs.items()}
    probes = {n: init_probe(p, dataset.num_classes, init_generator(0, i)) for i, (n, p) in enumerate(dims.items())}
    flat = torch.cat([x for _, x in planes.iter_flat(size["eval_batch"])]).to(dev)
    rates, preds = {}, {}
    for precision, dtype in (("float32", None), ("bf16", torch.bfloat16)):
        for fmt, layout in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):

            def forward(dtype=dtype, layout=layout):
                batches = [b.contiguous(memory_format=layout) for b in flat.split(size["eval_batch"])]
                model.to(memory_format=layout)
                with (
                    torch.inference_mode(),
                    torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None),
                ):
                    for b in batches:
                        model(b)
                model.to(memory_format=torch.contiguous_format)

            def evaluate(dtype=dtype, fmt=fmt, precision=precision):
                preds[(precision, fmt)] = predict_planes(
                    model, layers, probes, planes, size["eval_batch"], dev, autocast_dtype=dtype, memory_format=fmt
                )

            rates[f"forward_{precision}_{fmt}_images_per_s"] = len(flat) / median_seconds(dev, forward, size["repeats"])
            rates[f"planes_{precision}_{fmt}_points_per_s"] = len(flat) / median_seconds(dev, evaluate, size["repeats"])
    agreement = float(
        np.mean(
            [np.mean(preds[("float32", "channels_last")][n] == preds[("bf16", "channels_last")][n]) for n in layers]
        )
    )
    formats_agree = float(
        np.mean(
            [np.mean(preds[("float32", "channels_last")][n] == preds[("float32", "contiguous")][n]) for n in layers]
        )
    )
    with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16), LayerTap(model, ["conv1"]) as tap:
        model(flat[:2])
        conv_dtype = tap.outputs["conv1"].dtype
    checks = {
        "autocast_convolutions_bf16": conv_dtype == torch.bfloat16,
        "bf16_predictions_agree_on_most_points": agreement > 0.8,
        "memory_formats_agree_in_float32": formats_agree > 0.99,
    }
    return rates | {"bf16_agreement": agreement, "float32_formats_agreement": formats_agree}, checks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="CPU, width 2, seconds (the CI version)")
    ap.add_argument("--device", default=None, help="default: cuda when available (never for --tiny), else cpu")
    ap.add_argument("--out", type=Path, default=Path("gpu-check.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = SIZES["tiny" if args.tiny else "full"]
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    began = time.perf_counter()
    report: dict[str, Any] = {
        "device": device,
        "sizes": size,
        "torch": torch.__version__,
        "machine": platform.node(),
        "cuda": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "rates": {},
        "checks": {},
    }
    with tempfile.TemporaryDirectory(prefix="repdyn-gpu-check-") as tmp:
        work = Path(tmp)
        dataset = work / "dataset.h5"
        prepare_dataset(data_settings(size["train"], size["probe_batches"]), dataset)
        for stage in ("training", "extraction", "tiles", "plane_evaluation"):
            started = time.perf_counter()
            if stage == "training":
                rates, checks, ckpts = training(work, dataset, size, device)
            elif stage == "extraction":
                rates, checks = extraction(work, dataset, size, ckpts, device)
            elif stage == "tiles":
                rates, checks = tiles(size, device), {}
            else:
                rates, checks = plane_evaluation(dataset, size, ckpts[max(ckpts)], device)
            report["rates"].update(rates)
            report["checks"].update(checks)
            print(f"# {stage}: {time.perf_counter() - started:.1f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    report["wall_s"] = time.perf_counter() - began
    report["all_checks_pass"] = all(report["checks"].values())
    atomic.write_json(args.out, report)
    print(json.dumps(report, indent=1))
    return 0 if report["all_checks_pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
