"""Readings of a finished epoch x epoch similarity matrix (CKA or DRS).

blocks: similarity blocks along the diagonal (training phases) by exact kernel
change-point detection; init_curve: similarity to initialisation (row 0), its
minimum and rebound. Pure numpy: they run on stored matrices, no model needed.
"""

from repdyn.analysis.blocks import Blocks, default_penalty, detect_blocks
from repdyn.analysis.init_curve import InitCurve, init_curve
from repdyn.analysis.offdiag import mean_offdiag

__all__ = ["Blocks", "InitCurve", "default_penalty", "detect_blocks", "init_curve", "mean_offdiag"]
