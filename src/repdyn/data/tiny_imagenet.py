"""Tiny ImageNet (200 classes, 64x64 JPEGs) from its standard folder layout.

Layout: <root>/tiny-imagenet-200/{wnids.txt, train/<wnid>/images/*.JPEG,
val/images/*.JPEG, val/val_annotations.txt}; <root> may also be the
tiny-imagenet-200 folder itself. Classes follow wnids.txt order; the labelled
val split serves as the test split (the official test split has no labels).
Images are converted to RGB (a few are greyscale) and, when image_size < 64,
downsampled with PIL's BOX filter: area averaging, i.e. for 64 -> 32 the exact
mean of each 2x2 block, rounded to uint8 — antialiased, no ringing.
Train order: class by class in wnids.txt order, file names sorted within a
class; val order: as listed in val_annotations.txt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .source_data import SourceData

FOLDER = "tiny-imagenet-200"
NATIVE_SIZE = 64
IMAGE_SUFFIXES = (".jpeg", ".jpg")
HOW_TO_GET = "download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it into data.root"


def load_tiny_imagenet(root: Path, image_size: int) -> SourceData:
    """Train (500 per class) and val-as-test (50 per class) as uint8 (N, 3, S, S)."""
    if image_size > NATIVE_SIZE:
        raise ValueError(
            f"data.image_size for tiny_imagenet must be at most {NATIVE_SIZE} (downsampling only); got {image_size}"
        )
    base = _base_folder(root)
    wnids = _read_wnids(base / "wnids.txt")
    label_of = {wnid: i for i, wnid in enumerate(wnids)}

    train_files: list[Path] = []
    train_labels: list[int] = []
    for wnid in wnids:
        folder = base / "train" / wnid / "images"
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        if not files:
            raise FileNotFoundError(
                f"Tiny ImageNet: no training images in {folder} (class {wnid} of wnids.txt). {HOW_TO_GET}."
            )
        train_files += files
        train_labels += [label_of[wnid]] * len(files)

    test_files, test_labels = _read_val(base, label_of)
    return SourceData(
        name="tiny_imagenet",
        root=root,
        train_images=_read_images(train_files, image_size),
        train_labels=np.asarray(train_labels, dtype=np.int64),
        test_images=_read_images(test_files, image_size),
        test_labels=np.asarray(test_labels, dtype=np.int64),
        class_names=_class_names(base, wnids),
    )


def _base_folder(root: Path) -> Path:
    for base in (root / FOLDER, root):
        if (base / "wnids.txt").is_file():
            return base
    raise FileNotFoundError(
        f"Tiny ImageNet not found under data.root {str(root)!r}: expected {FOLDER}/wnids.txt, "
        f"{FOLDER}/train/<wnid>/images/*.JPEG, {FOLDER}/val/images/*.JPEG and {FOLDER}/val/val_annotations.txt "
        f"(or data.root pointing at {FOLDER} itself). {HOW_TO_GET}."
    )


def _read_wnids(path: Path) -> list[str]:
    wnids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not wnids or len(set(wnids)) != len(wnids):
        raise ValueError(f"{path} must list distinct class ids, one per line")
    return wnids


def _read_val(base: Path, label_of: dict[str, int]) -> tuple[list[Path], list[int]]:
    annotations = base / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise FileNotFoundError(f"Tiny ImageNet: missing {annotations} (labels of the val split). {HOW_TO_GET}.")
    files, labels = [], []
    for number, line in enumerate(annotations.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in label_of:
            raise ValueError(
                f"{annotations} line {number}: expected '<file>\\t<wnid>...' with a wnid from wnids.txt; got {line!r}"
            )
        path = base / "val" / "images" / fields[0]
        if not path.is_file():
            raise FileNotFoundError(f"Tiny ImageNet: {path} is listed in {annotations} but missing. {HOW_TO_GET}.")
        files.append(path)
        labels.append(label_of[fields[1]])
    if not files:
        raise ValueError(f"{annotations} lists no images")
    return files, labels


def _read_images(paths: list[Path], size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BOX)
            out[i] = np.asarray(image).transpose(2, 0, 1)
    return out


def _class_names(base: Path, wnids: list[str]) -> tuple[str, ...]:
    """Readable names from words.txt (first synonym) where present, else the wnid itself."""
    words = base / "words.txt"
    names: dict[str, str] = {}
    if words.is_file():
        for line in words.read_text().splitlines():
            wnid, _, text = line.partition("\t")
            names[wnid.strip()] = text.split(",")[0].strip()
    return tuple(names.get(wnid) or wnid for wnid in wnids)
