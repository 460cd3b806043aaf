"""The DRS stages as the workflow runs them (planes -> probes -> predictions -> tiles -> assembled) on real data.

A width-2 pre-activation ResNet-18 trained 3 epochs on 200 noisy Fashion-MNIST images gives four
epochs, split into two parts as two training segments would; every stored result is compared with a
direct evaluation through the maths modules (repdyn.drs.planes, repdyn.drs.probes, repdyn.drs.agreement).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import zarr
from support.configs import pipeline_run, tiny_raw

from repdyn import config, plan
from repdyn.drs import open_drs
from repdyn.drs.agreement import drs_matrix, predict_planes
from repdyn.drs.assemble_job import assemble, write_assembled
from repdyn.drs.figures import drs_figures, with_probe_errors
from repdyn.drs.planes_job import make_planes
from repdyn.drs.preds_job import preds_part
from repdyn.drs.probe_job import probe_part, probe_seed
from repdyn.drs.probes import FeatureCache, probe_errors
from repdyn.drs.selection import select_planes
from repdyn.drs.store import PredsParts, ProbePart, ProbeParts, read_planes
from repdyn.drs.tile_job import run_tile
from repdyn.train import init_run, load_checkpoint_model, read_metrics, train_segment

RUN = pipeline_run(eval_train=True)
EPOCHS = [0, 1, 2, 3]
PARTS = {(0, 1): "a", (2, 3): "b"}  # epochs -> part name, as two training segments would split them
PLANES = {"planes": 3, "resolution": 6, "range_l": 0.1, "range_r": 0.1, "triplet_labels": "noisy", "seed": 0}
PROBE = {"epochs": 2, "min_steps": 0, "lr": 1e-3, "batch_size": 64, "labels": "train", "pooling": "none", "seed": 0}
IDS = {"probe": "test", "run": "test"}
LAYERS = ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]


@pytest.fixture(scope="module")
def trained(fmnist_path, tmp_path_factory):
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("drs-run")
    init_run(RUN, fmnist_path, work / "init")
    train_segment(RUN, fmnist_path, work / "init" / "state.pt", 3, [1, 2, 3], work / "seg")
    checkpoints = {0: work / "init" / "checkpoints" / "e000000.pt"}
    checkpoints.update({e: work / "seg" / "checkpoints" / f"e{e:06d}.pt" for e in (1, 2, 3)})
    metrics = read_metrics([work / "init" / "metrics.tsv", work / "seg" / "metrics.tsv"])
    return checkpoints, metrics


@pytest.fixture(scope="module")
def checkpoints(trained):
    return trained[0]


@pytest.fixture(scope="module")
def planes_store(fmnist_path, tmp_path_factory):
    store = tmp_path_factory.mktemp("planes") / "planes.zarr"
    make_planes(fmnist_path, store, PLANES, {"planes": "test", "data": "test"})
    return store


@pytest.fixture(scope="module")
def probe_dirs(checkpoints, fmnist_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    for epochs, name in PARTS.items():
        probe_part(RUN, fmnist_path, {e: checkpoints[e] for e in epochs}, out / name, PROBE, IDS, None)
    return {epochs: out / name for epochs, name in PARTS.items()}


@pytest.fixture(scope="module")
def preds_dirs(checkpoints, fmnist_path, probe_dirs, planes_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("preds")
    for epochs, name in PARTS.items():
        preds_part(
            RUN,
            fmnist_path,
            {e: checkpoints[e] for e in epochs},
            probe_dirs[epochs],
            planes_store,
            out / name,
            {"preds": "test"},
            batch_size=20,
        )
    return {epochs: out / name for epochs, name in PARTS.items()}


# ---------------------------------------------------------------- planes


def test_plane_store_holds_the_selected_planes(planes_store, fmnist):
    stored = read_planes(planes_store)
    direct = select_planes(fmnist.normalize(fmnist.train_images), fmnist.train_labels, 3, 0, resolution=6)
    for key, value in direct.to_arrays().items():
        assert np.array_equal(stored.to_arrays()[key], value), key
    group = zarr.open_group(str(planes_store), mode="r")
    labels = group["triplet_labels"][:]
    assert np.array_equal(labels, fmnist.train_labels.numpy()[stored.indices])
    assert all(len(set(row)) == 3 for row in labels.tolist())
    assert group["anchors"].metadata.dimension_names == ("plane", "channel", "height", "width")
    assert group["coefs"].shape == (3, 36, 2)


def test_clean_triplet_labels_differ_under_the_clean_labels(fmnist_path, fmnist, tmp_path):
    make_planes(fmnist_path, tmp_path / "p.zarr", {**PLANES, "planes": 20, "triplet_labels": "clean"}, {})
    indices = read_planes(tmp_path / "p.zarr").indices
    clean = fmnist.clean_labels.numpy()[indices]
    assert all(len(set(row)) == 3 for row in clean.tolist())
    noisy = select_planes(fmnist.normalize(fmnist.train_images), fmnist.train_labels, 20, 0, resolution=6).indices
    assert not np.array_equal(indices, noisy)  # 20 % noise: the clean rule draws other triplets


# ---------------------------------------------------------------- probes


def test_probe_store_layout_and_errors(probe_dirs, checkpoints, fmnist):
    part = ProbePart(probe_dirs[(2, 3)])
    assert part.epochs == [2, 3] and part.layers == LAYERS and part.num_classes == 10
    group = part.group
    assert group["weight/layer2"].shape == (2, 10, 1024)
    assert group["weight/layer2"].metadata.dimension_names == ("epoch", "class", "layer2_feature")
    assert list(group["layer"][:]) == LAYERS
    assert list(group["seed"][:]) == [probe_seed(0, 0, 2), probe_seed(0, 0, 3)]
    assert probe_seed(0, 0, 2) != probe_seed(0, 0, 3) != probe_seed(0, 1, 3) != probe_seed(1, 0, 3)
    # the stored test error is the stored probe's error on the eval test subset
    model = load_checkpoint_model(checkpoints[3], RUN, fmnist)
    with FeatureCache.build(model, LAYERS, fmnist.eval_images(), fmnist.normalize, 64, None, "cpu") as cache:
        expected = probe_errors(part.probes(3), cache, fmnist.eval_labels())
    train_err, test_err = part.errors(3)
    assert np.array_equal(test_err, [expected[layer] for layer in LAYERS])
    assert np.all((train_err >= 0) & (train_err <= 1))
    assert train_err[-1] < 0.9  # the logits' probe learns something in 2 epochs at lr 1e-3


def test_probes_are_reproducible_and_do_not_depend_on_the_cache(checkpoints, fmnist_path, probe_dirs, tmp_path):
    """Trained again with the same seed: identical weights, with the features in RAM and streamed from disk."""
    epochs = {e: checkpoints[e] for e in (0, 1)}
    probe_part(RUN, fmnist_path, epochs, tmp_path / "again", PROBE, IDS, None)
    probe_part(
        RUN, fmnist_path, epochs, tmp_path / "disk", PROBE, IDS, memory_budget_bytes=1, scratch_dir=tmp_path / "scratch"
    )
    first = ProbePart(probe_dirs[(0, 1)])
    for other in (ProbePart(tmp_path / "again"), ProbePart(tmp_path / "disk")):
        for epoch in (0, 1):
            for layer, (w, b) in first.probes(epoch).items():
                w2, b2 = other.probes(epoch)[layer]
                assert torch.equal(w, w2) and torch.equal(b, b2), (epoch, layer)
    assert first.group.attrs["cache_modes"] == {"0": "ram", "1": "ram"}
    assert ProbePart(tmp_path / "disk").group.attrs["cache_modes"] == {"0": "disk", "1": "disk"}
    assert list((tmp_path / "scratch").iterdir()) == []  # scratch files are removed
    other_seed = tmp_path / "seed1"
    probe_part(RUN, fmnist_path, {0: checkpoints[0]}, other_seed, {**PROBE, "seed": 1}, IDS, None)
    assert not torch.equal(ProbePart(other_seed).probes(0)["linear"][0], first.probes(0)["linear"][0])


def test_clean_probe_labels_are_used(checkpoints, fmnist_path, probe_dirs, tmp_path):
    probe_part(RUN, fmnist_path, {3: checkpoints[3]}, tmp_path / "clean", {**PROBE, "labels": "clean"}, IDS, None)
    noisy, clean = ProbePart(probe_dirs[(2, 3)]).probes(3), ProbePart(tmp_path / "clean").probes(3)
    assert not torch.equal(noisy["linear"][0], clean["linear"][0])


# ---------------------------------------------------------------- predictions, tiles, assembly


def test_stored_predictions_equal_direct_prediction(preds_dirs, probe_dirs, planes_store, checkpoints, fmnist):
    parts = PredsParts(list(preds_dirs.values()))
    group = parts.parts[1].group
    assert group["preds"].shape == (2, 6, 3, 36) and group["preds"].dtype == np.uint8
    assert group["preds"].metadata.dimension_names == ("epoch", "layer", "plane", "point")
    assert list(group["epoch"][:]) == [2, 3] and list(group["layer"][:]) == LAYERS
    plane_set = read_planes(planes_store)
    assert np.array_equal(group["triplet"][:], plane_set.indices)
    probes = ProbeParts(list(probe_dirs.values()))
    for epoch in EPOCHS:
        model = load_checkpoint_model(checkpoints[epoch], RUN, fmnist)
        direct = predict_planes(model, LAYERS, probes.part_of(epoch).probes(epoch), plane_set, 20, "cpu")
        for layer in LAYERS:
            assert np.array_equal(parts.part_of(epoch).preds(layer, epoch), direct[layer]), (epoch, layer)


def _tiles(preds_dirs, tmp_path) -> list:
    tiles = []
    for rows, cols in (((0, 1), (0, 1)), ((0, 1), (2, 3)), ((2, 3), (2, 3))):
        tile = tmp_path / f"tile{rows}{cols}"
        run_tile(tile, [preds_dirs[rows]], [preds_dirs[cols]], list(rows), list(cols), rows == cols, {"tile": "t"})
        tiles.append(tile)
    return tiles


def test_tiles_assemble_to_the_direct_matrix(preds_dirs, probe_dirs, tmp_path):
    counts, points = assemble(_tiles(preds_dirs, tmp_path), EPOCHS)
    assert points == 3 * 36 and list(counts) == LAYERS
    parts = PredsParts(list(preds_dirs.values()))
    probes = ProbeParts(list(probe_dirs.values()))
    train_err, test_err = probes.errors(EPOCHS)
    write_assembled(tmp_path / "assembled", counts, points, EPOCHS, train_err, test_err, {"layer_labels": {}})
    result = open_drs(tmp_path / "assembled")
    assert result.layers == LAYERS and list(result.epochs) == EPOCHS and result.points == points
    assert np.array_equal(result.probe_test_err, test_err)
    for layer in LAYERS:
        m = result[layer]
        assert np.array_equal(m, drs_matrix(parts.stack(layer, EPOCHS), 10)), layer
        assert np.array_equal(result.counts[layer], np.rint(m * points).astype(np.int64))
        assert np.array_equal(m, m.T) and np.all(np.diag(m) == 1.0) and np.all((m >= 0) & (m <= 1))
    assert not all(np.all(result[layer] == 1.0) for layer in LAYERS)  # training changed some decision regions


def test_assembly_refuses_missing_tiles(preds_dirs, tmp_path):
    tiles = _tiles(preds_dirs, tmp_path)
    with pytest.raises(ValueError, match=r"cell \(0, 2\) is missing"):
        assemble([tiles[0], tiles[2]], EPOCHS)


def test_figures_of_an_assembled_result(trained, preds_dirs, probe_dirs, tmp_path):
    _, metrics = trained
    counts, points = assemble(_tiles(preds_dirs, tmp_path), EPOCHS)
    _, test_err = ProbeParts(list(probe_dirs.values())).errors(EPOCHS)
    labels = {layer: f"L{i}" for i, layer in enumerate(LAYERS)}
    rows = with_probe_errors(metrics, EPOCHS[::2], test_err[::2], LAYERS, labels)
    assert rows[0]["probe_(a) L0"] == test_err[0, 0] and rows[2]["probe_(f) L5"] == test_err[2, 5]
    assert not any(k.startswith("probe_") for k in rows[1])  # epoch 1 is not on this grid
    out = tmp_path / "figures"
    drs_figures(
        out,
        {k: v / points for k, v in counts.items()},
        EPOCHS,
        title="t",
        metrics_rows=metrics,
        probe_test_err=test_err,
        layer_labels=labels,
        marks={"perfect fit": None, "late": 99},
    )
    for path in [out / "heatmaps" / f"{layer}.png" for layer in LAYERS] + [out / "panel.png", out / "probe_errors.png"]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    assert (out / "panel.pdf").read_bytes()[:4] == b"%PDF" and (out / "probe_errors.pdf").is_file()


# ---------------------------------------------------------------- killed jobs


def test_killed_jobs_leave_no_part(checkpoints, fmnist_path, probe_dirs, planes_store, tmp_path, monkeypatch):
    from repdyn.drs import preds_job, probe_job

    def dies_on_second_call(real):
        calls = {"n": 0}

        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("killed")
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(probe_job, "train_probes", dies_on_second_call(probe_job.train_probes))
    monkeypatch.setattr(preds_job, "predict_planes", dies_on_second_call(preds_job.predict_planes))
    epochs = {e: checkpoints[e] for e in (0, 1)}
    with pytest.raises(KeyboardInterrupt):
        probe_part(RUN, fmnist_path, epochs, tmp_path / "probe", PROBE, IDS, None)
    with pytest.raises(KeyboardInterrupt):
        preds_part(RUN, fmnist_path, epochs, probe_dirs[(0, 1)], planes_store, tmp_path / "preds", {}, 50)
    assert list(tmp_path.iterdir()) == []


def test_predictions_need_the_probes_of_their_epochs(checkpoints, fmnist_path, probe_dirs, planes_store, tmp_path):
    with pytest.raises(ValueError, match=r"has no probes for epochs \[2\]"):
        preds_part(RUN, fmnist_path, {2: checkpoints[2]}, probe_dirs[(0, 1)], planes_store, tmp_path / "x", {}, 50)
    with pytest.raises(FileNotFoundError, match="did make_planes finish"):
        read_planes(tmp_path / "missing.zarr")


# ---------------------------------------------------------------- plan: what each setting invalidates


def _drs_of(raw: dict):
    exp = plan.build(config.resolve(raw)).experiments[0]
    return exp.drs, exp


def _ids(raw: dict) -> dict:
    art, exp = _drs_of(raw)
    return {
        "planes": art.preds.planes.id,
        "probe": art.preds.probe.id,
        "preds": art.preds.id,
        "drs": art.id,
        "run": exp.run.id,
        "cka": exp.cka.id,
    }


@pytest.mark.parametrize(
    "section, key, value, changed",
    [
        ("drs", "planes", 7, {"planes", "preds", "drs"}),
        ("drs", "resolution", 9, {"planes", "preds", "drs"}),
        ("drs", "range_l", 0.5, {"planes", "preds", "drs"}),
        ("drs", "triplet_labels", "clean", {"planes", "preds", "drs"}),
        ("probe", "epochs", 3, {"probe", "preds", "drs"}),
        ("probe", "min_steps", 20, {"probe", "preds", "drs"}),
        ("probe", "labels", "clean", {"probe", "preds", "drs"}),
        ("drs", "block", 5, {"drs"}),
        ("probe", "memory_budget_mb", 1, set()),
        ("drs", "eval_batch_size", 7, set()),
    ],
)
def test_each_setting_changes_exactly_the_ids_downstream_of_it(section, key, value, changed):
    raw = tiny_raw()
    other = copy.deepcopy(raw)
    other["defaults"].setdefault(section, {})[key] = value
    before, after = _ids(raw), _ids(other)
    assert {k for k in before if before[k] != after[k]} == changed


def test_parts_follow_the_training_segments_and_grid():
    raw = tiny_raw(epochs=6)
    raw["defaults"]["grids"]["drs"] = [0, 1, 5]  # segments (0, 2], (2, 4], (4, 6]: the middle one has no epoch
    raw["defaults"]["drs"] = {"block": 2}
    raw["defaults"]["probe"] = {"memory_budget_mb": 100}
    art, exp = _drs_of(raw)
    assert art.preds.parts == ((0, 0, (0,)), (0, 2, (1,)), (4, 6, (5,))) == art.preds.probe.parts
    assert art.preds.probe_part(4, 6) == art.preds.probe.part_dir(4, 6)
    assert art.tiles(6) == [(0, 1, 0, 1), (0, 1, 5, 5), (5, 5, 5, 5)]
    assert art.tile_parts((0, 1, 5, 5)) == (
        [str(art.preds.part_dir(0, 0)), str(art.preds.part_dir(0, 2))],
        [str(art.preds.part_dir(4, 6))],
    )
    assert exp.run.checkpoint_epochs == (0, 1, 2, 3, 4, 5, 6)  # the CKA grid (every epoch) already needs them all
    assert art.preds.probe.mem_mb == 100 + plan.drs.PROBE_JOB_OVERHEAD_MB
    assert str(art.assembled_dir(6)).endswith(f"drs/{art.id}/e000006") and art.length_of("e000006") == 6
    entry = plan.build(config.resolve(raw)).index()["experiments"]["tiny"]["drs"]
    assert entry == {
        "id": art.id,
        "preds": art.preds.id,
        "probe": art.preds.probe.id,
        "planes": art.preds.planes.id,
        "assembled": str(art.assembled_dir(6)),
    }


def test_experiments_share_probes_but_not_predictions_of_other_planes():
    raw = tiny_raw()
    raw["experiments"] = [
        {"name": "a", "probe": {"memory_budget_mb": 500}},
        {"name": "b", "drs": {"planes": 7, "eval_batch_size": 64}, "grids": {"drs": [0, 1]}},
    ]
    p = plan.build(config.resolve(raw))
    a, b = p.experiment("a").drs, p.experiment("b").drs
    assert a.preds.probe is b.preds.probe and len(p.probes) == 1  # same run, same probe settings
    assert a.preds.probe.epochs == (0, 1, 2, 4) and a.preds.probe.memory_budget_mb == 500
    assert a.preds.planes is not b.preds.planes and len(p.preds) == 2
    assert (a.preds.epochs, b.preds.epochs) == ((0, 2, 4), (0, 1))
    assert (a.preds.eval_batch_size, b.preds.eval_batch_size) == (1024, 64)
    assert p.spec("preds", b.preds.id)["inputs"] == {"probe": b.preds.probe.id, "planes": b.preds.planes.id}
    assert sorted(p.drs_targets()) == sorted(
        [str(a.assembled_dir(4)), str(b.assembled_dir(4))]
        + [str(a.tile_dir(t)) for t in a.tiles(4)]
        + [str(b.tile_dir(t)) for t in b.tiles(4)]
    )
