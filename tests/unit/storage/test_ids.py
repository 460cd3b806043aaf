"""Content-addressed ids: stable, order-independent, sensitive to exactly what matters."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from repdyn import config, plan
from repdyn.storage import ids


def ids_of(raw: dict) -> tuple[str, str]:
    p = plan.build(config.resolve(raw))
    exp = p.experiments[0]
    return exp.data.id, exp.run.id


def test_id_is_12_hex_and_key_order_does_not_matter():
    a = ids.artifact_id("data", {"x": 1, "y": {"b": 2, "a": 3}})
    b = ids.artifact_id("data", {"y": {"a": 3, "b": 2}, "x": 1})
    assert a == b and len(a) == 12 and int(a, 16) >= 0


def test_format_version_and_inputs_enter_the_id(monkeypatch):
    base = ids.artifact_id("train", {"x": 1}, {"data": "abc"})
    assert ids.artifact_id("train", {"x": 1}, {"data": "abd"}) != base
    monkeypatch.setitem(ids.FORMAT_VERSIONS, "train", ids.FORMAT_VERSIONS["train"] + 1)
    assert ids.artifact_id("train", {"x": 1}, {"data": "abc"}) != base


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError, match="non-finite"):
        ids.artifact_id("data", {"x": float("nan")})


def test_same_config_same_ids_in_another_process(tiny, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(tiny))
    code = (
        "import json,sys; from repdyn import config, plan; "
        f"p = plan.build(config.resolve(json.load(open({str(path)!r})))); "
        "e = p.experiments[0]; print(e.data.id, e.run.id)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(config.__file__).rsplit("/repdyn/", 1)[0], "PYTHONHASHSEED": "123"},
    )
    assert tuple(out.stdout.split()) == ids_of(tiny)


def test_explicit_defaults_give_the_same_ids(tiny):
    explicit = copy.deepcopy(tiny)
    explicit["defaults"]["train"]["optimizer"].update(betas=[0.9, 0.999], eps=1e-8, weight_decay=0)
    explicit["defaults"]["train"]["precision"] = "fp32"
    explicit["defaults"]["data"]["normalization"] = "auto"
    explicit["defaults"]["train"]["optimizer"]["lr"] = 1e-3
    assert ids_of(explicit) == ids_of(tiny)


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("train", "epochs", 400),
        ("train", "segment_epochs", 7),
        ("data", "root", "/elsewhere"),
        ("grids", "cka", {"every": 3}),
    ],
)
def test_settings_that_do_not_change_the_data_or_weights_keep_both_ids(tiny, section, key, value):
    before = ids_of(tiny)
    tiny["defaults"][section][key] = value
    assert ids_of(tiny) == before


@pytest.mark.parametrize(
    "section, key, value, data_changes",
    [
        ("train", "seed", 1, False),
        ("train", "batch_size", 32, False),
        ("model", "width", 3, False),
        ("train", "precision", "bf16", False),
        ("train", "augment", {"hflip": False}, False),
        ("data", "label_noise", 0.1, True),
        ("data", "noise_seed", 5, True),
        ("data", "train_subset", 100, True),
    ],
)
def test_settings_that_matter_change_the_right_ids(tiny, section, key, value, data_changes):
    data_before, run_before = ids_of(tiny)
    tiny["defaults"][section][key] = value
    data_after, run_after = ids_of(tiny)
    assert run_after != run_before  # everything here changes the weights
    assert (data_after != data_before) == data_changes


def test_experiments_sharing_a_run_share_its_artifacts(tiny):
    tiny["experiments"] = [{"name": "short", "train": {"epochs": 2}}, {"name": "long", "train": {"epochs": 6}}]
    p = plan.build(config.resolve(tiny))
    short, long = p.experiments
    assert short.run is long.run and long.run.epochs == 6
    assert short.metrics != long.metrics
    assert {0, 1, 2, 6}.issubset(long.run.checkpoint_epochs)


def test_shared_run_with_different_segmentation_is_an_error(tiny):
    tiny["experiments"] = [{"name": "a"}, {"name": "b", "train": {"segment_epochs": 3}}]
    with pytest.raises(config.ConfigError, match="share training run .* different train.segment_epochs"):
        plan.build(config.resolve(tiny))
