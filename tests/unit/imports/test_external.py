"""Imported runs without Snakemake: npz checks, factory and layer checks, checkpoint reading (never
executed), the config rules and the ids (content, not paths; native ids unchanged)."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from support import REPO
from support.configs import tiny_raw

from repdyn import config, plan
from repdyn.imports import npz
from repdyn.imports.external import build_external, check_outputs, state_dict_from

EXAMPLE = REPO / "examples" / "imported-run"
LAYERS = ["conv1", "conv2", "head"]


def arrays(n: int = 20, side: int = 8, classes: int = 4, channels: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = (n, side, side) if channels is None else (n, channels, side, side)
    return {
        "train_images": rng.integers(0, 256, shape, dtype=np.uint8),
        "train_labels": np.arange(n) % classes,
        "test_images": rng.integers(0, 256, shape, dtype=np.uint8),
        "test_labels": np.arange(n) % classes,
    }


def make_run(tmp: Path, epochs: int = 2, width: int = 2) -> dict:
    """An npz file, TinyNet checkpoints of epochs 0..epochs (as another code saves them) and the config."""
    np.savez(tmp / "arrays.npz", **arrays())
    import sys

    sys.path.insert(0, str(EXAMPLE))
    from tinynet import make

    (tmp / "ckpt").mkdir(exist_ok=True)
    for epoch in range(epochs + 1):
        torch.manual_seed(epoch)
        torch.save(
            {"epoch": epoch, "model_state_dict": make(width=width, classes=4, side=8).state_dict()},
            tmp / "ckpt" / f"e{epoch}.pt",
        )
    return {
        "device": "cpu",
        "defaults": {
            "data": {
                "dataset": "npz",
                "path": str(tmp / "arrays.npz"),
                "probe": {"batches": 1, "batch_size": 8, "seed": 0},
            },
            "model": {
                "arch": "external",
                "factory": "tinynet:make",
                "pythonpath": str(EXAMPLE),
                "kwargs": {"width": width, "classes": 4, "side": 8},
                "layers": list(LAYERS),
            },
            "train": {"checkpoints": str(tmp / "ckpt" / "e{epoch}.pt"), "epochs": epochs},
            "grids": {"cka": {"every": 1}, "drs": {"every": epochs}},
        },
        "experiments": [{"name": "imported"}],
    }


@pytest.fixture
def run_raw(tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("REPDYN_DIGEST_CACHE", str(tmp_path / "digests.json"))
    return make_run(tmp_path)


def ids_of(raw: dict) -> dict[str, list[str]]:
    p = plan.build(config.resolve(raw))
    return {name: sorted(getattr(p, name)) for name in ("data", "runs", "extracts", "ckas", "probes", "preds", "drs")}


# --------------------------------------------------------------------------- ids


def test_native_ids_are_those_before_imported_runs_existed():
    """The tiny config's ids as the code before `npz`/`external`/`checkpoints` computed them (the CKA id
    changed once since, when `cka.accumulate` began to default to chunked_float32: it was e2648afd5ddc)."""
    assert ids_of(tiny_raw()) == {
        "data": ["272d8d9b13bd"],
        "runs": ["b3f7d52c1eb6"],
        "extracts": ["d912c4dd4aea"],
        "ckas": ["c1512726ef5c"],
        "probes": ["ca38618ccc06"],
        "preds": ["68c215f19950"],
        "drs": ["6561265ffcd6"],
    }


def test_ids_follow_the_files_content_not_their_paths(run_raw, tmp_path):
    before = ids_of(run_raw)
    moved = tmp_path / "moved"
    (tmp_path / "ckpt").rename(moved)
    raw = copy.deepcopy(run_raw)
    raw["defaults"]["train"]["checkpoints"] = str(moved / "e{epoch}.pt")
    assert ids_of(raw) == before
    torch.save({"model_state_dict": {"x": torch.ones(1)}}, moved / "e1.pt")  # another epoch 1
    after = ids_of(raw)
    assert after["data"] == before["data"]
    assert all(after[k] != before[k] for k in ("runs", "extracts", "ckas", "probes", "preds", "drs"))


def test_editing_the_factory_source_changes_the_run_id(run_raw, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "tinynet.py").write_text((EXAMPLE / "tinynet.py").read_text())
    run_raw["defaults"]["model"]["pythonpath"] = str(project)
    before = ids_of(run_raw)["runs"]
    (project / "tinynet.py").write_text((EXAMPLE / "tinynet.py").read_text() + "\n# edited\n")
    assert ids_of(run_raw)["runs"] != before


# --------------------------------------------------------------------------- npz


@pytest.mark.parametrize(
    "change, array",
    [
        (lambda a: a.update(train_images=a["train_images"].astype(np.float32)), "train_images"),
        (lambda a: a.update(test_images=a["test_images"][:, :4]), "test_images"),
        (lambda a: a.update(train_labels=a["train_labels"][:-1]), "train_labels"),
        (lambda a: a.update(test_labels=a["test_labels"] + 7), "test_labels"),
        (lambda a: a.update(train_labels=a["train_labels"] - 1), "train_labels"),
        (lambda a: a.pop("test_labels"), "test_labels"),
        (lambda a: a.update(train_labels=np.array([{"a": 1}] * 20, dtype=object)), "train_labels"),
    ],
)
def test_bad_arrays_are_one_line_errors_naming_the_array(tmp_path, change, array):
    data = arrays()
    change(data)
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(npz.NpzError) as err:
        npz.facts(tmp_path / "bad.npz")
    assert array in str(err.value) and "\n" not in str(err.value)


def test_npz_facts_and_images_at_native_size(tmp_path):
    np.savez(tmp_path / "a.npz", **arrays(channels=3))
    assert npz.facts(tmp_path / "a.npz") == {
        "classes": 4,
        "channels": 3,
        "native_size": 8,
        "train_size": 20,
        "test_size": 20,
    }
    np.savez(tmp_path / "g.npz", **arrays())
    source = npz.load(tmp_path / "g.npz")
    assert source.train_images.shape == (20, 1, 8, 8) and source.num_classes == 4


def test_npz_dataset_artifact_with_subset_noise_and_probe_set(run_raw, tmp_path):
    from repdyn.data import DatasetArtifact, prepare_dataset

    run_raw["defaults"]["data"].update(train_subset=8, label_noise=0.5, normalization={"mean": [0.5], "std": [0.25]})
    art = plan.build(config.resolve(run_raw)).experiments[0].data
    prepare_dataset({**art.spec["settings"], **art.machine}, tmp_path / "dataset.h5")
    dataset = DatasetArtifact.load(tmp_path / "dataset.h5")
    assert dataset.train_images.shape == (8, 1, 8, 8) and dataset.num_classes == 4
    assert int((dataset.train_labels != dataset.clean_labels).sum()) == 4  # floor(0.5 * 8 / 4) = 1 per class
    assert dataset.probe_images().shape == (1, 8, 1, 8, 8)
    raw_pixels = dataset.probe_images()[0, :1].float()
    assert torch.allclose(dataset.normalize(dataset.probe_images()[0, :1]), (raw_pixels / 255 - 0.5) / 0.25)


def test_npz_config_errors_name_the_key(run_raw):
    raw = copy.deepcopy(run_raw)
    raw["defaults"]["data"]["image_size"] = 32
    with pytest.raises(config.ConfigError, match=r"data\.image_size: 32 is not allowed for npz"):
        config.resolve(raw)
    raw = copy.deepcopy(run_raw)
    del raw["defaults"]["data"]["path"]
    with pytest.raises(config.ConfigError, match=r"data\.path: dataset 'npz' needs"):
        config.resolve(raw)


# --------------------------------------------------------------------------- config rules


def test_a_missing_checkpoint_of_a_grid_epoch_names_file_and_epoch(run_raw, tmp_path):
    os.remove(tmp_path / "ckpt" / "e1.pt")
    with pytest.raises(config.ConfigError) as err:
        plan.build(config.resolve(run_raw))
    assert f"{tmp_path / 'ckpt' / 'e1.pt'} (epoch 1) does not exist" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("train", "optimizer", {"name": "sgd"}, r"train\.optimizer: not used by an imported run"),
        ("train", "checkpoints", None, r"train\.checkpoints: arch external needs"),
        ("model", "width", 4, r"model\.width: not used by arch 'external'"),
        ("cka", "layer_pairs_at", [7], r"cka\.layer_pairs_at: epoch 7 is not a CKA-grid epoch"),
    ],
)
def test_imported_config_errors(run_raw, section, key, value, message):
    run_raw["defaults"].setdefault(section, {})[key] = value
    with pytest.raises(config.ConfigError, match=message):
        plan.build(config.resolve(run_raw))


def test_native_runs_refuse_import_settings():
    raw = tiny_raw(checkpoints="/x/e{epoch}.pt")
    with pytest.raises(config.ConfigError, match=r"train\.checkpoints: only used by arch 'external'"):
        config.resolve(raw)


def test_measured_cost_of_an_unknown_network(run_raw):
    from repdyn.cost import work

    p = plan.build(config.resolve(run_raw))
    measured_id = p.experiments[0].run.id
    cost = work.run_facts(p, measured_id).model
    k, s = 2, 8  # conv1 1->k 3x3 at s^2, conv2 k->2k 3x3 at (s/2)^2, head 2k (s/4)^2 -> 4: 2 FLOPs per multiply-add
    flat = 2 * k * (s // 4) ** 2
    assert cost.flops == 2 * (9 * k * s * s + 9 * k * 2 * k * (s // 2) ** 2 + flat * 4)
    assert cost.params == (9 * k + k) + (9 * k * 2 * k + 2 * k) + (flat * 4 + 4)
    assert cost.layers == {"conv1": (k, s * s), "conv2": (2 * k, (s // 2) ** 2), "head": (4, 1)}
    given = {"flops": 1e6, "params": 123, "features": {"conv1": 10, "conv2": 20, "head": 4}}
    run_raw["defaults"]["model"]["cost"] = given
    p = plan.build(config.resolve(run_raw))
    assert p.experiments[0].run.id == measured_id  # model.cost is a machine setting: in no id
    cost = work.run_facts(p, p.experiments[0].run.id).model
    assert (cost.flops, cost.params, cost.features()) == (1e6, 123, given["features"])


def test_job_counts_of_an_imported_run_equal_a_snakemake_dry_run(run_raw, tmp_path):
    from support.workflow import planned_jobs, write_config

    from repdyn.scheduling import jobs

    expected = planned_jobs(tmp_path / "w", write_config(tmp_path / "w", run_raw))
    assert jobs.count_by_rule(jobs.workflow_jobs(plan.build(config.resolve(run_raw)))) == expected
    assert expected["init"] == 1 and expected["train_segment"] == 1


# --------------------------------------------------------------------------- the network and its checkpoints


def settings(**model) -> dict:
    return {"factory": "tinynet:make", "kwargs": {"width": 2, "side": 8}, "layers": list(LAYERS), **model}


def test_layer_and_factory_errors_list_what_is_valid():
    with pytest.raises(ValueError) as err:
        build_external(settings(layers=["conv1", "fc"]), 1, 8, str(EXAMPLE))
    assert "model.layers: 'fc' is not a module" in str(err.value) and "conv1, conv2, head" in str(err.value)
    with pytest.raises(ValueError, match=r"model.factory: module 'tinynet' has no attribute 'nope'"):
        build_external(settings(factory="tinynet:nope"), 1, 8, str(EXAMPLE))
    with pytest.raises(ValueError, match=r"model.factory: cannot import module 'no_such_module_x'"):
        build_external(settings(factory="no_such_module_x:make"), 1, 8, str(EXAMPLE))


def test_the_configured_layers_override_a_network_s_own_read_only_ones():
    from repdyn.models import build

    kwargs = {"name": "preact_resnet18", "width": 2, "in_channels": 1, "num_classes": 10, "image_size": 8}
    model = build_external(
        {"factory": "repdyn.models:build", "kwargs": kwargs, "layers": ["layer2", "linear"]}, 1, 8, None
    )
    assert model.analysed_layers == ["layer2", "linear"] and model.layer_labels == {
        "layer2": "layer2",
        "linear": "linear",
    }
    assert isinstance(model, type(build(**kwargs))) and list(model.state_dict()) == list(build(**kwargs).state_dict())


def test_a_layer_whose_output_is_not_a_tensor_is_an_error(tmp_path):
    (tmp_path / "pairnet.py").write_text(
        "import torch\n"
        "class Both(torch.nn.Module):\n"
        "    def forward(self, x):\n        return x, x\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.both = Both(); self.fc = torch.nn.Linear(4, 2)\n"
        "    def forward(self, x):\n        return self.fc(self.both(x)[0].flatten(1))\n"
        "def make():\n    return Net()\n"
    )
    model = build_external({"factory": "pairnet:make", "kwargs": {}, "layers": ["both"]}, 1, 2, str(tmp_path))
    with pytest.raises(ValueError) as err:
        check_outputs(model, ["both"], torch.device("cpu"))
    assert "model.layers: 'both' outputs a tuple, not a tensor (modules with tensor outputs: fc)" == str(err.value)


@pytest.mark.parametrize(
    "wrap, key",
    [
        (lambda s: s, None),
        (lambda s: {"model_state_dict": s, "epoch": 3}, None),
        (lambda s: {"state_dict": s, "step": 10}, None),
        (lambda s: {"model": s}, None),
        (lambda s: {"ema": s, "other": {"a": 1}}, "ema"),
    ],
)
def test_state_dicts_are_found_bare_nested_or_by_key(tmp_path, wrap, key):
    state = {"w": torch.arange(3.0)}
    torch.save(wrap(state), tmp_path / "c.pt")
    assert torch.equal(state_dict_from(tmp_path / "c.pt", key)["w"], state["w"])


def test_unrecognised_layout_names_the_file_and_the_setting(tmp_path):
    torch.save({"weights": {"w": torch.ones(1)}, "epoch": 1}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"c\.pt is neither a state dict .* set train\.state_dict_key"):
        state_dict_from(tmp_path / "c.pt", None)


class _Payload:
    """Unpickling this would create a file: the proof that a checkpoint was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_that_would_run_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "executed"
    torch.save({"model_state_dict": {"w": torch.ones(1)}, "hook": _Payload(str(marker))}, tmp_path / "evil.pt")
    with open(tmp_path / "evil2.pt", "wb") as handle:
        pickle.dump(_Payload(str(marker)), handle)
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(ValueError) as err:
            state_dict_from(tmp_path / name, None)
        assert "cannot be read with weights_only=True" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
