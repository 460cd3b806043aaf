"""Every store the workflow writes opens in xarray as labelled data, and selects by label.

Reads the stores of one real tiny run (the session's `reported_run`: three experiments, cross-run CKA,
DRS): extraction (with its raw/ group), CKA and cross-run CKA tiles and matrices, planes, probes,
predictions, DRS tiles and matrices. Each must open without a warning (consolidated metadata), name
its dimensions by what they index, carry coordinates and attributes, and give the same numbers as the
package's own readers. The chunking of assembled matrices and the reading of stores written before the
labelled layout are checked on synthetic matrices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.stores import open_quietly, tree_quietly

xr = pytest.importorskip("xarray")

from repdyn.cka import open_cka  # noqa: E402
from repdyn.cka.store import read_matrix_store  # noqa: E402
from repdyn.drs import open_drs  # noqa: E402

LAYERS = ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]

pytestmark = pytest.mark.slow  # reads the session's reported_run


def entry(work: Path, name: str = "w2") -> dict:
    return json.loads((work / "results" / "index.json").read_text())["experiments"][name]


def one(pattern: str, work: Path) -> Path:
    found = sorted(work.glob(pattern))
    assert found, pattern
    return found[-1]


def test_assembled_cka_selects_layer_and_epochs(reported_run):
    work, _ = reported_run
    assembled = work / entry(work)["cka"]["assembled"]
    ds = open_quietly(assembled / "cka.zarr")
    assert ds.cka.dims == ("layer", "row_epoch", "col_epoch")
    assert list(ds.layer.values) == LAYERS and list(ds.row_epoch.values) == [0, 1, 2]
    assert ds.cka.attrs["estimator"] == "minibatch_unbiased" and ds.cka.attrs["units"] == "1"
    assert ds.cka.attrs["long_name"].startswith("linear CKA") and ds.row_epoch.attrs["units"] == "epoch"
    reference = open_cka(assembled)
    value = ds.cka.sel(layer="layer4", row_epoch=2, col_epoch=0).item()
    assert value == reference["layer4"][2, 0]
    for layer in LAYERS:
        assert np.array_equal(ds.cka.sel(layer=layer).values, reference[layer], equal_nan=True)


def test_cross_run_cka_and_cka_tiles_are_labelled(reported_run):
    work, _ = reported_run
    cross = one("results/cka_cross/*/e*x*/cka.zarr", work)
    ds = open_quietly(cross)
    assert ds.cka.sel(layer="linear", row_epoch=1).dims == ("col_epoch",)
    tile = open_quietly(one("results/cka/*/tiles/*/tile.zarr", work))
    assert tile.cka.dims == ("layer", "row_epoch", "col_epoch") and list(tile.layer.values) == LAYERS
    matrices, rows, cols, _ = read_matrix_store(one("results/cka/*/tiles/*/tile.zarr", work))
    assert np.array_equal(tile.cka.sel(layer="conv1").values, matrices["conv1"], equal_nan=True)


def test_grams_store_and_its_raw_group_open_as_a_tree(reported_run):
    work, _ = reported_run
    store = one(f"results/extract/{entry(work)['cka']['extract']}/*/grams.zarr", work)
    tree = tree_quietly(store)
    root = tree.to_dataset()
    assert "epoch" in root.coords and root.probe_index.dims == ("batch", "example")
    grams = tree["grams"].to_dataset()
    assert grams["layer2"].dims == ("epoch", "batch", "packed_gram")
    raw = tree["raw"].to_dataset()  # layers of different widths: one feature dimension each
    assert raw["linear"].dims == ("epoch", "probe_example", "linear_feature")
    first = int(root.probe_index.values.reshape(-1)[0])
    row = raw["linear"].sel(epoch=int(root.epoch.values[0]), probe_example=first)
    assert row.shape == (10,) and np.isfinite(row.values).all()
    assert raw["linear"].attrs["long_name"].startswith("raw activations")


def test_plane_probe_and_prediction_stores_are_labelled(reported_run):
    work, _ = reported_run
    ids = entry(work)["drs"]
    planes = open_quietly(work / "results" / "planes" / ids["planes"] / "planes.zarr")
    assert planes.coefs.dims == ("plane", "point", "axis") and list(planes.anchor.values) == ["x0", "x1", "x2"]
    assert planes.triplet_labels.sel(plane=1).shape == (3,)
    probes = tree_quietly(one(f"results/probe/{ids['probe']}/*/probes.zarr", work))
    errors = probes.to_dataset()
    assert errors.test_err.dims == ("epoch", "layer") and errors.test_err.attrs["units"] == "fraction"
    assert 0.0 <= float(errors.test_err.sel(layer="layer4").isel(epoch=0)) <= 1.0
    weight = probes["weight"].to_dataset()
    assert weight["layer4"].dims == ("epoch", "class", "layer4_feature")
    assert weight["linear"].sizes["linear_feature"] == 10
    preds = open_quietly(one(f"results/preds/{ids['preds']}/*/preds.zarr", work))
    assert preds.preds.dims == ("epoch", "layer", "plane", "point")
    one_map = preds.preds.sel(layer="conv1", plane=0).isel(epoch=0)
    assert one_map.shape == (25,) and int(one_map.max()) < 10


def test_drs_stores_select_layer_and_epochs(reported_run):
    work, _ = reported_run
    assembled = work / entry(work)["drs"]["assembled"]
    ds = open_quietly(assembled / "drs.zarr")
    reference = open_drs(assembled)
    assert ds.drs.dims == ("layer", "row_epoch", "col_epoch") and ds.drs.attrs["units"] == "fraction"
    assert ds.agreement.attrs["units"] == "points"
    assert np.array_equal(ds.drs.sel(layer="layer2").values, reference["layer2"])
    assert ds.drs.sel(layer="layer2", row_epoch=0, col_epoch=0).item() == 1.0
    assert np.array_equal(ds.probe_test_err.values, reference.probe_test_err)
    tile = open_quietly(one(f"results/drs/{entry(work)['drs']['id']}/tiles/*/tile.zarr", work))
    assert tile.agreement.dtype == np.int64 and tile.agreement.dims == ("layer", "row_epoch", "col_epoch")
