"""Config validation: every bad value gives a one-line error naming the key path."""

from __future__ import annotations

import re

import pytest
import yaml

from repdyn import config
from repdyn.config import ConfigError


def resolve_with(raw: dict, path: str, value) -> config.Config:
    node = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return config.resolve(raw)


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("defaults.data.lable_noise", 0.1, "unknown key defaults.data.lable_noise (allowed here: dataset"),
        ("defaults.data.label_noise", 1.0, "defaults.data.label_noise: 1.0 is out of range (allowed: 0 <= value < 1)"),
        ("defaults.data.label_noise", -0.1, "defaults.data.label_noise: -0.1 is out of range"),
        ("defaults.data.dataset", "mnist", "defaults.data.dataset: 'mnist' is not allowed (allowed: 'fashion_mnist'"),
        ("defaults.model.width", 0, "defaults.model.width: 0 is out of range (allowed: 1 <= value)"),
        ("defaults.model.width", "8", "defaults.model.width: '8' is not an integer"),
        ("defaults.train.optimizer.name", "rmsprop", "defaults.train.optimizer.name: 'rmsprop' is not allowed"),
        ("defaults.train.epochs", 0, "defaults.train.epochs: 0 is out of range"),
        (
            "defaults.grids.cka",
            [0, 5, 3],
            "grids.cka: explicit grid is not strictly increasing at position 2 (3 after 5)",
        ),
        ("defaults.grids.cka", {"evry": 2}, "unknown key defaults.grids.cka.evry (allowed here: every, include_last)"),
        (
            "defaults.grids.drs",
            {"ranges": [[0, 10, 1], [20, 15, 1]]},
            "grids.drs: ranges[1]: stop 15 is before start 20",
        ),
        ("defaults.data.train_subset", 205, "data.train_subset: 205 is not a multiple of the 10 classes"),
        ("defaults.data.image_size", 30, "data.image_size: 30 is not allowed for fashion_mnist (allowed: 28, 32)"),
        ("defaults.data.probe", {"batches": 40, "batch_size": 512}, "data.probe: 40 x 512 examples exceed the 10000"),
        (
            "defaults.data.probe",
            {"batch_size": 3},
            "defaults.data.probe.batch_size: 3 is out of range (allowed: 4 <= value)",
        ),
        ("defaults.train.optimizer.momentum", 0.9, "train.optimizer.momentum: only used by sgd"),
        ("devcie", "cpu", "unknown key devcie (allowed here: defaults, device, experiments, report, storage, threads)"),
        ("device", "tpu", "device: 'tpu' is not allowed (allowed: 'auto', 'cpu', 'cuda')"),
        ("defaults.sweep", {"model.width": [2, 4]}, "defaults.sweep: not allowed in defaults (give sweep: to an entry"),
        ("defaults.name", "base", "defaults.name: 'base' is not allowed in defaults (each entry of experiments"),
    ],
)
def test_bad_values_name_the_key(tiny, path, value, expected):
    with pytest.raises(ConfigError) as info:
        resolve_with(tiny, path, value)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def _split_model_section(raw: dict) -> None:
    """The model section given by the first experiment only; a second experiment has none."""
    raw["experiments"] = [{"name": "a", "model": raw["defaults"].pop("model")}, {"name": "b"}]


# Each case: a change to tiny_raw and the start of its one-line error, which names the key. A section missing
# from both defaults and the experiment is named with the experiment: only the merged settings lack it.
CONFIG_ERRORS = {
    "no data section": (
        lambda raw: raw["defaults"].pop("data"),
        "experiments[0] (tiny): required section missing: data (give it under defaults: or in this "
        "experiment; data: {} takes the defaults)",
    ),
    "no model section": (
        lambda raw: raw["defaults"].pop("model"),
        "experiments[0] (tiny): required section missing: model",
    ),
    "no train section": (
        lambda raw: raw["defaults"].pop("train"),
        "experiments[0] (tiny): required section missing: train",
    ),
    "no defaults, no sections": (
        lambda raw: raw.pop("defaults"),
        "experiments[0] (tiny): required sections missing: data, model, train",
    ),
    "section in one experiment only": (_split_model_section, "experiments[1] (b): required section missing: model"),
    "required key in a section": (
        lambda raw: raw["defaults"]["data"].update(normalization={"mean": [0.5]}),
        "defaults.data.normalization: required key missing: std",
    ),
    "required keys of a section": (
        lambda raw: raw["defaults"]["data"].update(normalization={}),
        "defaults.data.normalization: required keys missing: mean, std",
    ),
    "experiment without a name": (
        lambda raw: raw["experiments"][0].pop("name"),
        "experiments[0]: required key missing: name",
    ),
    "no experiments": (lambda raw: raw.pop("experiments"), "config: required key missing: experiments"),
    "section not a mapping": (lambda raw: raw["defaults"].update(train=5), "defaults.train: 5 is not a mapping"),
    "empty section": (
        lambda raw: raw["experiments"][0].update(data=None),
        "experiments[0].data: null (empty) is not a mapping",
    ),
    "sweep into a value": (
        lambda raw: raw["experiments"][0].update(sweep={"data.label_noise.q": [0.1]}),
        "experiments[0].sweep: data.label_noise.q does not name a setting inside a mapping",
    ),
    "grid epoch past the end": (
        lambda raw: raw["defaults"]["grids"].update(cka=[0, 2, 200]),
        "experiments[0] (tiny).grids.cka: epoch 200 is past train.epochs = 4;",
    ),
    "grid epochs past the end": (
        lambda raw: raw["defaults"]["grids"].update(drs=[0, 5, 6, 7]),
        "experiments[0] (tiny).grids.drs: epoch 5 is past train.epochs = 4 (and 2 later epochs)",
    ),
    "train_subset too large": (
        lambda raw: raw["defaults"]["data"].update(train_subset=70000),
        "experiments[0] (tiny).data.train_subset: 70000 is more than the 60000 training examples of fashion_mnist",
    ),
    "test_subset too large": (
        lambda raw: raw["defaults"]["data"].update(test_subset=10010),
        "experiments[0] (tiny).data.test_subset: 10010 is more than the 10000 test examples of fashion_mnist",
    ),
    "test_subset unbalanced": (
        lambda raw: raw["defaults"]["data"].update(test_subset=205),
        "experiments[0] (tiny).data.test_subset: 205 is not a multiple of the 10 classes",
    ),
    "probe set too large": (
        lambda raw: raw["defaults"]["data"].update(probe={"batches": 20, "batch_size": 512}),
        "experiments[0] (tiny).data.probe: 20 x 512 examples exceed the 10000 test examples",
    ),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS)
def test_config_errors_are_one_line_naming_the_key(tiny, case):
    change, expected = CONFIG_ERRORS[case]
    change(tiny)
    with pytest.raises(ConfigError) as info:
        config.resolve(tiny)
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message and "Error" not in message


def test_a_loaded_files_errors_start_with_the_file(tmp_path, tiny):
    tiny["defaults"]["data"]["train_subset"] = 70000
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(tiny))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: experiments\[0\] \(tiny\)\.data\.train_subset: "):
        config.load(path)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))} with overrides: .*train_subset: 80000 is more"):
        config.load(path, {"defaults": {"data": {"train_subset": 80000}}})


def test_sizes_within_the_dataset_and_ranges_past_the_end_pass(tiny):
    """The largest subsets pass; a ranges grid reaching past train.epochs is cut there (kept for a longer run)."""
    from repdyn import plan

    tiny["defaults"]["data"].update(train_subset=60000, test_subset=10000)
    tiny["defaults"]["grids"]["cka"] = {"ranges": [[0, 2, 1], [2, 250, 25]]}
    exp = plan.build(config.resolve(tiny)).experiments[0]
    assert exp.experiment.settings["data"]["train_subset"] == 60000 and exp.grids["cka"] == (0, 1, 2)


def test_setting_unused_by_the_architecture_is_rejected(tiny):
    tiny["experiments"].append({"name": "r50", "model": {"arch": "resnet50"}})
    with pytest.raises(ConfigError, match=r"experiments\[1\] \(r50\)\.model\.width: not used by arch 'resnet50'"):
        config.resolve(tiny)


def test_duplicate_names_after_sweep_expansion(tiny):
    tiny["experiments"] = [{"name": "a", "sweep": {"data.label_noise": [0.1, 0.1]}}]
    with pytest.raises(ConfigError, match="duplicate experiment name"):
        config.resolve(tiny)


def test_sweep_expands_the_product(tiny):
    tiny["experiments"] = [{"name": "s", "sweep": {"data.label_noise": [0.0, 0.2], "train.seed": [0, 1, 2]}}]
    cfg = config.resolve(tiny)
    assert len(cfg.experiments) == 6
    combos = {(e.settings["data"]["label_noise"], e.settings["train"]["seed"]) for e in cfg.experiments}
    assert combos == {(q, s) for q in (0.0, 0.2) for s in (0, 1, 2)}
    assert "s-label_noise0.2-seed1" in {e.name for e in cfg.experiments}


def test_sweep_value_is_validated(tiny):
    tiny["experiments"] = [{"name": "s", "sweep": {"model.width": [4, -1]}}]
    with pytest.raises(ConfigError, match=r"\(s-width-1\)\.model\.width: -1 is out of range"):
        config.resolve(tiny)


def test_experiment_overrides_defaults_deeply(tiny):
    tiny["experiments"] = [{"name": "sgd", "train": {"optimizer": {"name": "sgd", "momentum": 0.9}}}]
    train = config.resolve(tiny).experiments[0].settings["train"]
    assert train["optimizer"]["name"] == "sgd" and train["optimizer"]["momentum"] == 0.9
    assert train["optimizer"]["lr"] == 0.001  # from defaults, not replaced by the override
    assert train["batch_size"] == 64


def test_defaults_are_filled_and_numbers_are_floats(tiny):
    exp = config.resolve(tiny).experiments[0]
    assert exp.settings["train"]["optimizer"]["betas"] == [0.9, 0.999]
    assert exp.settings["train"]["augment"] == {"crop_padding": 4, "hflip": True}
    assert exp.settings["grids"]["cka"] == {"every": 1, "include_last": True}
    tiny["defaults"]["train"]["optimizer"]["lr"] = 1
    lr = config.resolve(tiny).experiments[0].settings["train"]["optimizer"]["lr"]
    assert lr == 1.0 and isinstance(lr, float)


def test_load_reports_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: [\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        config.load(bad)


def test_shipped_default_config_is_valid(repo):
    cfg = config.load(repo / "config.yaml")
    assert cfg.experiments and cfg.experiments[0].settings["data"]["dataset"] == "fashion_mnist"


def test_storage_policy_is_checked_and_enters_no_id(tiny):
    from repdyn import plan

    assert config.resolve(tiny).storage == {"grams": "keep"}
    before = plan.build(config.resolve(tiny)).index()
    tiny["storage"] = {"grams": "after_tiles"}
    assert config.resolve(tiny).storage == {"grams": "after_tiles"}
    assert plan.build(config.resolve(tiny)).index() == before
    tiny["storage"] = {"grams": "sometimes"}
    with pytest.raises(config.ConfigError, match=r"^storage\.grams: 'sometimes' is not allowed"):
        config.resolve(tiny)
