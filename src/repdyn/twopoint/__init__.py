"""Two-point representation dynamics (van Rossem & Saxe's effective theory), usable without Snakemake.

observables: H, Y, W, W_CE, ‖dx‖² of example pairs from activations or Grams; ode: the theory's ODE and
`simulate`; closed_forms: the conserved quantity and the final distance; fit_mse: `fit_mse` and its error;
controls: modified ODEs that must fit worse; fit_ce: the cross-entropy fits (invariant, driven, late slope)
with epoch-shuffled baselines; pairs / series: the stratified pairs of a dataset and their per-epoch arrays;
toy / toy_validation: the theory's own two-point experiment. See docs/twopoint.md.
"""

from repdyn.twopoint.closed_forms import conserved, final_distance, kappa, laziness, rich_final_distance
from repdyn.twopoint.controls import CONTROLS
from repdyn.twopoint.fit_ce import (
    DrivenFit,
    InvariantFit,
    LateSlope,
    fit_driven,
    fit_invariant,
    fit_late_slope,
    invariant_drift,
)
from repdyn.twopoint.fit_mse import fit_error, fit_mse, raw_error
from repdyn.twopoint.observables import (
    ce_alignment,
    distance_from_gram,
    distance_from_packed_gram,
    mse_alignment,
    softmax_residual,
    squared_distance,
)
from repdyn.twopoint.ode import simulate, simulate_driven, theory_rhs
from repdyn.twopoint.pairs import PAIR_TYPES, Pairs, choose_pairs
from repdyn.twopoint.series import PairSeries, concat_epochs, epoch_observables, pair_batch, stack_epochs

__all__ = [
    "CONTROLS",
    "DrivenFit",
    "InvariantFit",
    "LateSlope",
    "PAIR_TYPES",
    "PairSeries",
    "Pairs",
    "ce_alignment",
    "choose_pairs",
    "concat_epochs",
    "conserved",
    "distance_from_gram",
    "distance_from_packed_gram",
    "epoch_observables",
    "final_distance",
    "fit_driven",
    "fit_error",
    "fit_invariant",
    "fit_late_slope",
    "fit_mse",
    "invariant_drift",
    "kappa",
    "laziness",
    "mse_alignment",
    "pair_batch",
    "raw_error",
    "rich_final_distance",
    "simulate",
    "simulate_driven",
    "softmax_residual",
    "squared_distance",
    "stack_epochs",
    "theory_rhs",
]
