"""Seed-replicate aggregation (repdyn.report.replicates)."""

from __future__ import annotations

import pytest
from support import REPO

from repdyn.report.experiment_settings import flat_settings
from repdyn.report.index import replicates_section
from repdyn.report.replicates import format_tsv, match_transitions, replicate_groups, replicate_rows, spread, tolerance


def summary_row(layer, label, *, offdiag, to_init, transitions, fit=30, instabilities=()):
    return {
        "layer": layer,
        "label": label,
        "perfect_fit_epoch": fit,
        "instabilities": list(instabilities),
        "memorisation_start": 4,
        "test_error_min": 0.3,
        "test_error_peak_epoch": 20,
        "test_error_peak": 0.4,
        "final_test_error": 0.31,
        "cka_blocks": len(transitions) + 1,
        "drs_blocks": None,
        "cka_transitions": list(transitions),
        "drs_transitions": None,
        "mean_offdiag_cka": offdiag,
        "mean_offdiag_drs": None,
        "cka_to_init_end": to_init,
    }


def report(name, seed, *, noise=0.2, fit=30, last_transitions=(31,), offdiag_last=0.4):
    rows = [
        summary_row("conv1", "first layer", offdiag=0.95, to_init=0.9, transitions=(), fit=fit),
        summary_row("linear", "logits", offdiag=offdiag_last, to_init=0.2, transitions=last_transitions, fit=fit),
    ]
    return {
        "name": name,
        "epochs": 60,
        "layers": ["conv1", "linear"],
        "settings": {"data": {"label_noise": noise}, "train": {"train": {"seed": seed}, "model": {"width": 8}}},
        "summary": rows,
    }


def test_transitions_within_tolerance_agree_and_others_do_not():
    clusters = match_transitions([[5, 31], [6, 30, 45], [4, 33]])
    assert [(c.epochs, c.agreed) for c in clusters] == [
        ((5, 6, 4), True),
        ((31, 30, 33), True),
        ((None, 45, None), False),
    ]
    assert tolerance(10) == 2 and tolerance(300) == pytest.approx(30)
    # two transitions of one seed never share a cluster; 3 epochs apart at epoch 5 is beyond the tolerance
    assert [c.epochs for c in match_transitions([[5, 6], [8]])] == [(5, None), (6, 8)]
    assert match_transitions([[], []]) == []


def test_spread_skips_undefined_values():
    assert spread([1.0, None, 3.0]) == {
        "n": 2,
        "mean": 2.0,
        "sd": pytest.approx(1.4142, abs=1e-4),
        "min": 1.0,
        "max": 3.0,
    }
    assert spread([None])["mean"] is None and spread([2.0])["sd"] is None


def test_groups_are_runs_that_differ_only_in_seed():
    reports = [report("a", 0), report("b", 1), report("c", 2), report("d", 0, noise=0.0), report("e", 5, fit=10)]
    reports[4]["epochs"] = 100  # a different length is not a replicate
    groups = replicate_groups(reports, flat_settings)
    assert [[r["name"] for r in g] for g in groups] == [["a", "b", "c"]]
    rows = replicate_rows(groups[0])
    fit = next(r for r in rows if r["readout"] == "perfect_fit_epoch")
    assert fit["per_seed"] == [30, 30, 30] and fit["mean"] == 30 and fit["sd"] == 0
    transitions = [r for r in rows if r["readout"] == "cka_transition"]
    assert [(r["layer"], r["per_seed"], r["agreed"]) for r in transitions] == [("linear", [31, 31, 31], True)]
    text = format_tsv(rows)
    assert "cka_transition\tlinear\t31;31;31\t3\t31\t0\t31\t31\tTrue" in text
    assert "Seed replicates" in replicates_section(reports, "compare")[0]


def test_the_controls_config_is_the_default_with_three_seeds():
    """configs/default_controls.yaml: both default experiments, each over seeds 0, 1, 2; seed 0 is the default."""

    import yaml

    from repdyn import config, plan

    root = REPO
    default = yaml.safe_load((root / "config.yaml").read_text())
    controls = yaml.safe_load((root / "configs" / "default_controls.yaml").read_text())
    assert [e.pop("sweep") for e in controls["experiments"]] == [{"train.seed": [0, 1, 2]}] * 2
    assert controls == default
    ids = plan.build(config.load([root / "configs" / "default_controls.yaml"])).index()["experiments"]
    default_ids = plan.build(config.load([root / "config.yaml"])).index()["experiments"]
    assert len(default_ids) == 2 and len({v["train"]["id"] for v in ids.values()}) == 6
    for name, entry in default_ids.items():  # every default experiment is the seed-0 member of its sweep
        assert ids[f"{name}-seed0"]["train"]["id"] == entry["train"]["id"]
