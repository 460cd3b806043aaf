"""Command-line overrides keep the config's types: Snakemake's `--config` (its own YAML form and `set=` with
dotted keys) and repdyn's `--set`, checked as units and through real `snakemake -n` dry runs."""

from __future__ import annotations

import pytest
from support.configs import tiny_raw
from support.workflow import planned_jobs, snakemake, write_config

from repdyn import config
from repdyn.config import overrides


def test_snakemakes_string_leaves_become_the_types_a_config_file_gives():
    given = {
        "defaults": {
            "train": {"epochs": "60", "optimizer": {"lr": "1e-3", "name": "sgd"}},
            "data": {"label_noise": "0.0"},
            "train_flag": "true",
        }
    }
    assert overrides.from_snakemake(given) == {
        "defaults": {
            "train": {"epochs": 60, "optimizer": {"lr": 0.001, "name": "sgd"}},
            "data": {"label_noise": 0.0},
            "train_flag": True,
        }
    }


def test_dotted_assignments_nest_and_later_ones_win():
    got = overrides.from_snakemake(
        {"set": "defaults.cka.estimator=minibatch_biased; defaults.train.epochs=60; defaults.train.epochs=80"}
    )
    assert got == {"defaults": {"cka": {"estimator": "minibatch_biased"}, "train": {"epochs": 80}}}
    assert overrides.from_assignments(["grids.cka={every: 2}"]) == {"grids": {"cka": {"every": 2}}}


def test_a_malformed_assignment_is_one_line_naming_it():
    with pytest.raises(config.ConfigError, match=r"override 'defaults\.train\.epochs': expected KEY\.PATH=VALUE"):
        overrides.from_assignments(["defaults.train.epochs"])
    with pytest.raises(config.ConfigError, match="override '.x=1'"):
        overrides.dotted(".x=1")


def test_an_override_changes_its_key_and_nothing_else():
    raw = tiny_raw()
    merged = overrides.apply(raw, {"defaults": {"train": {"epochs": "6"}}})
    resolved = config.resolve(merged).experiments[0].settings
    base = config.resolve(raw).experiments[0].settings
    assert resolved["train"]["epochs"] == 6 and isinstance(resolved["train"]["epochs"], int)
    resolved["train"]["epochs"] = base["train"]["epochs"]
    assert resolved == base


@pytest.mark.parametrize("given", [["defaults={train: {epochs: 6}}"], ["set=defaults.train.epochs=6"]])
def test_snakemake_dry_run_takes_a_typed_nested_override(tmp_path, given):
    cfg = write_config(tmp_path, tiny_raw())
    assert planned_jobs(tmp_path, cfg)["train_segment"] == 2  # 4 epochs in segments of 2
    # 6 epochs: 3 segments, segment_epochs untouched
    assert planned_jobs(tmp_path, cfg, "--config", *given)["train_segment"] == 3


def test_snakemake_names_a_bad_override_in_one_line(tmp_path):
    cfg = write_config(tmp_path, tiny_raw())
    proc = snakemake(tmp_path, cfg, "-n", "--config", "set=defaults.cka.estimator=nope", check=False)
    assert proc.returncode != 0
    assert "repdyn config error: defaults.cka.estimator: 'nope' is not allowed" in proc.stdout + proc.stderr
