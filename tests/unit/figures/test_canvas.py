"""repdyn.figures.canvas: figure files are valid, reproducible and atomic, and figures render in parallel threads."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from support.figures import (
    PDF_MAGIC,
    PNG_MAGIC,
    irregular_grid,
    quadrant_matrix,
    training_rows,
)

from repdyn.figures import (
    heatmap_figure,
    plot_error_curves,
    plot_heatmap,
    plot_layer_panel,
)


def test_png_and_pdf_files_are_valid(tmp_path):
    epochs = irregular_grid(200)
    m = quadrant_matrix(epochs, 60)
    for suffix, magic in ((".png", PNG_MAGIC), (".pdf", PDF_MAGIC)):
        path = tmp_path / f"heat{suffix}"
        plot_heatmap(m, epochs, path, title="file")
        assert path.read_bytes().startswith(magic)
    height, width = imread(tmp_path / "heat.png").shape[:2]
    fig = heatmap_figure(m, epochs, title="file")
    assert (width, height) == tuple(int(round(s * fig.dpi)) for s in fig.get_size_inches())
    assert 300 <= width <= 3000 and 300 <= height <= 3000
    assert [p.name for p in sorted(tmp_path.iterdir())] == [  # no temporary leftovers; each file's checksums
        "heat.pdf",
        "heat.pdf.checksums.json",
        "heat.png",
        "heat.png.checksums.json",
    ]


def test_same_input_writes_identical_png(tmp_path):
    epochs = irregular_grid(100)
    m = quadrant_matrix(epochs, 60)
    plot_heatmap(m, epochs, tmp_path / "a.png", title="t")
    plot_heatmap(m, epochs, tmp_path / "b.png", title="t")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_bad_suffix_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match=r"heat\.jpeg.*'\.jpeg'"):
        plot_heatmap(np.eye(3), [0, 1, 2], tmp_path / "heat.jpeg", title="t")
    with pytest.raises(ValueError, match="suffix"):
        plot_error_curves(training_rows(range(3)), tmp_path / "curves", title="t")
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "heat.png"
    path.write_bytes(b"old")

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_MAGIC + b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_heatmap(np.eye(3), [0, 1, 2], path, title="t")
    with pytest.raises(OSError, match="disk full"):
        plot_layer_panel({"a": np.eye(3)}, [0, 1, 2], tmp_path / "new.pdf", title="t")
    assert [p.name for p in tmp_path.iterdir()] == ["heat.png"]
    assert path.read_bytes() == b"old"


def test_figures_render_in_parallel_threads(tmp_path):
    epochs = irregular_grid(100)
    errors = []

    def work(name, split):
        try:
            plot_heatmap(quadrant_matrix(epochs, split), epochs, tmp_path / f"{name}.png", title=name)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f"t{i}", 20 + 20 * i)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all((tmp_path / f"t{i}.png").read_bytes().startswith(PNG_MAGIC) for i in range(2))
