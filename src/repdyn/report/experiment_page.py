"""The HTML page of one experiment's report (index.html), drawn from a measured ExperimentReport.

Sections in order: contents; the training events; CKA and DRS with their blocks and similarity to
initialisation; this run's inputs to the findings; cross-run and layer x layer CKA; two-point dynamics;
the per-layer table; ids, paths and settings last. The figures it shows are written by ExperimentReport.
Every function reads a measured repdyn.report.experiment.ExperimentReport (typed Any here: that module calls
this one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import html as h
from . import twopoint
from .analysis import LayerMeasures, spans_text, transitions_text
from .cards import headline, layer_table
from .readers import SimilarityResult
from .summary import cell


def experiment_page(report: Any, out_dir: Path) -> str:
    """Contents; the training events; CKA and DRS; findings; cross-run and two-point results; the per-layer
    table; ids, hashes and settings last."""
    name = report.inputs.name
    doc = report.as_dict()
    sections: list[tuple[str, str, list[str]]] = [("events", "Training events", _events(report))]
    for key, result, measures in (("cka", report.cka, report.cka_measures), ("drs", report.drs, report.drs_measures)):
        if result is not None:
            sections.append((key, result.kind, _similarity_section(report, key, result, measures, out_dir)))
    found = findings_inputs_section(doc)
    if found:
        sections.append(("findings", "Findings", found))
    for other in report.cross_curves:
        sections.append(
            (
                f"cross-{other}",
                f"Cross-run CKA against {other}",
                [
                    h.heading(f"Cross-run CKA against {other}", anchor=f"cross-{other}"),
                    h.paragraph(
                        f"CKA between this run and {other} (an independently trained network) on the "
                        "probe set; the panel shows every epoch pair, the curves the equal-epoch diagonal."
                    ),
                    h.figure(
                        f"figures/cross_{other}.png",
                        "Cross-run CKA at equal epochs, per layer.",
                        alt=f"cross-run CKA curves vs {other}",
                        pdf=f"figures/cross_{other}.pdf",
                    ),
                    h.figure(
                        f"figures/cross_{other}_panel.png",
                        "Cross-run CKA heatmaps (rows: this run).",
                        alt=f"cross-run CKA panel vs {other}",
                        pdf=f"figures/cross_{other}_panel.pdf",
                    ),
                ],
            )
        )
    if report.layer_pairs:
        sections.append(
            (
                "layer-pairs",
                "Layer x layer CKA",
                [
                    h.heading("Layer x layer CKA", anchor="layer-pairs"),
                    h.paragraph(
                        "CKA between every two analysed layers at one epoch (cka.layer_pairs_at), from the same "
                        "probe-set Grams as the epoch x epoch matrices."
                    ),
                    *(
                        h.figure(
                            f"figures/layer_pairs_e{e}.png",
                            f"Layer x layer CKA at epoch {e}.",
                            alt=f"layer x layer CKA at epoch {e}",
                        )
                        for e in report.layer_pairs
                    ),
                ],
            )
        )
    if report.twopoint:
        sections.append(
            ("twopoint", "Two-point dynamics", twopoint.section(report.twopoint, report.inputs.twopoint, out_dir))
        )
    sections.append(
        (
            "summary",
            "Per layer",
            [
                h.heading("Per layer", anchor="summary"),
                layer_table(report.summary),
                h.paragraph(
                    "Every column, events included, in summary.tsv; column meanings on the index page.", css="note"
                ),
            ],
        )
    )
    sections.append(("artifacts", "Artifacts, ids and settings", [_overview(report, out_dir)]))
    body = [h.paragraph(headline(doc)), h.toc([(a, t) for a, t, _ in sections])]
    for _, _, parts in sections:
        body += parts
    return h.page(
        f"repdyn report: {name}",
        body,
        nav=[("all experiments", "../../index.html"), ("summary.tsv", "summary.tsv"), ("report.json", "report.json")],
    )


def _events(report: Any) -> list[str]:
    return [
        h.heading("Training events", anchor="events"),
        _phases_table(report),
        h.figure(
            "figures/errors.png",
            "Train error on the training labels and on the clean labels, test "
            "error and the smoothed test error the events are read from (broad line); dashed lines: "
            "perfect fitting and the double-descent peak; grey bands: instabilities.",
            alt="error curves",
            pdf="figures/errors.pdf",
        ),
    ]


def _overview(report: Any, out_dir: Path) -> str:
    paths = {"data": report.inputs.data_dir, "train": report.inputs.run_dir, **report.stores}
    rows = [
        [h.esc(stage), f"<code>{h.esc(ident)}</code>", h.link(str(paths[stage]), h.relative(paths[stage], out_dir))]
        for stage, ident in report.ids.items()
    ]
    settings = [
        h.settings_block(f"{stage} settings (spec.json)", spec["settings"]) for stage, spec in report.specs.items()
    ]
    return "\n".join(
        [
            h.heading("Artifacts, ids and settings", anchor="artifacts"),
            h.paragraph(
                f"{report.epochs} epochs; ids are content hashes of the settings below "
                "(results/<stage>/<id>/spec.json)."
            ),
            h.table(["stage", "id", "path"], rows, raw=True),
            *settings,
        ]
    )


def _phases_table(report: Any) -> str:
    p = report.phases
    dd = p.get("double_descent") or {}
    memorisation = p.get("memorisation")
    return "\n".join(
        [
            h.table(
                [
                    "perfect-fitting epoch",
                    "instabilities (epochs)",
                    "memorisation (epochs)",
                    "first test-error minimum",
                    "double-descent peak",
                    "final test error",
                ],
                [
                    [
                        cell(p.get("perfect_fit_epoch")) or "never",
                        spans_text(p.get("instabilities")),
                        f"{memorisation[0]}–{memorisation[1]}" if memorisation else "none",
                        f"{cell(dd.get('minimum_value'))} at {dd['minimum_epoch']}" if dd else "—",
                        f"{cell(dd.get('peak_value'))} at {dd['peak_epoch']}" if dd else "none",
                        cell(report.final_test_error),
                    ]
                ],
            ),
            h.paragraph(
                "Rules (repdyn.analysis.events, docs/readouts.md): perfect fitting is the first epoch with "
                "zero training error on the training labels; an instability is a span after it where that "
                "error exceeds 1 % or the training loss 100 times its lowest value since the fit (and 0.01; "
                "grey bands in every figure); memorisation runs from the first minimum of the smoothed test "
                "error to perfect fitting; the double-descent peak is the largest rise of the smoothed test "
                "error before the fit, reported when it clears the 95th percentile of the largest rise of "
                "pure noise (noise estimated before the fit; at least 0.01) and the error falls back after "
                "it by at least half the rise. A significant rise that does not fall back is overfitting. "
                f"Largest rise: {_rise_text(report)}. Values: smoothed test error as a fraction.",
                css="note",
            ),
        ]
    )


def _rise_text(report: Any) -> str:
    rise = report.phases.get("largest_rise")
    if not rise:
        return "none measured (no fit)"
    kind = {"double_descent": "double descent", "overfitting": "overfitting, no second descent"}.get(
        rise["kind"], "not significant"
    )
    return (
        f"{cell(rise['rise'])} from epoch {rise['minimum_epoch']} to {rise['peak_epoch']}, margin "
        f"{cell(rise['margin'])}, p = {cell(rise['p_value'])} ({kind})"
    )


def _regions_section(report: Any) -> list[str]:
    if not report.regions:
        return []
    out = [
        h.heading("Decision regions", level=3),
        h.paragraph(
            "The probes' predicted class at every point of a plane through three training images "
            "(markers: the anchors x0 ○, x1 □, x2 △, filled with the colour of their training "
            "label), per layer, at the first grid epoch, the perfect-fitting epoch, the test-error "
            "peak and the last grid epoch (the nearest grid epochs). DRS between two epochs is the "
            "fraction of such points, over all planes, where the colours agree.",
            css="note",
        ),
    ]
    for r in report.regions:
        stem = f"figures/drs_regions_plane{r['plane']}"
        out.append(
            h.figure(
                f"{stem}.png",
                f"Plane {r['plane']}: anchors are training images "
                f"{', '.join(map(str, r['anchors']))} (labels {', '.join(map(str, r['anchor_labels']))}).",
                alt=f"decision regions on plane {r['plane']}",
                pdf=f"{stem}.pdf",
            )
        )
    return out


def _similarity_section(
    report: Any, key: str, result: SimilarityResult, measures: Mapping[str, LayerMeasures], out_dir: Path
) -> list[str]:
    kind = result.kind
    spans = report.phases.get("instabilities")
    blocks = [
        [
            report.label(layer),
            len(m.blocks.ranges),
            transitions_text(m.blocks.transitions, spans),
            ", ".join(f"{v:.1f}" for v in m.blocks.strengths) or "—",
            "; ".join(f"{a}–{b} ({cell(w) or 'n/a'})" for (a, b), w in zip(m.blocks.ranges, m.blocks.within)),
            cell(m.blocks.between),
            transitions_text(m.plain.transitions, spans),
            cell(m.mean_offdiag),
            cell(m.blocks.penalty),
        ]
        for layer, m in measures.items()
    ]
    init = [
        [
            report.label(layer),
            m.init.min_epoch,
            cell(m.init.min_value),
            "none" if m.init.turn_up_epoch is None else m.init.turn_up_epoch,
            cell(m.init.end_value),
            cell(m.init.rebound),
        ]
        if m.init
        else [report.label(layer), "undefined (row 0 is NaN)", "", "", "", ""]
        for layer, m in measures.items()
    ]
    out = [
        h.heading(f"{kind}", anchor=key),
        h.paragraph(
            f"Matrices: {h.relative(result.store, out_dir)} (Zarr; open with repdyn.cka.open_cka / "
            "repdyn.drs.open_drs or zarr.open)."
        ),
        h.figure(
            f"figures/{key}_panel.png",
            f"{kind} between every pair of grid epochs, per layer, beside "
            "the error curves; one colour scale for all layers.",
            alt=f"{kind} panel",
            pdf=f"figures/{key}_panel.pdf",
        ),
    ]
    if key == "drs":
        out.append(
            h.figure(
                "figures/drs_probe_errors.png",
                "Probe test error per layer (dotted) and the network's test error.",
                alt="probe errors",
                pdf="figures/drs_probe_errors.pdf",
            )
        )
        out += _regions_section(report)
    out += [
        h.heading(f"{kind} similarity blocks", level=3),
        h.figure(
            f"figures/{key}_blocks.png",
            "White lines: boundaries of the detected similarity blocks.",
            alt=f"{kind} blocks",
            pdf=f"figures/{key}_blocks.pdf",
        ),
        h.paragraph(
            "Blocks are stretches of steady drift on the log-epoch axis (repdyn.analysis.blocks, "
            "docs/readouts.md): within a block the similarity of two epochs depends only on how far "
            "apart they are in log time, at the block's own pace; a transition is where the pace "
            "changes (fast change, then frozen), a plateau begins or ends, or the representation "
            "jumps. Steady drift at any pace is one block at any length and grid. The price of a cut "
            "is set from the matrix's own noise (report.block_penalty overrides it); each transition's "
            "strength says how many times its price it pays. A transition that falls inside an "
            "instability is marked so: it follows the optimisation spike, not a training phase. The "
            "plain segmentation (piecewise-constant similarity, no drift null) is shown beside it.",
            css="note",
        ),
        h.table(
            [
                "layer",
                "blocks",
                "transitions (epochs)",
                "strength (x price)",
                "blocks: epochs (mean within)",
                "mean between",
                "transitions without the drift null",
                f"mean off-diagonal {kind}",
                "penalty",
            ],
            blocks,
        ),
        h.heading(f"{kind} to initialisation", level=3),
        h.figure(
            f"figures/{key}_init.png",
            f"Row 0 of each matrix: {kind} of every epoch's representation to the first grid epoch's.",
            alt=f"{kind} to initialisation",
            pdf=f"figures/{key}_init.pdf",
        )
        if any(m.init for m in measures.values())
        else h.paragraph("No curve: the grid has one epoch, or the first epoch's similarity is undefined."),
        h.paragraph(
            f"Turns back up: the first epoch after the minimum more than {cell(report.tolerance)} above "
            "it (report.init_tolerance).",
            css="note",
        ),
        h.table(
            ["layer", "minimum at epoch", "minimum", "turns back up at epoch", "at the end", "rebound (end − min)"],
            init,
        ),
    ]
    return out


def findings_inputs_section(doc: Mapping[str, Any]) -> list[str]:
    """This run's inputs to the paper's findings; the findings themselves compare runs (the index page)."""
    layers = (doc.get("findings") or {}).get("layers") or {}
    if not layers:
        return []
    rows = []
    for layer in doc["layers"]:
        m = layers.get(layer) or {}
        back = m.get("return_to_init") or {}
        rows.append(
            [doc["labels"].get(layer, layer), cell(m.get("change")), cell(back.get("rise")), cell(back.get("drift"))]
        )
    return [
        h.heading("Inputs to the findings", anchor="findings"),
        h.paragraph(
            "The paper's findings are contrasts between runs (label noise against its noise-0 twin, "
            "across seeds): see the findings table of the index page. This run's numbers: the change of "
            "representation (1 - log-time weighted mean off-diagonal CKA) and, after perfect fitting, "
            "the CKA to epoch 0 gained and the CKA to the early-stopping epoch "
            f"({cell((doc.get('findings') or {}).get('best_epoch')) or 'none'}) gained.",
            css="note",
        ),
        h.table(["layer", "change", "CKA to epoch 0 after the fit", "CKA to early stopping after the fit"], rows),
    ]
