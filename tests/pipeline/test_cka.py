"""The CKA stages as the workflow runs them (extract -> tiles -> assemble) equal a direct evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr
from support.configs import pipeline_run

from repdyn.cka import ESTIMATORS, cka_matrix, open_cka
from repdyn.cka.assemble_job import assemble, write_assembled
from repdyn.cka.tile_job import run_tile
from repdyn.extract.job import extract_part, probe_grams
from repdyn.models import LayerTap
from repdyn.train import init_run, load_checkpoint_model, train_segment

RUN = pipeline_run(eval_train=False)
EPOCHS = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def checkpoints(fmnist_path, tmp_path_factory):
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("cka-run")
    init_run(RUN, fmnist_path, work / "init")
    train_segment(RUN, fmnist_path, work / "init" / "state.pt", 3, [1, 2, 3], work / "seg")
    paths = {0: work / "init" / "checkpoints" / "e000000.pt"}
    paths.update({e: work / "seg" / "checkpoints" / f"e{e:06d}.pt" for e in (1, 2, 3)})
    return paths


def direct_activations(checkpoints, fmnist) -> dict[str, list[np.ndarray]]:
    """Every epoch's flattened probe-set activations, computed without the pipeline."""
    probe = fmnist.probe_images().reshape(-1, *fmnist.train_images.shape[1:])
    acts: dict[str, list[np.ndarray]] = {}
    for epoch in EPOCHS:
        model = load_checkpoint_model(checkpoints[epoch], RUN, fmnist)
        with torch.no_grad(), LayerTap(model, model.analysed_layers) as tap:
            model(fmnist.normalize(probe))
            for layer, value in tap.outputs.items():
                acts.setdefault(layer, []).append(value.double().numpy())
    return acts


@pytest.fixture(scope="module")
def parts(checkpoints, fmnist_path, tmp_path_factory):
    """Two extraction parts, as two training segments would give, with the full Gram kept."""
    out = tmp_path_factory.mktemp("extract")
    settings = {"raw_max_features": 16, "full_gram": True, "tf32": False}
    ids = {"extract": "test", "run": "test"}
    extract_part(RUN, fmnist_path, {e: checkpoints[e] for e in (0, 1)}, out / "a", settings, ids)
    extract_part(RUN, fmnist_path, {e: checkpoints[e] for e in (2, 3)}, out / "b", settings, ids)
    return [out / "a", out / "b"]


def test_extraction_store_is_readable_with_its_coordinates(parts, fmnist):
    group = zarr.open_group(str(parts[1] / "grams.zarr"), mode="r")
    assert list(group["epoch"][:]) == [2, 3]
    grams = group["grams/layer2"]
    n = fmnist.probe_index.shape[1]
    assert grams.shape == (2, fmnist.probe_index.shape[0], n * (n + 1) // 2)
    assert grams.metadata.dimension_names == ("epoch", "batch", "packed_gram")
    assert "raw/linear" in group and "raw/layer4" not in group  # only layers with <= 16 features
    assert np.array_equal(group["probe_index"][:], fmnist.probe_index.numpy())
    assert group.attrs["layers"] == ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]


def test_extraction_equals_a_fresh_network_per_epoch(parts, checkpoints, fmnist):
    """The job builds the network once and loads each epoch's weights into it, normalising the probe set
    once: the Grams equal those of a network built from each checkpoint alone, bit for bit."""
    for part, epochs in zip(parts, ((0, 1), (2, 3))):
        group = zarr.open_group(str(part / "grams.zarr"), mode="r")
        for position, epoch in enumerate(epochs):
            model = load_checkpoint_model(checkpoints[epoch], RUN, fmnist)
            alone = probe_grams(
                model,
                fmnist.probe_images(),
                fmnist.normalize,
                model.analysed_layers,
                torch.device("cpu"),
                full_gram=True,
                raw_max_features=16,
            )
            for layer, entry in alone.items():
                for kind, values in entry.items():
                    assert np.array_equal(group[f"{kind}/{layer}"][position], values), (epoch, layer, kind)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_tiles_assemble_to_the_direct_matrix(parts, checkpoints, fmnist, tmp_path, estimator):
    settings = {"estimator": estimator, "accumulate": "float64"}
    # three tiles of a 2 x 2 block split: [0,1] x [0,1] (diagonal), [0,1] x [2,3], [2,3] x [2,3]
    blocks = {(0, 1): [parts[0]], (2, 3): [parts[1]]}
    tiles = []
    for rows, cols in (((0, 1), (0, 1)), ((0, 1), (2, 3)), ((2, 3), (2, 3))):
        tile = tmp_path / f"tile{rows}{cols}"
        run_tile(tile, blocks[rows], blocks[cols], list(rows), list(cols), settings, rows == cols, {"tile": "t"})
        tiles.append(tile)
    matrices, _ = assemble(tiles, EPOCHS, EPOCHS, symmetric=True)
    write_assembled(
        tmp_path / "assembled", matrices, EPOCHS, EPOCHS, {"estimator": estimator, "layers": list(matrices)}
    )
    result = open_cka(tmp_path / "assembled")
    acts = direct_activations(checkpoints, fmnist)
    batch = fmnist.probe_index.shape[1]
    assert result.layers == list(acts)
    for layer, epochs_acts in acts.items():
        expected = cka_matrix(epochs_acts, estimator=estimator, batch_size=batch)
        got = result[layer]
        assert np.abs(got - expected).max() <= 1e-6, layer
        assert np.array_equal(got, got.T) and np.all(np.diag(got) == 1.0)
    assert list(result.row_epochs) == EPOCHS


def test_assembly_refuses_missing_tiles(parts, tmp_path):
    tile = tmp_path / "only-diagonal"
    run_tile(
        tile,
        [parts[0]],
        [parts[0]],
        [0, 1],
        [0, 1],
        {"estimator": "minibatch_unbiased", "accumulate": "float64"},
        True,
        {},
    )
    with pytest.raises(ValueError, match="tiles do not cover the matrix"):
        assemble([tile], EPOCHS, EPOCHS, symmetric=True)


def test_killed_extraction_leaves_no_part(checkpoints, fmnist_path, tmp_path, monkeypatch):
    import repdyn.extract.job as extract

    calls = {"n": 0}
    real = extract.probe_grams

    def dies_on_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(extract, "probe_grams", dies_on_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        extract_part(
            RUN,
            fmnist_path,
            {0: checkpoints[0], 1: checkpoints[1]},
            tmp_path / "part",
            {"raw_max_features": 0, "full_gram": False, "tf32": False},
            {},
        )
    assert list(tmp_path.iterdir()) == []


def test_one_part_of_four_epochs_equals_two_parts_of_two(parts, checkpoints, fmnist_path, tmp_path):
    """One job over four epochs loads three checkpoints into the network it built for the first: the stored
    arrays equal those of the two-epoch parts, bit for bit."""
    settings = {"raw_max_features": 16, "full_gram": True, "tf32": False}
    extract_part(RUN, fmnist_path, checkpoints, tmp_path / "all", settings, {"extract": "test", "run": "test"})
    whole = zarr.open_group(str(tmp_path / "all" / "grams.zarr"), mode="r")
    halves = [zarr.open_group(str(part / "grams.zarr"), mode="r") for part in parts]
    assert list(whole["epoch"][:]) == EPOCHS
    for name, array in whole["grams"].arrays():
        assert np.array_equal(array[:], np.concatenate([h[f"grams/{name}"][:] for h in halves])), name
    for kind in ("raw", "full"):
        for name, array in whole[kind].arrays():
            assert np.array_equal(array[:], np.concatenate([h[f"{kind}/{name}"][:] for h in halves])), (kind, name)


def test_a_failed_write_stops_the_extraction_and_leaves_no_part(checkpoints, fmnist_path, tmp_path, monkeypatch):
    import repdyn.extract.job as extract

    real = extract.write_epoch

    def full_disk_at_the_third_epoch(arrays, position, result):
        if position == 2:
            raise OSError(28, "No space left on device")
        real(arrays, position, result)

    monkeypatch.setattr(extract, "write_epoch", full_disk_at_the_third_epoch)
    settings = {"raw_max_features": 0, "full_gram": False, "tf32": False}
    with pytest.raises(OSError, match="No space left"):
        extract_part(RUN, fmnist_path, checkpoints, tmp_path / "part", settings, {})
    assert list(tmp_path.iterdir()) == []


def test_cross_run_tile_equals_pairwise_cka(checkpoints, parts, fmnist, fmnist_path, tmp_path):
    """Rows from one run, columns from an independently initialised one (the paper's Appendix H.1)."""
    from repdyn.cka import cka

    other = {**RUN, "train": {**RUN["train"], "seed": 1}}
    init_run(other, fmnist_path, tmp_path / "init")
    other_ckpt = {0: tmp_path / "init" / "checkpoints" / "e000000.pt"}
    extract_part(
        other,
        fmnist_path,
        other_ckpt,
        tmp_path / "other-part",
        {"raw_max_features": 0, "full_gram": False, "tf32": False},
        {},
    )
    run_tile(
        tmp_path / "cross",
        parts,
        [tmp_path / "other-part"],
        EPOCHS,
        [0],
        {"estimator": "minibatch_unbiased", "accumulate": "float64"},
        False,
        {},
    )
    matrices, rows, cols = open_cross(tmp_path / "cross")
    assert list(rows) == EPOCHS and list(cols) == [0]
    probe = fmnist.probe_images().reshape(-1, *fmnist.train_images.shape[1:])
    ours = direct_activations(checkpoints, fmnist)
    model = load_checkpoint_model(other_ckpt[0], other, fmnist)
    with torch.no_grad(), LayerTap(model, model.analysed_layers) as tap:
        model(fmnist.normalize(probe))
        theirs = {k: v.double().numpy() for k, v in tap.outputs.items()}
    batch = fmnist.probe_index.shape[1]
    for layer, m in matrices.items():
        assert m.shape == (len(EPOCHS), 1)
        for i in range(len(EPOCHS)):
            assert abs(m[i, 0] - cka(ours[layer][i], theirs[layer], batch_size=batch)) <= 1e-6, (layer, i)


def open_cross(tile_dir):
    from repdyn.cka.store import TILE_STORE, read_matrix_store

    matrices, rows, cols, _ = read_matrix_store(tile_dir / TILE_STORE)
    return matrices, rows, cols
