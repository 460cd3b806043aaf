"""repdyn.data.tiny_imagenet: the folder reader on a tiny synthetic tree of JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.configs import fmnist_data_settings

from repdyn.data import (
    DatasetArtifact,
    load_source,
    prepare_dataset,
)


def make_tiny_imagenet(base: Path) -> list[str]:
    """3 classes, 2 train + 2 val JPEGs each; class k's images are grey level 40 + 80k, one is 1-px stripes."""
    from PIL import Image

    wnids = ["n03", "n01", "n02"]  # not sorted: wnids.txt order must be the class order
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (base / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tsalamander\n")
    annotations = []
    for k, wnid in enumerate(wnids):
        folder = base / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for j in range(2):
            Image.new("RGB", (64, 64), (40 + 80 * k,) * 3).save(folder / f"{wnid}_{j}.JPEG", quality=100)
        for j in range(2):
            Image.new("L", (64, 64), 40 + 80 * k).save(base / "val" / "images" / f"val_{k}{j}.JPEG", quality=100)
            annotations.append(f"val_{k}{j}.JPEG\t{wnid}\t0\t0\t63\t63")
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    Image.fromarray(stripes).save(base / "train" / wnids[0] / "images" / f"{wnids[0]}_1.JPEG", quality=100)
    (base / "val" / "val_annotations.txt").write_text("\n".join(reversed(annotations)) + "\n")
    return wnids


def test_tiny_imagenet_synthetic_tree_loads_and_downsamples(tmp_path):
    wnids = make_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    for root in (tmp_path, tmp_path / "tiny-imagenet-200"):
        src = load_source({"dataset": "tiny_imagenet", "root": str(root), "image_size": 32})
        assert src.train_images.shape == (6, 3, 32, 32) and src.test_images.shape == (6, 3, 32, 32)
        assert src.class_names == ("n03", "goldfish", "salamander")
        assert src.train_labels.tolist() == [0, 0, 1, 1, 2, 2]
        assert src.test_labels.tolist() == [2, 2, 1, 1, 0, 0]  # val_annotations.txt order
        grey = (40 + 80 * src.train_labels).astype(float)
        plain = [0, 2, 3, 4, 5]
        assert np.allclose(src.train_images[plain].mean(axis=(1, 2, 3)), grey[plain], atol=2)
        stripes = src.train_images[1].astype(float)  # 1-px black/white stripes: area averaging gives mid grey
        assert abs(stripes.mean() - 127.5) < 4 and stripes.std() < 12
        assert np.all(src.test_images[:, 0] == src.test_images[:, 1])  # greyscale converted to RGB
        assert np.allclose(src.test_images.mean(axis=(1, 2, 3)), 40 + 80 * src.test_labels, atol=2)
    assert len(wnids) == 3


def test_tiny_imagenet_prepares_an_artifact(tmp_path):
    make_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    settings = fmnist_data_settings(
        noise_seed=1,
        dataset="tiny_imagenet",
        root=str(tmp_path),
        train_subset=3,
        label_noise=0.0,
        probe={"batches": 1, "batch_size": 4, "seed": 0},
    )
    prepare_dataset(settings, tmp_path / "tiny.h5")
    tiny = DatasetArtifact.load(tmp_path / "tiny.h5")
    assert tiny.in_channels == 3 and tiny.image_size == 32 and len(tiny.mean) == 3
    assert np.bincount(tiny.clean_labels.numpy(), minlength=3).tolist() == [1, 1, 1]
    assert tiny.probe_index.shape == (1, 4)


def test_tiny_imagenet_missing_annotations_named(tmp_path):
    base = tmp_path / "tiny-imagenet-200"
    make_tiny_imagenet(base)
    (base / "val" / "val_annotations.txt").unlink()
    with pytest.raises(FileNotFoundError, match="val_annotations.txt"):
        load_source({"dataset": "tiny_imagenet", "root": str(tmp_path), "image_size": 32})
