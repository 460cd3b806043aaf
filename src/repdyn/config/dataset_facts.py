"""Facts about the source datasets that checking a config and the cost model need without loading data."""

from __future__ import annotations

DATASET_FACTS = {
    "fashion_mnist": {"classes": 10, "channels": 1, "test_size": 10000, "native_size": 28},
    "cifar10": {"classes": 10, "channels": 3, "test_size": 10000, "native_size": 32},
    "svhn": {"classes": 10, "channels": 3, "test_size": 26032, "native_size": 32},
    "tiny_imagenet": {"classes": 200, "channels": 3, "test_size": 10000, "native_size": 64},
}
TRAIN_SIZES = {"fashion_mnist": 60000, "cifar10": 50000, "svhn": 73257, "tiny_imagenet": 100000}


def facts_of(data: dict) -> dict:
    """classes, channels, test_size, native_size and train_size of a resolved `data` section: the table above
    for a built-in dataset, the facts read from the file (repdyn.imports.settings) for `npz`."""
    if data["dataset"] == "npz":
        return dict(data["facts"])
    return {**DATASET_FACTS[data["dataset"]], "train_size": TRAIN_SIZES[data["dataset"]]}
