"""The paper's figures: epoch x epoch similarity heatmaps, error curves and per-layer panels.

    from repdyn.figures import plot_heatmap, plot_error_curves, plot_layer_panel, EpochAxis

Modules: `axes` (symmetric-log epoch axis, cell edges, ticks, epoch marks), `canvas`
(pyplot-free figures, atomic saving by suffix), `heatmap`, `curves`, `panels`.
Each `plot_*` has a `*_figure` twin that returns the matplotlib Figure instead of
saving it. Only the Agg canvas is used: safe in threads, processes and headless jobs.
"""

from .axes import EpochAxis, cell_edges
from .canvas import FORMATS, save_figure
from .curves import error_curves_figure, plot_error_curves
from .heatmap import NAN_COLOUR, heatmap_figure, plot_heatmap
from .panels import layer_panel_figure, plot_layer_panel

__all__ = [
    "EpochAxis",
    "FORMATS",
    "NAN_COLOUR",
    "cell_edges",
    "error_curves_figure",
    "heatmap_figure",
    "layer_panel_figure",
    "plot_error_curves",
    "plot_heatmap",
    "plot_layer_panel",
    "save_figure",
]
