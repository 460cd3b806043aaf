"""repdyn.cka.store: assembled matrices are chunked for slicing, and stores of the earlier layout still read."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from support.stores import open_quietly

from repdyn.cka.store import read_matrix_store, write_matrix_store  # noqa: E402
from repdyn.storage import zarr_labels  # noqa: E402


def test_assembled_matrices_are_chunked_for_slicing(tmp_path):
    epochs = list(range(1200))
    rng = np.random.default_rng(0)
    matrices = {"a": rng.random((1200, 1200)), "b": rng.random((1200, 1200))}
    write_matrix_store(tmp_path / "m.zarr", matrices, epochs, epochs, {"layers": ["a", "b"], "estimator": "x"})
    array = zarr.open_group(str(tmp_path / "m.zarr"), mode="r")["cka"]
    assert array.chunks == (1, 500, 500)
    ds = open_quietly(tmp_path / "m.zarr")
    assert ds.cka.encoding["preferred_chunks"] == {"layer": 1, "row_epoch": 500, "col_epoch": 500}
    assert np.array_equal(ds.cka.sel(layer="b", row_epoch=700).values, matrices["b"][700])


def test_stores_of_the_earlier_layout_still_read(tmp_path):
    """Per-layer arrays `cka/<layer>` (stores written before the labelled layout keep their ids)."""
    group = zarr.open_group(str(tmp_path / "old.zarr"), mode="w-", zarr_format=3)
    group.attrs.update({"layers": ["a"]})
    for name, dims in (("row_epoch", ("row",)), ("col_epoch", ("col",))):
        group.create_array(name, shape=(2,), dtype="int64", dimension_names=dims)[:] = [0, 5]
    old = np.array([[1.0, 0.5], [0.5, 1.0]])
    group.create_array("cka/a", shape=(2, 2), dtype="float64", dimension_names=("row_epoch", "col_epoch"))[...] = old
    matrices, rows, _, _ = read_matrix_store(tmp_path / "old.zarr")
    assert np.array_equal(matrices["a"], old) and list(rows) == [0, 5]
    assert np.array_equal(zarr_labels.layer_matrix(group, "cka", "a"), old)
    with pytest.raises(KeyError, match="layer 'b'"):
        zarr_labels.layer_matrix(group, "cka", "b")
