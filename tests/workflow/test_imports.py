"""Imported runs through the real Snakemake CLI: the documented example (an outside CNN trained by its own
loop) analysed to the reports and checked against an exact float64 computation, and a repdyn-trained run
imported back as an external run, which must give the native run's CKA and DRS matrices bit for bit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from support import REPO
from support.configs import require_fashion_mnist, tiny_raw
from support.workflow import copy_run, pipeline_targets, snakemake, write_config

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "imported-run"
WIDTH = 4  # the example's default (at width 2 its ReLUs die and every later layer is constant)


def exact_full_biased(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s linear CKA of (n, p) and (n, q) features, float64, from centred Grams."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    k, l = x @ x.T, y @ y.T
    return float((k * l).sum() / np.sqrt((k * k).sum() * (l * l).sum()))


def layer_outputs(out: Path, epoch: int, images: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
    """The flattened outputs of the example's network at `epoch` (its own checkpoint, its own class), as float64.

    The network computes in float32, as it was trained: its layer outputs are the float32 ones (a float64
    forward differs from them by up to 2e-6 in CKA at the logits); everything after them is float64 here."""
    sys.path.insert(0, str(EXAMPLE))
    from tinynet import make

    net = make(width=WIDTH).eval()
    net.load_state_dict(torch.load(out / "checkpoints" / f"epoch_{epoch}.pt", weights_only=True)["model_state_dict"])
    captured = {}
    for name in layers:
        getattr(net, name).register_forward_hook(lambda _m, _a, o, name=name: captured.__setitem__(name, o))
    with torch.no_grad():
        net(torch.from_numpy(images).float().div(255).unsqueeze(1))  # normalisation mean 0, std 1
    return {name: captured[name].reshape(len(images), -1).double().numpy() for name in layers}


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> Path:
    """The walk-through of docs/imported-runs.md: the example script, then snakemake on its it.yaml."""
    require_fashion_mnist()
    out = tmp_path_factory.mktemp("example")
    subprocess.run(
        [sys.executable, str(EXAMPLE / "train_tinynet.py"), "--out", str(out), "--width", str(WIDTH)],
        check=True,
        capture_output=True,
    )
    raw = yaml.safe_load((out / "it.yaml").read_text())
    raw["defaults"]["drs"]["block"] = 2
    snakemake(out / "w", write_config(out / "w", raw, "it.yaml"))
    return out


def test_example_cka_equals_an_exact_float64_computation(example_run):
    from repdyn.cka.layer_pairs import LAYER_PAIRS_STORE, read_layer_pairs
    from repdyn.cka.store import read_matrix_store

    work = example_run / "w"
    (cka_dir,) = (work / "results" / "cka").iterdir()
    matrices, rows, cols, attrs = read_matrix_store(cka_dir / "e000005" / "cka.zarr")
    assert attrs["estimator"] == "full_biased" and list(rows) == list(range(6))
    (part,) = [p for p in (work / "results" / "extract").glob("*/000000-000000")]
    import zarr

    probe = zarr.open_group(str(part / "grams.zarr"), mode="r")["probe_index"][...].reshape(-1)
    with np.load(example_run / "arrays.npz") as arrays:
        images = arrays["test_images"][probe]
    layers = ["conv1", "conv2", "head"]
    outputs = [layer_outputs(example_run, e, images, layers) for e in range(6)]
    for layer in layers:
        exact = np.array(
            [[exact_full_biased(outputs[i][layer], outputs[j][layer]) for j in range(6)] for i in range(6)]
        )
        np.testing.assert_allclose(matrices[layer], exact, atol=1e-6, rtol=0)
    pairs, names, _ = read_layer_pairs(cka_dir / "layers" / "e000005" / LAYER_PAIRS_STORE)
    assert names == layers
    exact = np.array([[exact_full_biased(outputs[5][a], outputs[5][b]) for b in layers] for a in layers])
    np.testing.assert_allclose(pairs, exact, atol=1e-6, rtol=0)
    import xarray

    labelled = xarray.open_zarr(cka_dir / "layers" / "e000005" / LAYER_PAIRS_STORE).cka
    assert labelled.sel(row_layer="conv1", col_layer="head").item() == pairs[0, 2]


def test_example_metrics_report_and_verify(example_run):
    from repdyn.train import read_metrics

    work = example_run / "w"
    (metrics,) = (work / "results" / "train").glob("*/metrics/e000005.tsv")
    rows = read_metrics(metrics)
    assert [r["epoch"] for r in rows] == list(range(6))
    with np.load(example_run / "arrays.npz") as arrays:
        images, labels = arrays["test_images"], arrays["test_labels"]
    sys.path.insert(0, str(EXAMPLE))
    from tinynet import make

    net = make(width=WIDTH).eval()
    net.load_state_dict(torch.load(example_run / "checkpoints" / "epoch_5.pt", weights_only=True)["model_state_dict"])
    with torch.no_grad():
        predicted = net(torch.from_numpy(images).float().div(255).unsqueeze(1)).argmax(1).numpy()
    assert rows[-1]["test_err"] == pytest.approx(float((predicted != labels).mean()), abs=1e-12)
    page = (work / "reports" / "experiments" / "tinynet" / "index.html").read_text()
    assert (
        "Layer x layer CKA" in page
        and (work / "reports" / "experiments" / "tinynet" / "figures" / "layer_pairs_e5.png").is_file()
    )
    proc = subprocess.run(
        [sys.executable, "-m", "repdyn", "verify", "results", "reports"], cwd=work, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def imported_raw(checkpoints: Path) -> dict:
    """tiny_raw's run as an external run: repdyn's own builder as the factory, its checkpoints as files."""
    raw = tiny_raw()
    d = raw["defaults"]
    d["model"] = {
        "arch": "external",
        "factory": "repdyn.models:build",
        "kwargs": {"name": "preact_resnet18", "width": 2, "in_channels": 1, "num_classes": 10, "image_size": 32},
        "layers": ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"],
    }
    d["train"] = {"seed": 0, "epochs": 4, "segment_epochs": 2, "checkpoints": str(checkpoints / "e{epoch:06d}.pt")}
    raw["experiments"] = [{"name": "imported"}]
    return raw


def test_a_native_run_imported_back_gives_the_same_matrices_bit_for_bit(tiny_run, tmp_path):
    from repdyn import config, plan
    from repdyn.cka.store import read_matrix_store
    from repdyn.drs.store import open_drs

    native = plan.build(config.load(tiny_run / "config.yaml")).experiments[0]
    flat = tmp_path / "checkpoints"
    flat.mkdir()
    for path in (tiny_run / native.run.dir).rglob("checkpoints/e*.pt"):
        shutil.copyfile(path, flat / path.name)
    work = copy_run(tiny_run, tmp_path / "w")  # data, planes and pairs are shared: only the run's own work runs
    cfg = write_config(work, imported_raw(flat), "imported.yaml")
    snakemake(work, cfg, *pipeline_targets(cfg))
    imported = plan.build(config.load(cfg)).experiments[0]
    assert imported.data.id == native.data.id and imported.run.id != native.run.id
    ours, _, _, _ = read_matrix_store(work / imported.cka.assembled_dir(4, 4) / "cka.zarr")
    theirs, _, _, _ = read_matrix_store(tiny_run / native.cka.assembled_dir(4, 4) / "cka.zarr")
    assert list(ours) == list(theirs)
    for layer in theirs:
        assert np.array_equal(ours[layer], theirs[layer], equal_nan=True), layer
    ours, theirs = open_drs(work / imported.drs.assembled_dir(4)), open_drs(tiny_run / native.drs.assembled_dir(4))
    for layer in imported_raw(flat)["defaults"]["model"]["layers"]:
        assert np.array_equal(ours[layer], theirs[layer], equal_nan=True), layer
