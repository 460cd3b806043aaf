"""Readouts of a run: similarity matrices (CKA or DRS) and test-error curves, each by a stated, calibrated rule.

blocks: similarity blocks along the diagonal (training phases), stretches of steady drift in log time;
init_curve: similarity to initialisation (row 0), its minimum and rebound; descent: double descent on a
test-error curve (any grid); alignment: the chance that a transition lands this close to an event; events:
training events of a metrics table. Pure numpy: they run on stored arrays, no model needed.
"""

from repdyn.analysis.alignment import alignment_chance
from repdyn.analysis.blocks import Blocks, default_penalty, detect_blocks
from repdyn.analysis.descent import Rise, double_descent, read_rise
from repdyn.analysis.init_curve import InitCurve, init_curve
from repdyn.analysis.offdiag import mean_offdiag

__all__ = [
    "Blocks",
    "InitCurve",
    "Rise",
    "alignment_chance",
    "default_penalty",
    "detect_blocks",
    "double_descent",
    "init_curve",
    "mean_offdiag",
    "read_rise",
]
