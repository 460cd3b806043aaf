"""The paper's figures: epoch x epoch similarity heatmaps, error curves, per-layer panels and comparisons.

    from repdyn.figures import plot_heatmap, plot_error_curves, plot_layer_panel, EpochAxis

Modules: `axes` (symmetric-log epoch axis, cell edges, ticks, epoch marks), `canvas`
(pyplot-free figures, atomic saving by suffix), `heatmap`, `curves`, `panels`,
`compare` (one layer across experiments, similarity curves, the width study) and
`blocks` (per-layer heatmaps with detected block boundaries).
Each `plot_*` has a `*_figure` twin that returns the matplotlib Figure instead of
saving it. Only the Agg canvas is used: safe in threads, processes and headless jobs.
"""

from .axes import EpochAxis, cell_edges
from .blocks import blocks_panel_figure, plot_blocks_panel
from .canvas import FORMATS, save_figure
from .compare import (
    curves_figure,
    layer_comparison_figure,
    plot_curves,
    plot_layer_comparison,
    plot_width_study,
    width_study_figure,
)
from .curves import error_curves_figure, plot_error_curves
from .heatmap import NAN_COLOUR, heatmap_figure, plot_heatmap
from .panels import layer_panel_figure, plot_layer_panel

__all__ = [
    "FORMATS",
    "NAN_COLOUR",
    "EpochAxis",
    "blocks_panel_figure",
    "cell_edges",
    "curves_figure",
    "error_curves_figure",
    "heatmap_figure",
    "layer_comparison_figure",
    "layer_panel_figure",
    "plot_blocks_panel",
    "plot_curves",
    "plot_error_curves",
    "plot_heatmap",
    "plot_layer_comparison",
    "plot_layer_panel",
    "plot_width_study",
    "save_figure",
    "width_study_figure",
]
