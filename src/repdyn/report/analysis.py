"""The measurements a report shows per layer: similarity blocks, similarity to initialisation, mean similarity.

Why here and not in the assemble jobs: these are read-outs of finished matrices that a researcher
may want to re-tune (the block penalty) without recomputing any tile; the report job is cheap to rerun.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn.analysis import Blocks, InitCurve, detect_blocks, init_curve, mean_offdiag

from .readers import SimilarityResult


@dataclass(frozen=True)
class LayerMeasures:
    """What the report says about one layer's similarity matrix."""

    layer: str
    blocks: Blocks
    plain: Blocks  # the segmentation without the steady-drift null (drift=False), shown beside it
    init: InitCurve | None  # None when row 0 is undefined (e.g. ViT's zero-initialised head at epoch 0)
    mean_offdiag: float  # NaN-aware mean over i != j

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "blocks": self.blocks.as_dict(),
            "plain_blocks": self.plain.as_dict(),
            "init": self.init.as_dict() if self.init else None,
            "mean_offdiag": finite_or_none(self.mean_offdiag),
        }


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: undefined numbers become null."""
    return None if value is None or not math.isfinite(value) else float(value)


def measure(
    result: SimilarityResult, penalty: float | None = None, tolerance: float = 0.02
) -> dict[str, LayerMeasures]:
    """Blocks, init curve and mean off-diagonal similarity of every layer of a square (self) result.

    `penalty`: price per block (None: automatic); `tolerance`: rise that counts as the init curve turning up.
    """
    if not np.array_equal(result.row_epochs, result.col_epochs):
        raise ValueError(
            f"{result.store}: rows and columns use different epoch grids; expected a self-similarity "
            "matrix (cross-run results go through cross_run_diagonal)"
        )
    epochs = [int(e) for e in result.row_epochs]
    return {
        layer: LayerMeasures(
            layer,
            detect_blocks(m, epochs, penalty=penalty),
            detect_blocks(m, epochs, penalty=penalty, drift=False),
            _init_or_none(m, epochs, tolerance),
            mean_offdiag(m),
        )
        for layer, m in result.matrices.items()
    }


def _init_or_none(matrix: np.ndarray, epochs: list[int], tolerance: float) -> InitCurve | None:
    """Row 0's curve, or None when the first epoch's similarity is undefined everywhere (all NaN)."""
    if not np.isfinite(np.asarray(matrix[0], dtype=np.float64)[1:]).any():
        return None
    return init_curve(matrix, epochs, tolerance=tolerance)


def cross_run_diagonal(result: SimilarityResult) -> dict[str, tuple[list[int], list[float]]]:
    """layer -> (epochs, CKA between the two runs at the same epoch): on the epochs both grids share."""
    rows = [int(e) for e in result.row_epochs]
    cols = [int(e) for e in result.col_epochs]
    common = sorted(set(rows) & set(cols))
    if not common:
        raise ValueError(f"{result.store}: the two runs' grids share no epoch")
    r = [rows.index(e) for e in common]
    c = [cols.index(e) for e in common]
    return {layer: (common, [float(v) for v in np.asarray(m)[r, c]]) for layer, m in result.matrices.items()}


def transitions_text(epochs: Sequence[int], instabilities: Sequence[Sequence[int]] | None = None) -> str:
    """'13, 42 (in instability 37–43)' or '—' (a table cell): a transition inside an instability says so."""

    def one(epoch: int) -> str:
        span = next((s for s in instabilities or () if s[0] <= epoch <= s[1]), None)
        return f"{epoch} (in instability {span[0]}–{span[1]})" if span else str(epoch)

    return ", ".join(one(e) for e in epochs) if epochs else "—"


def spans_text(spans: Sequence[Sequence[int]] | None) -> str:
    """'37–43, 50–52' or 'none' (a table cell)."""
    return ", ".join(f"{a}–{b}" for a, b in spans) if spans else "none"
