"""Tests of repdyn.train: resumable bit-identical segments, augmentation, optimizers, atomicity, metrics.

The data are real Fashion-MNIST (a 250-example balanced training subset made
by prepare_dataset). To keep the per-epoch evaluation within the time budget,
the artifact's test split is reduced to its 200 class-balanced probe examples.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import REPO

from repdyn.machine.devices import resolve_device
from repdyn.train import (
    init_run,
    load_checkpoint_model,
    loop,
    read_metrics,
    train_segment,
)
from repdyn.train.checkpoints import load_checkpoint, load_state
from repdyn.train.metrics import COLUMNS
from repdyn.train.optim import OPTIMIZERS, build_optimizer

SRC = REPO / "src"


def make_run(name: str = "adam", seed: int = 0, eval_train: bool = True, **optimizer) -> dict:
    settings = {
        "name": name,
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "nesterov": False,
    }
    settings.update(optimizer)
    return {
        "model": {"arch": "preact_resnet18", "width": 2, "vit_image_size": 224, "vit_interpolation": "bilinear"},
        "train": {
            "seed": seed,
            "batch_size": 48,
            "optimizer": settings,
            "augment": {"crop_padding": 4, "hflip": True},
            "precision": "fp32",
            "eval_train": eval_train,
        },
    }


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run this module's tiny models on one intra-op thread, then restore the setting.

    On a shared 2-core machine the thread synchronisation of a width-2 network
    costs more than its arithmetic (measured: 5-10x slower with 2 threads under
    load); numbers are compared only between runs with the same thread count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def dataset_path(fmnist_path) -> Path:
    return fmnist_path


def assert_same_tree(a, b, where: str = "") -> None:
    """Every tensor torch.equal (same dtype and shape), every other leaf ==."""
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_tree(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def metric_lines_without_wall(path: Path) -> list[str]:
    return [line.rsplit("\t", 1)[0] for line in path.read_text().splitlines()[1:]]


# --- resume ------------------------------------------------------------------


@pytest.mark.parametrize(
    "run",
    [make_run("adam"), make_run("sgd", momentum=0.9, weight_decay=5e-4, nesterov=True, lr=0.05, eval_train=False)],
    ids=["adam", "sgd-momentum"],
)
def test_resumed_training_is_bit_identical_to_uninterrupted(run, dataset_path, tmp_path):
    init_run(run, dataset_path, tmp_path / "init")
    init_state = tmp_path / "init" / "state.pt"
    train_segment(run, dataset_path, init_state, 4, [2, 4], tmp_path / "whole")
    train_segment(run, dataset_path, init_state, 2, [2], tmp_path / "first")
    train_segment(run, dataset_path, tmp_path / "first" / "state.pt", 4, [4], tmp_path / "second")

    whole, resumed = load_state(tmp_path / "whole" / "state.pt"), load_state(tmp_path / "second" / "state.pt")
    assert whole["epoch"] == resumed["epoch"] == 4
    assert whole["optimizer"]["state"], "optimizer state must be non-empty after training"
    assert_same_tree(whole, resumed)
    for epoch, part in ((2, "first"), (4, "second")):
        name = f"checkpoints/e{epoch:06d}.pt"
        assert_same_tree(load_checkpoint(tmp_path / "whole" / name), load_checkpoint(tmp_path / part / name))
    assert sorted(p.name for p in (tmp_path / "whole" / "checkpoints").iterdir()) == ["e000002.pt", "e000004.pt"]

    # training really happened in train mode: weights and BatchNorm running statistics moved
    start = load_state(init_state)["model"]
    assert not torch.equal(start["conv1.weight"], whole["model"]["conv1.weight"])
    bn_buffers = [key for key in start if key.endswith("running_mean")]
    assert bn_buffers and all(not torch.equal(start[key], whole["model"][key]) for key in bn_buffers)

    whole_lines = metric_lines_without_wall(tmp_path / "whole" / "metrics.tsv")
    split_lines = metric_lines_without_wall(tmp_path / "first" / "metrics.tsv") + metric_lines_without_wall(
        tmp_path / "second" / "metrics.tsv"
    )
    assert len(whole_lines) == 4 and whole_lines == split_lines
    if not run["train"]["eval_train"]:  # train_* then repeat the running (train-mode) values
        rows = read_metrics(tmp_path / "whole" / "metrics.tsv")
        assert all(row["train_err"] == row["run_err"] and row["train_loss"] == row["run_loss"] for row in rows)


def test_seed_decides_the_weights_and_a_fresh_process_reproduces_them(dataset_path, tmp_path):
    init_run(make_run(seed=0), dataset_path, tmp_path / "s0")
    train_segment(make_run(seed=0), dataset_path, tmp_path / "s0" / "state.pt", 1, [1], tmp_path / "s0e1")
    init_run(make_run(seed=1), dataset_path, tmp_path / "s1")
    w0 = load_checkpoint(tmp_path / "s0" / "checkpoints" / "e000000.pt")["model"]
    w1 = load_checkpoint(tmp_path / "s1" / "checkpoints" / "e000000.pt")["model"]
    assert not torch.equal(w0["conv1.weight"], w1["conv1.weight"])

    script = (
        "import sys, json, torch; from repdyn.train import init_run, train_segment; torch.set_num_threads(1); "
        "run = json.loads(sys.argv[1]); d, out = sys.argv[2], sys.argv[3]; "
        "init_run(run, d, out + '/init'); train_segment(run, d, out + '/init/state.pt', 1, [1], out + '/e1')"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run(
        [sys.executable, "-c", script, json.dumps(make_run(seed=0)), str(dataset_path), str(tmp_path / "fresh")],
        check=True,
        env=env,
    )
    for mine, theirs in (
        ("s0/checkpoints/e000000.pt", "fresh/init/checkpoints/e000000.pt"),
        ("s0e1/checkpoints/e000001.pt", "fresh/e1/checkpoints/e000001.pt"),
    ):
        a, b = load_checkpoint(tmp_path / mine)["model"], load_checkpoint(tmp_path / theirs)["model"]
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].numpy().tobytes() == b[key].numpy().tobytes(), key


def test_load_checkpoint_model_returns_the_stored_network_in_eval_mode(dataset_path, tmp_path):
    run = make_run()
    init_run(run, dataset_path, tmp_path / "init")
    path = tmp_path / "init" / "checkpoints" / "e000000.pt"
    geometry = {"in_channels": 1, "num_classes": 10, "image_size": 32}
    model = load_checkpoint_model(path, run, geometry)
    assert not model.training
    stored = load_checkpoint(path)["model"]
    assert all(torch.equal(value, stored[key]) for key, value in model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="e000009.pt"):
        load_checkpoint_model(path.with_name("e000009.pt"), run, geometry)


# --- settings, optimizers, devices -----------------------------------------------


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_build_optimizer_for_each_name(name):
    params = [torch.nn.Parameter(torch.zeros(3))]
    settings = make_run(name, lr=0.01, weight_decay=0.1, momentum=0.5)["train"]["optimizer"]
    optimizer = build_optimizer(params, settings)
    expected = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    assert type(optimizer) is expected
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 0.1
    if name == "sgd":
        assert group["momentum"] == 0.5
    else:
        assert group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8


@pytest.mark.parametrize(
    "change, key",
    [
        ({"name": "rmsprop"}, "train.optimizer.name"),
        ({"lr": -1.0}, "train.optimizer.lr"),
        ({"lr": "fast"}, "train.optimizer.lr"),
        ({"betas": [0.9]}, "train.optimizer.betas"),
        ({"eps": 0.0}, "train.optimizer.eps"),
        ({"weight_decay": -0.1}, "train.optimizer.weight_decay"),
        ({"name": "sgd", "momentum": -0.5}, "train.optimizer.momentum"),
        ({"name": "sgd", "nesterov": True}, "train.optimizer.nesterov"),
    ],
)
def test_bad_optimizer_settings_name_the_key(change, key):
    settings = make_run()["train"]["optimizer"]
    settings.update(change)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as info:
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], settings)
    if key.endswith("name"):
        assert "adam, adamw, sgd" in str(info.value)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        (None, "precision", "fp8", "train.precision"),
        (None, "batch_size", 1, "train.batch_size"),
        (None, "seed", -3, "train.seed"),
        (None, "eval_train", "yes", "train.eval_train"),
        ("augment", "crop_padding", -1, "train.augment.crop_padding"),
        ("augment", "hflip", None, "train.augment.hflip"),
        (None, "augment", None, "train.augment"),
        (None, "optimizer", [], "train.optimizer"),
    ],
)
def test_bad_train_settings_name_the_key(section, key, value, message):
    run = make_run()
    (run["train"][section] if section else run["train"])[key] = value
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        loop.TrainSettings.from_run(run)


def test_mixed_precision_and_missing_cuda_are_clear_errors(dataset_path, tmp_path):
    run = make_run()
    run["train"]["precision"] = "bf16"
    with pytest.raises(ValueError, match="train.precision"):
        init_run(run, dataset_path, tmp_path / "init")
    assert not (tmp_path / "init").exists()
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="tpu"):
        resolve_device("tpu")


# --- atomicity and segment bounds ----------------------------------------------


def test_failure_mid_segment_leaves_no_output(dataset_path, tmp_path, monkeypatch):
    run = make_run()
    init_run(run, dataset_path, tmp_path / "init")
    original, calls = loop.train_one_epoch, []

    def fail_on_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated kill")
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "train_one_epoch", fail_on_second_epoch)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train_segment(run, dataset_path, tmp_path / "init" / "state.pt", 3, [1, 3], tmp_path / "segment")
    assert len(calls) == 2
    assert not (tmp_path / "segment").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["init"]

    def fail_evaluation(*args, **kwargs):
        raise RuntimeError("simulated kill during init")

    monkeypatch.setattr(loop, "epoch_metrics", fail_evaluation)
    with pytest.raises(RuntimeError, match="during init"):
        init_run(run, dataset_path, tmp_path / "init2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["init"]


@pytest.mark.parametrize("end, epochs", [(2, [0]), (2, [3]), (2, [1, 5]), (0, []), (2, [1.5])])
def test_checkpoint_epochs_outside_the_segment_are_rejected(dataset_path, tmp_path, end, epochs):
    run = make_run()
    init_run(run, dataset_path, tmp_path / "init")
    with pytest.raises(ValueError, match=r"segment"):
        train_segment(run, dataset_path, tmp_path / "init" / "state.pt", end, epochs, tmp_path / "segment")
    assert not (tmp_path / "segment").exists()
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        train_segment(run, dataset_path, tmp_path / "nowhere.pt", 2, [2], tmp_path / "segment")


# --- metrics -------------------------------------------------------------------


def test_metrics_table_columns_and_ranges(dataset_path, tmp_path):
    run = make_run()
    init_run(run, dataset_path, tmp_path / "init")
    train_segment(run, dataset_path, tmp_path / "init" / "state.pt", 2, [], tmp_path / "seg")
    header = (tmp_path / "seg" / "metrics.tsv").read_text().splitlines()[0]
    assert tuple(header.split("\t")) == COLUMNS
    rows = read_metrics([tmp_path / "seg" / "metrics.tsv", tmp_path / "init" / "metrics.tsv"])
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert math.isnan(rows[0]["run_loss"]) and math.isnan(rows[0]["run_err"])
    for row in rows:
        assert 0.0 <= row["noisy_fit"] <= 1.0
        for column in ("train_err", "train_err_clean", "test_err"):
            assert 0.0 <= row[column] <= 1.0
        assert row["train_loss"] > 0 and row["test_loss"] > 0 and row["wall_s"] > 0
    for row in rows[1:]:
        assert 0.0 <= row["run_err"] <= 1.0 and row["run_loss"] > 0
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    with pytest.raises(ValueError, match="epoch 0 appears in both"):
        read_metrics([tmp_path / "init" / "metrics.tsv", tmp_path / "init" / "metrics.tsv"])
