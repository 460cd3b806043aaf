"""The recorded pairs of a dataset artifact (results/pairs/<id>/pairs.json): chosen once, read by every extraction.

Why a file of its own: the pairs must be the same for every run on a dataset and at every epoch, and a reader
must see which examples they are without rerunning the draw. One JSON document, columns of equal length P:
`index` (P, 2) training-set indices, `type` (P,) pair-type names (pairs.PAIR_TYPES), `clean_labels` and
`train_labels` (P, 2): the true label and the label trained on (they differ for a mislabelled example).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn.storage import atomic, integrity

from .pairs import PAIR_TYPES, Pairs, choose_pairs

FORMAT = "repdyn-pairs 1"


@dataclass(frozen=True)
class PairRecord:
    pairs: Pairs
    clean_labels: np.ndarray  # (P, 2) int64
    train_labels: np.ndarray  # (P, 2) int64

    @property
    def type_names(self) -> list[str]:
        return [PAIR_TYPES[k] for k in self.pairs.kind]


def draw(
    clean_labels: np.ndarray, train_labels: np.ndarray, flipped: np.ndarray, *, seed: int, per_type: int
) -> PairRecord:
    """The stratified pairs of a training set with the labels of both members."""
    clean, train = np.asarray(clean_labels, dtype=np.int64), np.asarray(train_labels, dtype=np.int64)
    pairs = choose_pairs(clean, train, flipped, seed, per_type=per_type)
    return PairRecord(pairs, clean[pairs.index], train[pairs.index])


def write_pairs(path: str | os.PathLike, record: PairRecord, attrs: Mapping[str, Any]) -> None:
    """pairs.json, atomically (with its checksum sidecar)."""
    doc = {
        "format": FORMAT,
        "pair_types": list(PAIR_TYPES),
        **dict(attrs),
        "index": record.pairs.index.tolist(),
        "type": record.type_names,
        "clean_labels": record.clean_labels.tolist(),
        "train_labels": record.train_labels.tolist(),
    }
    atomic.write_json(path, doc)


def read_pairs(path: str | os.PathLike) -> PairRecord:
    """A recorded pair set, checked against its manifest first."""
    integrity.require(path)
    doc = json.loads(open(path).read())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)}: not a pairs record ({doc.get('format')!r}, expected {FORMAT!r})")
    unknown = sorted(set(doc["type"]) - set(PAIR_TYPES))
    if unknown:
        raise ValueError(f"{os.fspath(path)}: unknown pair types {unknown}")
    index = np.asarray(doc["index"], dtype=np.int64).reshape(-1, 2)
    kind = np.asarray([PAIR_TYPES.index(t) for t in doc["type"]], dtype=np.int8)
    return PairRecord(
        Pairs(index, kind),
        np.asarray(doc["clean_labels"], dtype=np.int64).reshape(-1, 2),
        np.asarray(doc["train_labels"], dtype=np.int64).reshape(-1, 2),
    )
