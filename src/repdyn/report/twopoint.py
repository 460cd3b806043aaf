"""The two-point section of an experiment's page: H/H(0) per pair type and layer, the fit table, theory curves.

The figures are copied from the two-point result (repdyn.twopoint.entry_points), the table is its twopoint.json:
report and results never disagree. Every reading stands beside its epoch-shuffled baseline and the share of
pairs that beat it, so that the table is read as agreement only where the data single out the time order.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repdyn.storage import integrity

from . import html as h
from .summary import cell

FIGURES = ("h_ratio", "theory")
FITS_FILE = "twopoint.json"
COLUMNS = (
    "layer",
    "pair type",
    "pairs",
    "κ̂",
    "Ĉ / H",
    "R²",
    "R² shuffled",
    "share R² > shuffled",
    "C/H per phase",
    "drift",
    "drift shuffled",
    "η_h‖dx‖²",
    "η_y",
    "driven error",
    "error shuffled",
    "share error < shuffled",
    "share error < other pair's W",
    "late slope (IQR)",
    "slope shuffled",
)


def read_twopoint(directory: str | os.PathLike) -> dict[str, Any]:
    """twopoint.json of a two-point result directory, checked against the directory's manifest."""
    path = Path(directory) / FITS_FILE
    integrity.require(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (rerun the twopoint_fit job)")
    return json.loads(path.read_text())


def copy_figures(directory: str | os.PathLike, fig_dir: Path, formats: tuple[str, ...]) -> None:
    for stem in FIGURES:
        for fmt in formats:
            src = Path(directory) / f"{stem}.{fmt}"
            if not src.is_file():
                raise FileNotFoundError(f"{src}: missing figure of the two-point result (rerun its twopoint_fit job)")
            shutil.copyfile(src, fig_dir / f"twopoint_{stem}.{fmt}")


def _row(r: Mapping[str, Any], label: str) -> list[str]:
    phases = " / ".join(cell(v) or "—" for v in r["drift_per_phase"])
    return [
        label,
        r["pair_type"].replace("_", " "),
        str(r["pairs"]),
        cell(r["kappa"]),
        cell(r["C_rel"]),
        cell(r["r2"]),
        cell(r["r2_shuffled"]),
        cell(r["share_r2_above_shuffled"]),
        phases,
        cell(r["drift"]),
        cell(r["drift_shuffled"]),
        cell(r["encoder_rate"]),
        cell(r["eta_y"]),
        cell(r["driven_error"]),
        cell(r["driven_error_shuffled"]),
        cell(r["share_driven_below_shuffled"]),
        cell(r.get("share_driven_below_other_pair")),
        f"{cell(r['late_slope'])} ({cell(r['late_slope_q25'])}–{cell(r['late_slope_q75'])})",
        cell(r["late_slope_shuffled"]),
    ]


# The fit table in three parts that fit the page, each keyed by layer and pair type: the invariant, its drift
# across the phases, the driven fit and the late slope (column indices into COLUMNS).
PARTS = ((0, 1, 2, 3, 4, 5, 6, 7), (0, 1, 8, 9, 10), (0, 1, 11, 12, 13, 14, 15, 16, 17))


def _tables(rows: list[list[str]]) -> list[str]:
    return [h.table([COLUMNS[i] for i in part], [[row[i] for i in part] for row in rows]) for part in PARTS]


def section(doc: Mapping[str, Any], result_dir: str | os.PathLike, out_dir: Path) -> list[str]:
    """The page's two-point section (heading, figures, table, how to read it)."""
    labels = doc.get("layer_labels", {})
    bounds = doc["boundaries"]
    phases = (
        [f"< {bounds[0]}"] + [f"{a}–{b - 1}" for a, b in zip(bounds[:-1], bounds[1:])] + [f"≥ {bounds[-1]}"]
        if bounds
        else ["all epochs"]
    )
    theory_layer = labels.get(doc["theory_layer"], doc["theory_layer"])
    return [
        h.heading("Two-point dynamics", anchor="twopoint"),
        h.paragraph(
            f"Fixed pairs of training images (pairs artifact {doc.get('pairs')}), {len(doc['epochs'])} grid "
            f"epochs: per pair and layer H = ‖dh‖², Y = ‖dz‖² on the logits and W_CE = ⟨dz, g₂ − g₁⟩, fitted "
            f"against van Rossem & Saxe's effective theory (docs/twopoint.md). Result: "
            f"{h.relative(Path(result_dir) / FITS_FILE, out_dir)}."
        ),
        h.figure(
            "figures/twopoint_h_ratio.png",
            "Median H/H(0) of each pair type, per layer; dashed lines: perfect "
            "fitting and the test-error peak; grey bands: instabilities.",
            alt="two-point H ratio",
            pdf="figures/twopoint_h_ratio.pdf",
        ),
        h.figure(
            "figures/twopoint_theory.png",
            f"Per pair type, the pair with the median driven-fit error at "
            f"{theory_layer}: H and Y measured (solid) and from the first two equations driven by the measured "
            "W_CE with the fitted rates (dashed).",
            alt="two-point measured vs theory",
            pdf="figures/twopoint_theory.pdf",
        ),
        *_tables([_row(r, labels.get(r["layer"], r["layer"])) for r in doc["table"]]),
        h.paragraph(
            f"Medians over the pairs of each type. Invariant: the line H = Ĉ + κ̂·Y/H over epochs (Ĉ relative "
            f"to the median H); its R² is only evidence where it beats the R² with Y's epochs shuffled (H is on "
            f"both sides, so shuffled data score too). C/H per phase: median of C = H − κ̂Y/H in each training "
            f"phase ({', '.join(phases)}: split at the memorisation start, the test-error peak and the perfect "
            f"fit); drift = its spread, beside the spread with shuffled Y. Driven fit: rates from H and Y with "
            f"the measured W_CE, normalised error beside the error with W_CE's epochs shuffled. Late slope: "
            f"log H against log Y from epoch {doc['late_start']} ({doc['late_rule']}); the theory predicts ½ "
            f"once C is small against H. Baselines: median of {doc['shuffles']} permutations.",
            css="note",
        ),
    ]
