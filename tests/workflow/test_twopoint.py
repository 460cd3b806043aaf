"""Two-point dynamics in the workflow: the recorded pairs, twopoint.zarr of the extraction, the fits, the report.

Unit part: the pairs record drawn from a real dataset artifact is stratified, deterministic and reads back
exactly. End to end (the session's `reported_run`: three tiny experiments through their reports): the stored
observables equal those recomputed from the raw activations of the same checkpoint, the stored Grams give the
same H as the stored raw activations, the fit job's JSON holds the table the package computes from the stored
series, and the experiment page carries the two-point section.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from repdyn import plan as planning
from repdyn.cka.grams import unpack_upper
from repdyn.extract.twopoint_store import TWOPOINT_STORE, read_part, read_series
from repdyn.twopoint import PAIR_TYPES, analysis
from repdyn.twopoint.record import read_pairs

xr = pytest.importorskip("xarray")


# --------------------------------------------------------------------------- end to end

pytestmark = pytest.mark.slow  # reads the session's reported_run


def index_entry(work: Path, name: str = "w2") -> dict:
    return json.loads((work / "results" / "index.json").read_text())["experiments"][name]


def run_plan(work: Path, cfg: Path):
    from repdyn import config

    return planning.build(config.load(cfg))


def test_stored_observables_equal_those_from_the_checkpoints_raw_activations(reported_run):
    from repdyn.data import DatasetArtifact
    from repdyn.models import LayerTap
    from repdyn.train import load_checkpoint_model

    work, cfg = reported_run
    exp = run_plan(work, cfg).experiment("w2")
    part = work / exp.cka.rows.part_dir(0, 2)
    stored = xr.open_zarr(part / TWOPOINT_STORE)
    assert dict(stored.sizes) == {"pair": 8, "member": 2, "layer": 6, "epoch": 2}  # 2 pairs of each of 4 types
    assert list(stored.pair_type.values) == [t for t in PAIR_TYPES for _ in range(2)]
    assert stored.H.dims == ("pair", "layer", "epoch") and "long_name" in stored.W_ce.attrs
    record = read_pairs(work / exp.pairs.file)
    assert np.array_equal(stored["index"].values, record.pairs.index)
    assert np.array_equal(stored.train_label.values, record.train_labels)

    dataset = DatasetArtifact.load(work / exp.data.h5)
    run_spec = json.loads((work / exp.run.dir / "spec.json").read_text())["settings"]
    model = load_checkpoint_model(work / exp.run.checkpoint_path(2), run_spec, dataset)
    i, j = record.pairs.index[:, 0], record.pairs.index[:, 1]
    x = dataset.normalize(dataset.train_images).double()  # every training image, then the pairs' rows
    with torch.no_grad(), LayerTap(model, model.analysed_layers) as tap:
        logits = model(dataset.normalize(dataset.train_images)).double()
        features = {k: v.double() for k, v in tap.outputs.items()}
    dz = logits[j] - logits[i]
    g = torch.softmax(logits, dim=1) - torch.nn.functional.one_hot(dataset.train_labels, logits.shape[1]).double()
    sel = stored.sel(epoch=2)
    np.testing.assert_allclose(sel.Y.values, (dz**2).sum(1).numpy(), rtol=1e-4)
    np.testing.assert_allclose(sel.W_ce.values, (dz * (g[j] - g[i])).sum(1).numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stored.dx2.values, ((x[j] - x[i]) ** 2).flatten(1).sum(1).numpy(), rtol=1e-6)
    for layer in model.analysed_layers:
        h = features[layer]
        np.testing.assert_allclose(sel.H.sel(layer=layer).values, ((h[j] - h[i]) ** 2).sum(1).numpy(), rtol=1e-4)


def test_twopoint_store_opens_labelled_in_xarray(reported_run):
    """Like every store: consolidated (no warning), every dimension with a coordinate, every variable described."""
    import warnings

    work, cfg = reported_run
    part = work / run_plan(work, cfg).experiment("w2").cka.rows.part_dir(0, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(part / TWOPOINT_STORE)
    assert set(ds.dims) == {"pair", "member", "layer", "epoch"} and set(ds.dims) <= set(ds.coords)
    assert all("long_name" in ds[name].attrs for name in [*ds.data_vars, *ds.coords])
    clean_vs_flipped = ds.H.sel(layer="layer4", epoch=2).where(ds.pair_type == "clean_vs_flipped", drop=True)
    assert clean_vs_flipped.sizes == {"pair": 2} and np.all(clean_vs_flipped.values > 0)


def test_distances_from_the_stored_grams_equal_those_from_the_stored_raw_activations(reported_run):
    """The same observable H read two ways from one extraction part: packed Grams vs raw activations."""
    from repdyn.twopoint import distance_from_packed_gram, squared_distance

    work, cfg = reported_run
    part = work / run_plan(work, cfg).experiment("w2").cka.rows.part_dir(0, 2)
    g = zarr.open_group(str(part / "grams.zarr"), mode="r")
    n = int(g.attrs["batch_size"])
    pairs = np.array([[0, 1], [2, 7], [5, n - 1]])
    raw_layers = sorted(g["raw"].keys())
    assert raw_layers  # the tiny network's small layers keep raw activations
    for layer in raw_layers:
        raw = g[f"raw/{layer}"][1]  # epoch position 1, every probe example; batch 0 is the first n rows
        gram = g[f"grams/{layer}"][1, 0]
        expected = squared_distance(raw[:n], pairs)
        np.testing.assert_allclose(
            distance_from_packed_gram(gram, n, pairs),
            expected,
            rtol=1e-4,
            atol=1e-6 * float(unpack_upper(torch.as_tensor(gram), n).abs().max()),
        )


def test_fit_job_writes_the_table_the_package_computes_from_the_stored_series(reported_run):
    from repdyn.train import read_metrics, training_phases

    work, cfg = reported_run
    exp = run_plan(work, cfg).experiment("w2")
    result = work / exp.twopoint.result_dir(exp.epochs)
    assert index_entry(work)["twopoint"]["result"] == str(exp.twopoint.result_dir(exp.epochs))
    doc = json.loads((result / "twopoint.json").read_text())
    assert doc["epochs"] == [0, 1, 2] and doc["layers"] == ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]
    assert {(r["layer"], r["pair_type"]) for r in doc["table"]} == {(l, t) for l in doc["layers"] for t in PAIR_TYPES}
    for row in doc["table"]:
        assert row["pairs"] == 2 and len(row["drift_per_phase"]) == len(doc["boundaries"]) + 1
        for key in ("share_r2_above_shuffled", "share_driven_below_shuffled", "share_drift_below_shuffled"):
            assert row[key] is None or 0.0 <= row[key] <= 1.0
    assert set(doc["representatives"]) == set(PAIR_TYPES)
    for stem in ("h_ratio", "theory"):
        assert (result / f"{stem}.png").stat().st_size > 0 and (result / f"{stem}.pdf").is_file()

    series = read_series([work / d for d in exp.twopoint.parts(exp.epochs)], [0, 1, 2])
    assert np.array_equal(series.H[..., 1:], read_part(work / exp.cka.rows.part_dir(0, 2)).H)
    phases = training_phases(read_metrics([work / exp.metrics]))
    table = analysis.fit_table(series, analysis.fit_all(series, phases))
    assert json.loads(json.dumps(table).replace("NaN", "null")) == doc["table"]


def test_the_experiment_page_has_the_two_point_section(reported_run):
    work, _ = reported_run
    page = work / "reports" / "experiments" / "w2"
    html = (page / "index.html").read_text()
    assert 'id="twopoint"' in html and "Two-point dynamics" in html
    assert "figures/twopoint_h_ratio.png" in html and "figures/twopoint_theory.png" in html
    for stem in ("twopoint_h_ratio", "twopoint_theory"):
        assert (page / "figures" / f"{stem}.png").is_file()
    report = json.loads((page / "report.json").read_text())
    assert len(report["twopoint"]) == 6 * len(PAIR_TYPES) and "twopoint" in report["ids"]
