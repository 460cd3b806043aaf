"""repdyn.figures.curves: error curves in percent on the epoch scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.figures import (
    PDF_MAGIC,
    training_rows,
)

from repdyn.figures import (
    error_curves_figure,
    plot_error_curves,
)


def test_error_curves_plot_percent_on_the_epoch_scale(tmp_path):
    rows = training_rows(range(0, 40))
    rows[0]["train_err"] = math.nan  # no eval pass at epoch 0: the point is left out
    for row in rows[::5]:
        row["probe_test_err/layer4"] = 0.3
    path = tmp_path / "curves.pdf"
    plot_error_curves(rows, path, title="errors", marks={"perfect fit": 18, "test-error peak": 25})
    assert path.read_bytes().startswith(PDF_MAGIC)
    fig = error_curves_figure(rows, title="errors", marks={"perfect fit": 18, "test-error peak": 25})
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.lines}
    np.testing.assert_allclose(lines["test"].get_ydata(), [100 * r["test_err"] for r in rows])
    assert list(lines["train (noisy labels)"].get_xdata()) == list(range(1, 40))
    assert list(lines["probe test_err/layer4"].get_xdata()) == list(range(0, 40, 5))
    assert np.all(np.asarray(lines["perfect fit"].get_xdata()) == 18)
    assert np.all(np.asarray(lines["test-error peak"].get_xdata()) == 25)
    assert ax.get_xscale() == "symlog" and ax.get_ylabel() == "error (%)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "test" in legend and "perfect fit" in legend
    smooth = error_curves_figure(rows, title="errors", smoothed_test=([0, 1, 2], [0.5, 0.4, 0.45]))
    lines = {ln.get_label(): ln for ln in smooth.axes[0].lines}
    np.testing.assert_allclose(lines["test, smoothed (events read from it)"].get_ydata(), [50, 40, 45])


def test_error_curves_skip_an_all_nan_curve():
    fig = error_curves_figure(training_rows(range(10), noise=False), title="clean run")
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert "test" in labels and "fitted noisy labels" not in labels


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda rows: rows[3].pop("test_err"), "epoch 3 lacks key.*test_err"),
        (lambda rows: rows[2].update(train_err=12.0), "epoch 2: train_err = 12.0 is not a fraction"),
        (lambda rows: rows[4].update(epoch=1), "increase strictly"),
    ],
)
def test_error_curves_reject_bad_rows(change, fragment, tmp_path):
    rows = training_rows(range(6))
    change(rows)
    with pytest.raises(ValueError, match=fragment):
        plot_error_curves(rows, tmp_path / "c.png", title="t")
    assert not list(tmp_path.iterdir())
