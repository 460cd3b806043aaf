"""What the reports lead with: per experiment its CKA panel, its headline events and a compact per-layer table.

The index shows one card per experiment (thumbnail linking to the experiment's page, the events in one line,
the per-layer table); the experiment page opens with the same events and table. The index's findings
table (repdyn.report.index.findings_section) stands above the cards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import html as h
from .analysis import spans_text
from .summary import cell

# summary column -> header of the compact per-layer table (a column empty in every row is left out)
LAYER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("label", "layer"),
    ("cka_blocks", "CKA blocks"),
    ("cka_transitions", "CKA transitions (epochs)"),
    ("cka_to_init_end", "CKA to init at the end"),
    ("mean_offdiag_cka", "mean CKA"),
    ("drs_blocks", "DRS blocks"),
    ("drs_transitions", "DRS transitions (epochs)"),
    ("mean_offdiag_drs", "mean DRS"),
)
THUMBNAIL_WIDTH = 420  # CSS pixels: two cards side by side on a wide screen


def layer_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The per-layer readouts of one experiment, compact: blocks, transitions, similarity to init, means."""
    columns = [(key, title) for key, title in LAYER_COLUMNS if any(cell(r.get(key)) != "" for r in rows)]
    return h.table([title for _, title in columns], [[cell(r.get(key)) for key, _ in columns] for r in rows])


def headline(doc: Mapping[str, Any]) -> str:
    """The training events in one line: length, perfect fitting, the double-descent peak, instabilities, end."""
    p = doc["phases"]
    dd = p.get("double_descent") or {}
    fit = p.get("perfect_fit_epoch")
    parts = [f"{doc['epochs']} epochs", f"perfect fit at epoch {fit}" if fit is not None else "never fits perfectly"]
    if dd:
        parts.append(
            f"double-descent peak {cell(dd.get('peak_value'))} at epoch {dd['peak_epoch']} "
            f"(from {cell(dd.get('minimum_value'))} at {dd['minimum_epoch']})"
        )
    else:
        parts.append("no double-descent peak")
    spans = p.get("instabilities")
    parts.append(f"instabilities {spans_text(spans)}" if spans else "no instability")
    if doc.get("final_test_error") is not None:
        parts.append(f"final test error {cell(doc['final_test_error'])}")
    return " · ".join(parts)


def thumbnail(doc: Mapping[str, Any], page_dir: Path) -> str:
    """The experiment's CKA panel (its error curves when CKA is off), small, linking to its page."""
    report_dir = Path(doc["dir"])
    figure = "cka_panel" if (report_dir / "figures" / "cka_panel.png").is_file() else "errors"
    src = h.relative(report_dir / "figures" / f"{figure}.png", page_dir)
    page = h.relative(report_dir / "index.html", page_dir)
    return (
        f'<a href="{h.esc(page)}"><img class="thumb" src="{h.esc(src)}" width="{THUMBNAIL_WIDTH}" '
        f'alt="{h.esc(doc["name"])}: {figure.replace("_", " ")}"></a>'
    )


def card(doc: Mapping[str, Any], page_dir: Path) -> str:
    """One experiment on the index: name, thumbnail, headline events, per-layer table."""
    page = h.relative(Path(doc["dir"]) / "index.html", page_dir)
    return "\n".join(
        [
            f'<section class="card" id="exp-{h.esc(doc["name"])}">',
            f"<h3>{h.link(doc['name'], page)}</h3>",
            thumbnail(doc, page_dir),
            h.paragraph(headline(doc)),
            layer_table(doc["summary"]),
            "</section>",
        ]
    )
