"""repdyn.twopoint.record: the pairs record drawn from a real dataset artifact is stratified, deterministic and
reads back exactly."""

from __future__ import annotations

import numpy as np

from repdyn.twopoint import PAIR_TYPES
from repdyn.twopoint.record import draw, read_pairs, write_pairs


def test_pairs_record_is_stratified_deterministic_and_reads_back(fmnist, tmp_path):
    clean, train, flipped = (t.numpy() for t in (fmnist.clean_labels, fmnist.train_labels, fmnist.flipped))
    record = draw(clean, train, flipped, seed=0, per_type=16)
    assert np.array_equal(record.pairs.index, draw(clean, train, flipped, seed=0, per_type=16).pairs.index)
    assert not np.array_equal(record.pairs.index, draw(clean, train, flipped, seed=1, per_type=16).pairs.index)
    assert [record.type_names.count(t) for t in PAIR_TYPES] == [16, 16, 16, 16]
    assert np.array_equal(record.clean_labels, clean[record.pairs.index])
    assert np.array_equal(record.train_labels, train[record.pairs.index])
    noisy = record.clean_labels != record.train_labels  # (P, 2): which member is mislabelled
    expect = {
        "clean_same": [False, False],
        "clean_different": [False, False],
        "clean_vs_flipped": [False, True],
        "both_flipped": [True, True],
    }
    for name, members in expect.items():
        assert np.all(noisy[record.pairs.kind == PAIR_TYPES.index(name)] == members), name
    same_true_class = record.clean_labels[:, 0] == record.clean_labels[:, 1]
    assert np.all(same_true_class[np.isin(record.pairs.kind, [0, 2])])
    assert not np.any(same_true_class[record.pairs.kind == 1])

    path = tmp_path / "pairs.json"
    write_pairs(path, record, {"pairs": "x"})
    back = read_pairs(path)
    assert np.array_equal(back.pairs.index, record.pairs.index) and np.array_equal(back.pairs.kind, record.pairs.kind)
    assert np.array_equal(back.clean_labels, record.clean_labels)
    assert np.array_equal(back.train_labels, record.train_labels)
