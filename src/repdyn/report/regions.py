"""The report's decision-region figures: a few planes' predicted classes at start, perfect fit, peak and end.

Reads what the DRS pipeline already stored (preds.zarr parts, the plane set's coordinates and anchor
labels), so drawing the regions costs no forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from repdyn.figures.regions import plot_regions, region_epochs

REGION_PLANES = (0, 1)  # the first planes of the fixed plane set; drawn when the set has them


def plane_regions(
    preds_dirs: Sequence[str | Path], plane: int, layers: Sequence[str], epochs: Sequence[int]
) -> dict[str, dict[int, np.ndarray]]:
    """{layer: {epoch: (R²,) uint8 predicted classes}} of one plane."""
    from repdyn.drs.store import PredsParts

    parts = PredsParts(preds_dirs)
    out: dict[str, dict[int, np.ndarray]] = {layer: {} for layer in layers}
    for epoch in epochs:
        part = parts.part_of(epoch)
        for layer in layers:
            out[layer][epoch] = part.preds(layer, epoch)[plane]
    return out


def draw_regions(
    fig_dir: Path,
    preds_dirs: Sequence[str | Path],
    planes_store: str | Path,
    grid_epochs: Sequence[int],
    phases: Mapping[str, Any],
    layers: Sequence[str],
    labels: Mapping[str, str],
    name: str,
    formats: Sequence[str],
) -> list[dict[str, Any]]:
    """Write figures/drs_regions_plane<p>.<fmt> for the planes of REGION_PLANES; return what was drawn."""
    group = zarr.open_group(str(planes_store), mode="r")
    count = group["coefs"].shape[0]
    epochs = region_epochs(grid_epochs, phases)
    drawn = []
    for plane in (p for p in REGION_PLANES if p < count):
        regions = plane_regions(preds_dirs, plane, layers, list(epochs))
        anchor_labels = [int(v) for v in group["triplet_labels"][plane]]
        num_classes = int(group.attrs["num_classes"])
        indices = [int(i) for i in group["indices"][plane]]
        for fmt in formats:
            plot_regions(
                fig_dir / f"drs_regions_plane{plane}.{fmt}",
                regions,
                group["coefs"][plane],
                group["anchor_coords"][plane],
                anchor_labels,
                num_classes,
                epochs,
                title=f"{name}: decision regions on plane {plane} (anchors: training images "
                f"{', '.join(map(str, indices))})",
                layer_labels=labels,
            )
        drawn.append(
            {
                "plane": plane,
                "anchors": indices,
                "anchor_labels": anchor_labels,
                "epochs": {str(e): label for e, label in epochs.items()},
            }
        )
    return drawn
