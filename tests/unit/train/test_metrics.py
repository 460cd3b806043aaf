"""repdyn.train.metrics: training phases read back from the metrics tables."""

from __future__ import annotations

from repdyn.train import (
    read_metrics,
    training_phases,
)
from repdyn.train.metrics import COLUMNS, phase_marks, write_metrics


def synthetic_rows(test_err: list[float], train_err: list[float]) -> list[dict]:
    return [
        {column: 0.5 for column in COLUMNS} | {"epoch": e, "test_err": t, "train_err": r}
        for e, (t, r) in enumerate(zip(test_err, train_err))
    ]


def test_training_phases_are_the_events_read_back_from_split_tables(tmp_path):
    # raw test error falls to 0.4 at epoch 5 (its 5-epoch median is 0.5 at 4, 5 and 6: the earliest counts),
    # peaks at epoch 12 while the labels are fitted (medians tie at 11 and 12: the earliest counts;
    # first zero train error at 14), then an instability at 17-18; the rules themselves:
    # tests/unit/analysis/test_events.py
    test_err = (
        [0.9 - 0.1 * e for e in range(6)]
        + [0.4 + 0.05 * k for k in range(1, 8)]
        + [0.7 - 0.04 * k for k in range(1, 8)]
    )
    train_err = [max(0.0, 0.7 - 0.05 * e) for e in range(len(test_err))]
    train_err[17] = train_err[18] = 0.2
    rows = synthetic_rows(test_err, train_err)
    write_metrics(tmp_path / "b.tsv", rows[10:])
    write_metrics(tmp_path / "a.tsv", rows[:10])
    read_back = read_metrics([tmp_path / "b.tsv", tmp_path / "a.tsv"])
    assert [row["epoch"] for row in read_back] == list(range(len(rows)))
    phases = training_phases(read_back)
    assert phases["perfect_fit_epoch"] == 14
    assert phases["instabilities"] == [[17, 18]]
    assert phases["memorisation"] == [4, 14]
    assert phases["test_error_peak_epoch"] == phases["double_descent"]["peak_epoch"] == 11
    assert phases["test_error_peak"] == phases["double_descent"]["peak_value"]
    marks = phase_marks(phases)
    assert marks == {"perfect fit": 14, "test-error peak": 11, "instability": (17, 18)}


def test_training_phases_none_cases():
    monotone = synthetic_rows([0.9 - 0.05 * e for e in range(10)], [0.5] * 10)
    phases = training_phases(monotone)
    assert phases["perfect_fit_epoch"] is None and phases["test_error_peak_epoch"] is None
    assert phases["test_error_peak"] is None and phases["instabilities"] == [] and phases["memorisation"] is None
