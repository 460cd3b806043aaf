"""repdyn.data: label noise, balanced subset, probe set, loaders and the HDF5 artifact.

Real Fashion-MNIST (Debian package files) everywhere except the Tiny ImageNet
folder reader, which gets a tiny synthetic tree of JPEGs.
"""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
import torch
from support.configs import FASHION_MNIST, fmnist_data_settings

from repdyn.data import (
    KNOWN_CONSTANTS,
    DatasetArtifact,
    balanced_subset,
    flip_labels,
    load_source,
    noisy_per_class,
    prepare_dataset,
    probe_batches,
    resolve_normalization,
)
from repdyn.data import artifact as artifact_module
from repdyn.data.fashion_mnist import FILES, read_idx

FMNIST_ROOT = FASHION_MNIST
pytestmark = pytest.mark.skipif(
    not (FMNIST_ROOT / FILES["train_images"]).is_file(), reason="Fashion-MNIST (dataset-fashion-mnist) not installed"
)


def fmnist_settings(**overrides):
    base = {"train_subset": 1000, "noise_seed": 1, "probe": {"batches": 2, "batch_size": 64, "seed": 2}}
    return fmnist_data_settings(**{**base, **overrides})


@pytest.fixture(scope="module")
def raw():
    """The real Fashion-MNIST arrays, read independently of the loader under test."""
    return {key: read_idx(FMNIST_ROOT / name) for key, name in FILES.items()}


@pytest.fixture(scope="module")
def artifact_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("fmnist") / "data.h5"
    prepare_dataset(fmnist_settings(), path)
    return path


@pytest.fixture(scope="module")
def ds(artifact_path):
    return DatasetArtifact.load(artifact_path)


# ---------------------------------------------------------------- label noise


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.35, 0.5])
def test_flip_labels_exact_count_per_class(raw, rate):
    labels = raw["train_labels"][:1003].astype(np.int64)  # real labels, slightly unbalanced
    noisy, flipped = flip_labels(labels, rate, 10, seed=5)
    per_class = math.floor(rate * 1003 / 10)
    assert np.bincount(labels[flipped], minlength=10).tolist() == [per_class] * 10
    assert len(np.unique(flipped)) == flipped.size
    assert np.all(np.diff(flipped) > 0) and flipped.dtype == np.int64


def test_flip_labels_changes_exactly_the_recorded_examples(raw):
    labels = raw["train_labels"].astype(np.int64)
    noisy, flipped = flip_labels(labels, 0.3, 10, seed=0)
    np.testing.assert_array_equal(
        np.flatnonzero(noisy != labels), flipped
    )  # never the same label, nothing else touched
    assert noisy.min() >= 0 and noisy.max() <= 9


def test_flip_labels_new_label_uniform_over_other_classes(raw):
    labels = raw["train_labels"].astype(np.int64)
    noisy, flipped = flip_labels(labels, 0.5, 10, seed=3)
    for c in range(10):
        targets = noisy[flipped][labels[flipped] == c]
        counts = np.bincount(targets, minlength=10)
        assert counts[c] == 0
        others = np.delete(counts, c)
        assert others.sum() == 3000
        assert np.all(np.abs(others - 3000 / 9) < 80)  # ~4.5 sigma of a binomial(3000, 1/9)


def test_flip_labels_deterministic_and_seeded(raw):
    labels = raw["train_labels"][:2000].astype(np.int64)
    a, fa = flip_labels(labels, 0.2, 10, seed=7)
    b, fb = flip_labels(labels, 0.2, 10, seed=7)
    c, fc = flip_labels(labels, 0.2, 10, seed=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fa, fb)
    assert not np.array_equal(fa, fc)


def test_flip_labels_zero_rate_flips_nothing(raw):
    labels = raw["train_labels"][:500].astype(np.int64)
    noisy, flipped = flip_labels(labels, 0.0, 10, seed=1)
    assert flipped.size == 0
    np.testing.assert_array_equal(noisy, labels)
    assert noisy is not labels


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.2"])
def test_flip_labels_rejects_rate_outside_unit_interval(raw, rate):
    with pytest.raises(ValueError, match="data.label_noise"):
        flip_labels(raw["train_labels"][:100].astype(np.int64), rate, 10, seed=0)


def test_noisy_count_is_exact_for_decimal_rates():
    # 0.29 * 50000 / 10 is 1449.999... in binary floating point; the rule means 1450.
    for k in range(1, 100):
        for n in (100, 1000, 50000, 60000):
            assert noisy_per_class(k / 100, n, 10) == (k * n) // (100 * 10)


# ---------------------------------------------------------------- subset and probe set


def test_balanced_subset_exact_counts_and_deterministic(raw):
    labels = raw["train_labels"].astype(np.int64)
    idx = balanced_subset(labels, 10, 1000, seed=4)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx], minlength=10).tolist() == [100] * 10
    np.testing.assert_array_equal(idx, balanced_subset(labels, 10, 1000, seed=4))
    assert not np.array_equal(idx, balanced_subset(labels, 10, 1000, seed=5))
    np.testing.assert_array_equal(balanced_subset(labels, 10, None, seed=4), np.arange(labels.size))


@pytest.mark.parametrize("size", [1005, 0, -10, 60010, 2.5])
def test_balanced_subset_rejects_bad_sizes(raw, size):
    with pytest.raises(ValueError, match="data.train_subset"):
        balanced_subset(raw["train_labels"].astype(np.int64), 10, size, seed=0)


def test_probe_batches_balanced_disjoint_sorted(raw):
    labels = raw["test_labels"].astype(np.int64)
    index = probe_batches(labels, 10, batches=4, batch_size=512, seed=9)
    assert index.shape == (4, 512) and index.dtype == np.int64
    assert np.unique(index).size == index.size  # disjoint batches
    for batch in index:
        counts = np.bincount(labels[batch], minlength=10)
        assert sorted(counts.tolist()) == [51] * 8 + [52] * 2
        order = np.lexsort((batch, labels[batch]))  # class, then index
        np.testing.assert_array_equal(order, np.arange(512))
    np.testing.assert_array_equal(index, probe_batches(labels, 10, 4, 512, seed=9))
    assert not np.array_equal(index, probe_batches(labels, 10, 4, 512, seed=10))


@pytest.mark.parametrize(
    "batches, batch_size, key",
    [(20, 512, "data.probe"), (4, 3, "data.probe.batch_size"), (0, 64, "data.probe.batches")],
)
def test_probe_batches_rejects_impossible_requests(raw, batches, batch_size, key):
    with pytest.raises(ValueError, match=key):
        probe_batches(raw["test_labels"].astype(np.int64), 10, batches, batch_size, seed=0)


# ---------------------------------------------------------------- the artifact on real Fashion-MNIST


def test_artifact_shapes_and_dtypes(ds):
    assert ds.name == "fashion_mnist" and ds.num_classes == 10 and ds.in_channels == 1 and ds.image_size == 32
    assert ds.train_images.dtype == torch.uint8 and ds.train_images.shape == (1000, 1, 32, 32)
    assert ds.test_images.dtype == torch.uint8 and ds.test_images.shape == (10000, 1, 32, 32)
    for labels in (ds.train_labels, ds.clean_labels, ds.source_index, ds.flipped, ds.test_labels, ds.probe_index):
        assert labels.dtype == torch.int64
    assert ds.probe_index.shape == (2, 64)
    assert ds.probe_images().shape == (2, 64, 1, 32, 32)
    assert torch.equal(ds.probe_images()[1, 5], ds.test_images[ds.probe_index[1, 5]])
    assert ds.class_names[0] == "T-shirt/top" and len(ds.class_names) == 10


def test_artifact_images_are_the_source_images_padded(ds, raw):
    source_index = ds.source_index.numpy()
    assert np.all(np.diff(source_index) > 0)
    train = ds.train_images.numpy()
    for border in (train[..., :2, :], train[..., -2:, :], train[..., :, :2], train[..., :, -2:]):
        assert not border.any()
    np.testing.assert_array_equal(train[:, 0, 2:30, 2:30], raw["train_images"][source_index])
    np.testing.assert_array_equal(ds.clean_labels.numpy(), raw["train_labels"][source_index])
    np.testing.assert_array_equal(ds.test_images.numpy()[:, 0, 2:30, 2:30], raw["test_images"])
    np.testing.assert_array_equal(ds.test_labels.numpy(), raw["test_labels"])
    assert np.bincount(ds.clean_labels.numpy(), minlength=10).tolist() == [100] * 10


def test_artifact_records_the_label_noise(ds):
    assert ds.flipped.numel() == 10 * math.floor(0.2 * 1000 / 10)
    assert int(ds.noisy_mask.sum()) == 200
    assert torch.equal(torch.nonzero(ds.noisy_mask).flatten(), ds.flipped)
    assert ds.attrs["noisy_per_class"] == 20
    assert ds.settings["label_noise"] == 0.2 and ds.settings["probe"]["batch_size"] == 64


def test_normalisation_constants_are_full_set_statistics(ds, raw):
    full = np.pad(raw["train_images"], ((0, 0), (2, 2), (2, 2))).astype(np.float64) / 255.0
    assert ds.attrs["normalization_method"] == "computed"
    assert ds.mean[0] == pytest.approx(full.mean(), abs=1e-9)
    assert ds.std[0] == pytest.approx(full.std(), abs=1e-9)
    assert 0.15 < ds.mean[0] < 0.3 and 0.25 < ds.std[0] < 0.45  # padded Fashion-MNIST: 0.286 * 784/1024, ...
    x = ds.normalize(ds.train_images)
    assert x.dtype == torch.float32 and x.device == ds.train_images.device
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05


def test_image_size_28_keeps_native_images(tmp_path, raw):
    path = tmp_path / "d28.h5"
    prepare_dataset(fmnist_settings(image_size=28, train_subset=100, label_noise=0.0), path)
    ds28 = DatasetArtifact.load(path)
    assert ds28.image_size == 28 and ds28.train_images.shape == (100, 1, 28, 28) and ds28.flipped.numel() == 0
    np.testing.assert_array_equal(ds28.train_images[:, 0].numpy(), raw["train_images"][ds28.source_index.numpy()])
    assert ds28.mean[0] == pytest.approx(raw["train_images"].mean() / 255.0, abs=1e-9)


def test_prepare_is_deterministic_to_the_byte(tmp_path, artifact_path):
    again = tmp_path / "again.h5"
    prepare_dataset(fmnist_settings(), again)
    assert again.read_bytes() == artifact_path.read_bytes()


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    calls = []

    def broken(group, name, values):
        calls.append(name)
        raise RuntimeError("injected failure mid-write")

    monkeypatch.setattr(artifact_module, "_array", broken)
    out = tmp_path / "data.h5"
    with pytest.raises(RuntimeError, match="injected"):
        prepare_dataset(fmnist_settings(train_subset=100), out)
    assert calls == ["labels"]  # the images were already written when it failed
    assert not out.exists() and os.listdir(tmp_path) == []


def test_normalisation_choices():
    cifar = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    assert resolve_normalization("auto", "cifar10", cifar)[:2] == KNOWN_CONSTANTS["cifar10"]
    svhn = ((0.4376821, 0.4437697, 0.47280442), (0.19803012, 0.20101562, 0.19703614))  # docs/algorithms.md §2.1
    assert resolve_normalization("auto", "svhn", cifar)[:2] == svhn
    explicit = resolve_normalization({"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}, "cifar10", cifar)
    assert explicit == ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "explicit")
    for bad in ({"mean": [0.5], "std": [0.2]}, {"mean": [0.5] * 3, "std": [0.2, 0.2, 0.0]}, "zscore"):
        with pytest.raises(ValueError, match="data.normalization"):
            resolve_normalization(bad, "cifar10", cifar)


# ---------------------------------------------------------------- settings and missing files


def test_bad_settings_name_the_key(tmp_path):
    cases = [
        (fmnist_settings(dataset="mnist"), "data.dataset"),
        (fmnist_settings(image_size=31), "data.image_size"),
        (fmnist_settings(train_subset=1001), "data.train_subset"),
        (fmnist_settings(label_noise=1.0), "data.label_noise"),
        (fmnist_settings(probe={"batches": 2, "batch_size": 2, "seed": 0}), "data.probe.batch_size"),
        ({k: v for k, v in fmnist_settings().items() if k != "noise_seed"}, "data.noise_seed"),
        (fmnist_settings(dataset="cifar10", image_size=28, root=str(tmp_path)), "data.image_size"),
    ]
    for settings, key in cases:
        with pytest.raises(ValueError, match=key):
            prepare_dataset(settings, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_missing_sources_raise_file_not_found(tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py") as err:
        prepare_dataset(fmnist_settings(dataset="cifar10", root=str(nowhere)), tmp_path / "c.h5")
    assert str(nowhere) in str(err.value)
    with pytest.raises(FileNotFoundError, match="train_32x32.mat"):
        load_source({"dataset": "svhn", "root": str(nowhere), "download": False, "image_size": 32})
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        load_source({"dataset": "fashion_mnist", "root": str(nowhere), "image_size": 28})
    with pytest.raises(FileNotFoundError, match="wnids.txt"):
        load_source({"dataset": "tiny_imagenet", "root": str(nowhere), "image_size": 32})
    with pytest.raises(FileNotFoundError, match="prepare_data"):
        DatasetArtifact.load(tmp_path / "none.h5")


# ---------------------------------------------------------------- Tiny ImageNet folder reader (synthetic tree)


def test_settings_are_not_mutated(tmp_path):
    settings = fmnist_settings(train_subset=100)
    before = copy.deepcopy(settings)
    prepare_dataset(settings, tmp_path / "d.h5")
    assert settings == before
