"""The DRS part of the plan: which ids `drs.precision` enters."""

from __future__ import annotations

import copy

import pytest
import torch
from support.configs import tiny_raw

from repdyn import config, plan
from repdyn.drs.preds_job import autocast_dtype_of


def _preds_and_drs_ids(raw: dict) -> tuple[str, str]:
    exp = plan.build(config.resolve(raw)).experiments[0]
    return exp.drs.preds.id, exp.drs.id


def test_float32_keeps_the_ids_from_before_the_setting_existed():
    """Pinned: the ids main computed for this config at commit 18f3db0, before `drs.precision` and
    `probe.min_steps` existed (min_steps 0, epochs only, adds no setting either)."""
    raw = tiny_raw()
    raw["defaults"]["probe"]["min_steps"] = 0
    assert _preds_and_drs_ids(raw) == ("594579b2d6cc", "3f1e981fd404")
    explicit = copy.deepcopy(raw)
    explicit["defaults"].setdefault("drs", {})["precision"] = "float32"
    assert _preds_and_drs_ids(explicit) == _preds_and_drs_ids(raw)


def test_bf16_changes_exactly_the_plane_predictions_and_drs_ids():
    raw, other = tiny_raw(), tiny_raw()
    other["defaults"].setdefault("drs", {})["precision"] = "bf16"
    before = plan.build(config.resolve(raw)).experiments[0]
    after = plan.build(config.resolve(other)).experiments[0]
    assert after.drs.preds.spec["settings"] == {"precision": "bf16"}
    assert after.drs.preds.id != before.drs.preds.id and after.drs.id != before.drs.id
    assert after.drs.preds.probe.id == before.drs.preds.probe.id
    assert after.drs.preds.planes.id == before.drs.preds.planes.id
    assert after.cka.id == before.cka.id


def test_unknown_precision_is_rejected():
    raw = tiny_raw()
    raw["defaults"].setdefault("drs", {})["precision"] = "fp16"
    with pytest.raises(Exception, match="precision"):
        config.resolve(raw)
    with pytest.raises(ValueError, match="drs.precision 'fp16'"):
        autocast_dtype_of("fp16")
    assert autocast_dtype_of("float32") is None and autocast_dtype_of("bf16") is torch.bfloat16
