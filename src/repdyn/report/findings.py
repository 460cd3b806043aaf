"""The paper's findings that a report can test, stated as measurements with the comparison each rests on.

Why: a heatmap read by eye on one run is not a finding. Each check below is a number computed from
the summary rows (repdyn.report.summary) with a stated comparison; on one experiment it is only a
measurement, and the report names the controls a claim needs: other seeds (a replicate group, see
repdyn.report.replicates) and, for anything attributed to memorising noisy labels, the same run
without label noise.

Checks (CKA; layers in the network's order):
- depth: mean off-diagonal CKA falls with depth (deeper layers change more over training);
  comparison: first analysed layer against the last, and whether the sequence is non-increasing.
- stable first layer: the first layer's CKA to initialisation at the end is higher than the last
  layer's (early layers stay close to their initial state).
- transition at perfect fitting: the last layer has a CKA block transition within the replicate
  tolerance (repdyn.report.replicates.tolerance) of the perfect-fitting epoch, not inside an instability;
  beside it the chance of so close an alignment for the same number of transitions placed at random in
  log time (repdyn.analysis.alignment).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from repdyn.analysis.alignment import alignment_chance

from .replicates import tolerance

SEEDS = "other seeds (configs/ holds a three-seed replicate of the default)"
NO_NOISE = "the same run without label noise (data.label_noise: 0)"


def findings(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """[{finding, measurement, holds (True/False/None = not measurable), controls}] for one experiment."""
    rows = [r for r in report.get("summary") or [] if r.get("mean_offdiag_cka") is not None]
    if len(rows) < 2:
        return []
    first, last = rows[0], rows[-1]
    offdiag = [r["mean_offdiag_cka"] for r in rows]
    out = [{
        "finding": "deeper layers change more (mean off-diagonal CKA falls with depth)",
        "measurement": ", ".join(f"{r['label']} {r['mean_offdiag_cka']:.3f}" for r in rows),
        "holds": offdiag[0] > offdiag[-1],
        "detail": "non-increasing through all layers" if all(a >= b for a, b in zip(offdiag, offdiag[1:]))
        else "first > last, not monotone" if offdiag[0] > offdiag[-1] else "first <= last",
        "controls": [SEEDS],
    }]
    a, b = first.get("cka_to_init_end"), last.get("cka_to_init_end")
    out.append({
        "finding": "the first layer stays closer to initialisation than the last",
        "measurement": f"CKA to epoch 0 at the end: {first['label']} {_num(a)}, {last['label']} {_num(b)}",
        "holds": None if a is None or b is None else a > b, "detail": "", "controls": [SEEDS],
    })
    fit = first.get("perfect_fit_epoch")
    spans = [tuple(int(x) for x in s.split("-")) for s in first.get("instabilities") or []]
    near = [t for t in last.get("cka_transitions") or []
            if fit is not None and abs(t - fit) <= tolerance(fit) and not any(s <= t <= e for s, e in spans)]
    grid = (((report.get("cka") or {}).get(last.get("layer")) or {}).get("blocks") or {}).get("epochs")
    stable = [t for t in last.get("cka_transitions") or [] if not any(s <= t <= e for s, e in spans)]
    chance = alignment_chance(stable, fit, grid) if grid and fit is not None and len(grid) > 1 else None
    out.append({
        "finding": "the last layer's representation changes phase at perfect fitting",
        "measurement": (f"perfect fit at {fit}; {last['label']} CKA transitions: "
                        f"{', '.join(map(str, last.get('cka_transitions') or [])) or 'none'}") if fit is not None
        else "no perfect fit", "holds": None if fit is None else bool(near),
        "detail": (f"transition {near[0]} within {tolerance(fit):.0f} epochs of the fit" if near else "")
        + (f"; p = {chance:.2f} that transitions placed at random in log time align as closely" if chance is not None
           else ""),
        "chance": chance,
        "controls": [SEEDS, NO_NOISE],
    })
    return out


def across_seeds(group: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each finding over a replicate group: in how many seeds it holds (a finding needs all of them)."""
    per_seed = [findings(r) for r in group]
    if not per_seed or not all(per_seed):
        return []
    out = []
    for position, finding in enumerate(per_seed[0]):
        held = [f[position]["holds"] for f in per_seed]
        measured = [h for h in held if h is not None]
        out.append({"finding": finding["finding"], "seeds": len(group), "measured": len(measured),
                    "holds_in": sum(measured), "controls": finding["controls"]})
    return out


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
