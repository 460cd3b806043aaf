"""repdyn.figures.panels: the six-layer panel with its curves."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from support.figures import (
    PDF_MAGIC,
    PNG_MAGIC,
    colour_of,
    irregular_grid,
    pixel,
    quadrant_matrix,
    rendered_heatmap_axes,
    training_rows,
)

from repdyn.figures import (
    NAN_COLOUR,
    layer_panel_figure,
    plot_layer_panel,
)


def test_layer_panel_six_layers_and_curves(tmp_path):
    epochs = irregular_grid(200)
    names = ["layer1", "layer2", "layer3", "layer4", "pool", "logits"]
    matrices = {
        name: quadrant_matrix(epochs, 20 + 10 * i, values=(0.2 + 0.1 * i, 0.1, 0.1, 0.9))
        for i, name in enumerate(names)
    }
    matrices["logits"][0, :] = matrices["logits"][:, 0] = np.nan
    rows = training_rows(range(0, 201))
    marks = {"perfect fit": 18, "test-error peak": 25}
    path = tmp_path / "panel.png"
    plot_layer_panel(matrices, epochs, path, title="CKA", metrics_rows=rows, marks=marks)
    assert path.read_bytes().startswith(PNG_MAGIC)

    fig = layer_panel_figure(matrices, epochs, title="CKA", metrics_rows=rows, marks=marks)
    maps = rendered_heatmap_axes(fig)
    assert [ax.get_title(loc="left") for ax in maps] == [f"({c}) {n}" for c, n in zip("abcdef", names)]
    curves = next(ax for ax in fig.axes if ax.get_title(loc="left") == "(g) error")
    assert {"test", "perfect fit"} <= {ln.get_label() for ln in curves.lines}
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1  # one shared scale
    finite = np.concatenate([m[np.isfinite(m)] for m in matrices.values()])
    assert bars[0].get_ylabel() == f"CKA (min {finite.min():.2f}, max {finite.max():.2f})"
    for ax in maps:  # shared colour scale: the lower-left cells of different layers differ in colour as in value
        norm = ax.collections[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx((finite.min(), finite.max()))
        assert sum(np.all(np.asarray(ln.get_xdata()) == 18) for ln in ax.lines) == 1
    assert np.abs(pixel(fig, maps[-1], 0, 0) - np.array(to_rgba(NAN_COLOUR)) * 255).max() <= 2
    layer4 = matrices["layer4"][0, 0]
    assert np.abs(pixel(fig, maps[3], 0, 0) - colour_of(layer4, finite.min(), finite.max())).max() <= 2
    assert "NaN" in fig.get_suptitle() and "panel f" in fig.get_suptitle()


def test_layer_panel_own_scales_pdf_and_bad_input(tmp_path):
    epochs = np.arange(20)
    matrices = {"a": quadrant_matrix(epochs, 5, values=(0.1, 0.2, 0.3, 0.4)), "b": quadrant_matrix(epochs, 5)}
    plot_layer_panel(matrices, epochs, tmp_path / "panel.pdf", title="own", shared_scale=False, marks={"fit": 7})
    assert (tmp_path / "panel.pdf").read_bytes().startswith(PDF_MAGIC)
    fig = layer_panel_figure(matrices, epochs, title="own", shared_scale=False)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [bar.get_ylabel() for bar in bars] == ["CKA (min 0.10, max 0.40)", "CKA (min 0.10, max 1.00)"]
    with pytest.raises(ValueError, match=r"matrices\['b'\]"):
        layer_panel_figure({**matrices, "b": np.zeros((19, 19))}, epochs, title="t")
    with pytest.raises(ValueError, match="non-empty"):
        layer_panel_figure({}, epochs, title="t")
