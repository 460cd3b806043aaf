"""How far `accumulate: chunked_float32` is from float64 accumulation, on real Grams at the paper's probe set.

    python bench/tile_accuracy.py [--width 2] [--epochs 8] [--synthetic-epochs 64] [--estimator minibatch_unbiased]

Real: the probe-set Grams of --epochs checkpoints of a width-k pre-activation ResNet-18 (bench/cka.py's cached
run, 4 x 512 Fashion-MNIST test images: D = 523,264 per layer for the unbiased estimators), every layer, as
extraction stores them (`probe_grams`, float32) and as a tile turns them into epoch vectors (`transform`).
Synthetic: --synthetic-epochs vectors of the same D that drift slowly (CKA 0.9-1.0 between epochs, the regime
where differences between epochs are small and rounding matters most): g_e = base + e/E * drift + noise.
For each, the largest |CKA(chunked_float32) - CKA(float64)| over all epoch pairs of the diagonal tile (the
symmetric kernel) and of the general kernel (the off-diagonal tiles). The error is per entry: it depends on
D and on the values, not on E, so a larger grid only takes the maximum over more entries of the same kind.

    python bench/tile_accuracy.py --skip-real --synthetic-epochs 0 --tile 1001 [--d 525312]

--tile E adds one off-diagonal tile at the paper grid's scale: rows are epochs [0, E) and columns [E, 2E) of a
slowly drifting synthetic sequence of 2E vectors of length --d (525,312: the paper grid's D per layer),
generated one 8192-column chunk at a time (nothing of size E x D is held), multiplied by the tiles' own
streamed kernel (`streamed_products`) once per accumulation. At E = 1001 that is 1e6 entries, 1.05e12
multiply-adds per mode: about 1-2 minutes per mode on 2 idle cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cka as bench_cka  # noqa: E402  (bench/cka.py: the cached model and probe set)

from repdyn.cka.tiles import (  # noqa: E402
    DEFAULT_CHUNK,
    cka_from_products,
    diagonal_tile_cka,
    row_sq_norms,
    streamed_products,
    tile_products,
)
from repdyn.cka.transforms import transform  # noqa: E402
from repdyn.data import DatasetArtifact  # noqa: E402
from repdyn.extract.job import probe_grams  # noqa: E402
from repdyn.train import load_checkpoint_model  # noqa: E402


def errors(block: torch.Tensor) -> dict[str, float]:
    """Largest |chunked_float32 - float64| CKA of the block with itself: symmetric kernel and general kernel."""
    out = {}
    exact = diagonal_tile_cka(block, "float64")
    out["diagonal"] = float((diagonal_tile_cka(block, "chunked_float32") - exact).abs().max())
    norms = row_sq_norms(block, "float64")
    general = cka_from_products(
        tile_products(block, block, "chunked_float32"),
        row_sq_norms(block, "chunked_float32"),
        row_sq_norms(block, "chunked_float32"),
    )
    out["general"] = float(
        (general - cka_from_products(tile_products(block, block, "float64"), norms, norms)).abs().max()
    )
    out["min_cka"] = float(exact.min())
    return out


def real_blocks(args: argparse.Namespace) -> dict[str, torch.Tensor]:
    """Per layer, the (epochs, D) float32 epoch vectors of the bench run's checkpoints."""
    bench_cka.SUBSETS.update(train=100, test=100)
    cache = bench_cka.cache_dir(args.work, args.width, 512)
    cache.mkdir(parents=True, exist_ok=True)
    train = bench_cka.probe_artifact(cache, 512, 512)
    data = DatasetArtifact.load(bench_cka.probe_artifact(cache, 2048, 512))
    checkpoints = bench_cka.checkpoints(cache, args.width, train, args.epochs)
    rows: dict[str, list[torch.Tensor]] = {}
    for epoch in range(args.epochs):
        model = load_checkpoint_model(checkpoints[epoch], bench_cka.run_settings(args.width), data)
        result = probe_grams(model, data.probe_images(), data.normalize, model.analysed_layers, torch.device("cpu"))
        sizes = [data.probe_index.shape[1]] * data.probe_index.shape[0]
        for layer, entry in result.items():
            grams = list(torch.from_numpy(entry["grams"]))
            rows.setdefault(layer, []).append(transform(grams, sizes, args.estimator, dtype=torch.float32))
    return {layer: torch.stack(vectors) for layer, vectors in rows.items()}


def synthetic_block(epochs: int, d: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(d, generator=generator, dtype=torch.float64)
    drift = torch.randn(d, generator=generator, dtype=torch.float64)
    steps = torch.linspace(0, 1, epochs, dtype=torch.float64)[:, None]
    noise = 0.05 * torch.randn(epochs, d, generator=generator, dtype=torch.float64)
    return (base + 0.3 * steps * drift + noise).float()


def drifting_chunks(first: int, epochs: int, total: int, d: int, chunk: int = DEFAULT_CHUNK):
    """Column chunks (epochs, <= chunk) float32 of rows [first, first + epochs) of `synthetic_block(total, d)`'s
    kind of sequence; the base and drift of a chunk come from its own seed, the noise from one per chunk and
    `first`, so the rows and the columns of a tile are generated apart and each time alike."""
    steps = torch.linspace(0, 1, total, dtype=torch.float64)[first : first + epochs, None]
    for index, start in enumerate(range(0, d, chunk)):
        width = min(chunk, d - start)
        generator = torch.Generator().manual_seed(index)
        base = torch.randn(width, generator=generator, dtype=torch.float64)
        drift = torch.randn(width, generator=generator, dtype=torch.float64)
        noise_gen = torch.Generator().manual_seed(1_000_003 * (first + 1) + index)
        noise = torch.randn(epochs, width, generator=noise_gen, dtype=torch.float64)
        yield (base + 0.3 * steps * drift + 0.05 * noise).float()


def tile_error(epochs: int, d: int) -> dict[str, float]:
    """Largest |CKA(chunked_float32) - CKA(float64)| over an off-diagonal tile of `drifting_chunks` vectors."""
    cka = {}
    for accumulate in ("float64", "chunked_float32"):
        products = streamed_products(
            drifting_chunks(0, epochs, 2 * epochs, d), drifting_chunks(epochs, epochs, 2 * epochs, d), accumulate
        )
        cka[accumulate] = cka_from_products(*products)
    return {
        "general": float((cka["chunked_float32"] - cka["float64"]).abs().max()),
        "min_cka": float(cka["float64"].min()),
        "max_cka": float(cka["float64"].max()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=2)
    p.add_argument("--epochs", type=int, default=8, help="checkpoints of the real run (0 .. epochs-1)")
    p.add_argument("--synthetic-epochs", type=int, default=64)
    p.add_argument("--estimator", default="minibatch_unbiased")
    p.add_argument("--skip-real", action="store_true", help="leave out the real run's vectors")
    p.add_argument("--tile", type=int, default=0, help="epochs per side of a synthetic off-diagonal tile (0: none)")
    p.add_argument("--d", type=int, default=525_312, help="vector length of the --tile tile")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "repdyn-bench-cka")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    blocks = {} if args.skip_real else real_blocks(args)
    d = next(iter(blocks.values())).shape[1] if blocks else args.d
    print(f"# bench/tile_accuracy.py  torch {torch.__version__}, estimator {args.estimator}, D = {d:,}")
    print(f"\n{'epoch vectors':<34} {'E':>5} {'min CKA':>8} {'diagonal':>10} {'general':>10}")
    for layer, block in blocks.items():
        e = errors(block)
        print(
            f"{'real, width ' + str(args.width) + ', ' + layer:<34} {block.shape[0]:5d} {e['min_cka']:8.3f} "
            f"{e['diagonal']:10.1e} {e['general']:10.1e}"
        )
    if blocks:
        pooled = torch.cat(list(blocks.values()))  # every layer's vectors against every other's: more real pairs
        e = errors(pooled)
        print(
            f"{'real, all layers pooled':<34} {pooled.shape[0]:5d} {e['min_cka']:8.3f} {e['diagonal']:10.1e} "
            f"{e['general']:10.1e}"
        )
    if args.synthetic_epochs:
        e = errors(synthetic_block(args.synthetic_epochs, d))
        print(
            f"{'synthetic, slow drift':<34} {args.synthetic_epochs:5d} {e['min_cka']:8.3f} {e['diagonal']:10.1e} "
            f"{e['general']:10.1e}"
        )
    if args.tile:
        e = tile_error(args.tile, args.d)
        print(
            f"{f'synthetic off-diag., D = {args.d:,}':<34} {args.tile:5d} {e['min_cka']:8.3f} {'':>10} "
            f"{e['general']:10.1e}"
        )
    print("\nlargest |CKA(chunked_float32) - CKA(float64)| over all epoch pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
