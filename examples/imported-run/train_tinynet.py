"""Train TinyNet on a slice of Fashion-MNIST with a plain PyTorch loop, save a checkpoint per epoch, and write
the arrays and the repdyn config that analyse the run (docs/imported-runs.md walks through it).

    python examples/imported-run/train_tinynet.py --out /tmp/tinynet
    snakemake --cores 2 --configfile /tmp/tinynet/it.yaml

Nothing here uses repdyn: this is "another training code".
"""

import argparse
import gzip
from pathlib import Path

import numpy as np
import torch
import yaml
from tinynet import make
from torch.nn import functional as F

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST format) as a uint8 array."""
    raw = gzip.open(path).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_arrays(path: Path, train_size: int, test_size: int) -> dict[str, np.ndarray]:
    """The first images of each split as uint8 (N, 28, 28) arrays with integer labels, in one .npz file."""
    arrays = {
        "train_images": read_idx(FASHION_MNIST / "train-images-idx3-ubyte.gz")[:train_size],
        "train_labels": read_idx(FASHION_MNIST / "train-labels-idx1-ubyte.gz")[:train_size].astype(np.int64),
        "test_images": read_idx(FASHION_MNIST / "t10k-images-idx3-ubyte.gz")[:test_size],
        "test_labels": read_idx(FASHION_MNIST / "t10k-labels-idx1-ubyte.gz")[:test_size].astype(np.int64),
    }
    np.savez(path, **arrays)
    return arrays


def train(arrays: dict[str, np.ndarray], out: Path, epochs: int, width: int, seed: int) -> None:
    """Adam on pixel / 255 (no further normalisation), one checkpoint per epoch, epoch 0 = the initial network."""
    torch.manual_seed(seed)
    model = make(width=width)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    images = torch.from_numpy(arrays["train_images"].copy()).float().div(255).unsqueeze(1)
    labels = torch.from_numpy(arrays["train_labels"].copy())
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(epochs + 1):
        if epoch:
            model.train()
            for index in torch.randperm(len(labels)).split(32):
                optimizer.zero_grad()
                F.cross_entropy(model(images[index]), labels[index]).backward()
                optimizer.step()
        torch.save(
            {"epoch": epoch, "model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict()},
            out / f"epoch_{epoch}.pt",
        )


def write_config(out: Path, epochs: int, width: int) -> Path:
    """The repdyn config of the run: the arrays, the factory, the analysed layers and the checkpoints."""
    here = Path(__file__).resolve().parent
    config = {
        "device": "cpu",
        "threads": 1,
        "defaults": {
            "data": {
                "dataset": "npz",
                "path": str(out / "arrays.npz"),
                "label_noise": 0.0,
                "normalization": {"mean": [0.0], "std": [1.0]},
                "probe": {"batches": 1, "batch_size": 64, "seed": 0},
            },
            "model": {
                "arch": "external",
                "factory": "tinynet:make",
                "pythonpath": str(here),
                "kwargs": {"width": width},
                "layers": ["conv1", "conv2", "head"],
            },
            "train": {"checkpoints": str(out / "checkpoints" / "epoch_{epoch}.pt"), "epochs": epochs},
            "grids": {"cka": {"every": 1}, "drs": {"every": 5}},
            "cka": {"estimator": "full_biased", "layer_pairs_at": [0, epochs]},
            "probe": {"epochs": 2, "min_steps": 8},
            "drs": {"planes": 3, "resolution": 5},
            "twopoint": {"pairs_per_type": 2},
        },
        "experiments": [{"name": "tinynet"}],
    }
    path = out / "it.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for arrays.npz, checkpoints/ and it.yaml")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=200)
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    arrays = write_arrays(args.out / "arrays.npz", args.train_size, args.test_size)
    train(arrays, args.out / "checkpoints", args.epochs, args.width, args.seed)
    print(write_config(args.out, args.epochs, args.width))


if __name__ == "__main__":
    main()
