"""What each rule's job reads, and the params that carry its epochs, from the plan and the job's wildcards.

The plan objects know every path, so the rule files only name these functions
(workflow/rules/common.smk adapts them to Snakemake). An input whose content never changes for its id
(spec.json, a dataset, a finished part read by a tile) is an `Ancient` path: the rule marks it ancient(),
so its modification time never triggers a rerun. The edges that carry checkpoints and a part's epochs
(training segment -> next segment, segment -> part, probe part -> predictions part) are plain paths on
purpose: docs/snakemake.md explains why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repdyn.plan.core import Plan
from repdyn.tiling.names import parse_tile

Wildcards = Mapping[str, str]


class Ancient(str):
    """A path whose content never changes for its id (the rule wraps it in ancient())."""


def _spec(art: Any) -> Ancient:
    return Ancient(art.dir / "spec.json")


def _find(table: Mapping[str, Any], key: str, what: str) -> Any:
    art = table.get(key)
    if art is None:
        raise KeyError(f"no {what} artifact {key} in the current config")
    return art


def _epochs_param(art: Any, wc: Wildcards) -> str:
    """Params on purpose: a grid change that adds epochs to this part reruns exactly this part."""
    return ",".join(map(str, art.part_epochs(int(wc["start"]), int(wc["end"]))))


# --------------------------------------------------------------------------- training


def train_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    run = _find(plan.runs, wc["run"], "train")
    return {"spec": _spec(run), "data": Ancient(plan.data[run.data_id].h5)}


def segment_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    run = plan.runs[wc["run"]]
    return {**train_inputs(plan, wc), "state": str(run.state_source(int(wc["start"])))}


def segment_checkpoints(plan: Plan, wc: Wildcards) -> str:
    """Params on purpose: a grid that needs new checkpoints in this segment reruns it (and only it)."""
    run = _find(plan.runs, wc["run"], "train")
    return ",".join(map(str, run.segment_checkpoints(int(wc["start"]), int(wc["end"]))))


def metrics_inputs(plan: Plan, wc: Wildcards) -> list[Any]:
    run = _find(plan.runs, wc["run"], "train")
    return [Ancient(run.init_dir)] + [Ancient(run.segment_dir(s, e)) for s, e in run.segments_through(int(wc["end"]))]


# --------------------------------------------------------------------------- parts (extraction, probes, predictions)


def _part_inputs(plan: Plan, art: Any, run: Any, wc: Wildcards) -> dict[str, Any]:
    return {
        "spec": _spec(art),
        "run_spec": _spec(run),
        "data": Ancient(plan.data[run.data_id].h5),
        "source": str(art.part_source(int(wc["start"]), int(wc["end"]))),
    }


def extract_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _find(plan.extracts, wc["id"], "extract")
    pairs = plan.pairs[art.spec["inputs"]["pairs"]]
    return {**_part_inputs(plan, art, art.run, wc), "pairs": Ancient(pairs.file)}


def extract_epochs(plan: Plan, wc: Wildcards) -> str:
    return _epochs_param(_find(plan.extracts, wc["id"], "extract"), wc)


def probe_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _find(plan.probes, wc["id"], "probe")
    return _part_inputs(plan, art, art.run, wc)


def probe_epochs(plan: Plan, wc: Wildcards) -> str:
    return _epochs_param(_find(plan.probes, wc["id"], "probe"), wc)


def preds_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _find(plan.preds, wc["id"], "preds")
    start, end = int(wc["start"]), int(wc["end"])
    return {
        **_part_inputs(plan, art, art.run, wc),
        "probes": str(art.probe_part(start, end)),
        "planes": Ancient(art.planes.store),
    }


def preds_epochs(plan: Plan, wc: Wildcards) -> str:
    return _epochs_param(_find(plan.preds, wc["id"], "preds"), wc)


def pairs_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _find(plan.pairs, wc["id"], "pairs")
    return {"spec": _spec(art), "data": Ancient(art.data.h5)}


def planes_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _find(plan.planes, wc["id"], "planes")
    return {"spec": _spec(art), "data": Ancient(art.data.h5)}


# --------------------------------------------------------------------------- tiles and assembly


def _cka(plan: Plan, wc: Wildcards) -> Any:
    art = plan.ckas.get(wc["id"])
    if art is None or art.stage != wc["stage"]:
        raise KeyError(f"no {wc['stage']} artifact {wc['id']} in the current config")
    return art


def _tile_inputs(art: Any, wc: Wildcards) -> dict[str, Any]:
    rows, cols = art.tile_parts(parse_tile(wc["tile"]))
    return {"spec": _spec(art), "rows": [Ancient(d) for d in rows], "cols": [Ancient(d) for d in cols]}


def cka_tile_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    return _tile_inputs(_cka(plan, wc), wc)


def layer_pairs_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _cka(plan, {**wc, "stage": "cka"})
    return {"spec": _spec(art), "parts": [Ancient(d) for d in art.rows.dirs_for([int(wc["epoch"])])]}


def drs_tile_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    return _tile_inputs(_find(plan.drs, wc["id"], "drs"), wc)


def cka_assemble_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _cka(plan, wc)
    rows_length, cols_length = art.lengths_of(wc["shape"])
    return {
        "spec": _spec(art),
        "tiles": [str(art.tile_dir(t)) for t in art.tiles(rows_length, cols_length)],
        "metrics": Ancient(art.rows.run.metrics_path(rows_length)),
    }


def drs_assemble_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _find(plan.drs, wc["id"], "drs")
    length = art.length_of(wc["shape"])
    return {
        "spec": _spec(art),
        "tiles": [str(art.tile_dir(t)) for t in art.tiles(length)],
        "probes": [Ancient(d) for d in art.probe_parts(length)],
        "metrics": Ancient(art.preds.run.metrics_path(length)),
    }


def twopoint_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    art = _find(plan.twopoints, wc["id"], "twopoint")
    length = art.length_of(wc["shape"])
    return {
        "spec": _spec(art),
        "parts": [Ancient(d) for d in art.parts(length)],
        "metrics": Ancient(art.extract.run.metrics_path(length)),
    }


def cka_title(plan: Plan, wc: Wildcards) -> str:
    """Experiments whose results these are (several when they share the artifact)."""
    art = _cka(plan, wc)
    names = [
        e.name
        for e in plan.experiments
        if e.cka is art and str(art.assembled_dir(e.epochs, e.epochs)).endswith(wc["shape"])
    ]
    names += [f"{e.name} vs {other}" for e in plan.experiments for other, a in e.cka_cross if a is art]
    return ", ".join(names)


def drs_title(plan: Plan, wc: Wildcards) -> str:
    """Experiments whose results these are (several when they share the artifact)."""
    art = _find(plan.drs, wc["id"], "drs")
    return ", ".join(e.name for e in plan.experiments if e.drs is art and e.epochs == art.length_of(wc["shape"]))


# --------------------------------------------------------------------------- reports


def _experiment(plan: Plan, wc: Wildcards) -> Any:
    try:
        return plan.experiment(wc["name"])
    except KeyError:
        raise KeyError(f"no experiment {wc['name']!r} in the current config") from None


def report_inputs(plan: Plan, wc: Wildcards) -> dict[str, Any]:
    exp = _experiment(plan, wc)
    out: dict[str, Any] = {
        "data_spec": _spec(exp.data),
        "run_spec": _spec(exp.run),
        "metrics": str(exp.metrics),
        "phases": str(exp.phases),
    }
    if exp.cka is not None:
        out["cka"] = str(exp.cka.assembled_dir(exp.epochs, exp.epochs))
    if exp.drs is not None:
        out["drs"] = str(exp.drs.assembled_dir(exp.epochs))
        out["planes"] = Ancient(exp.drs.preds.planes.store)
        out["preds"] = [Ancient(d) for d in exp.drs.preds.dirs_for(exp.drs.epochs(exp.epochs))]
    if exp.twopoint is not None:
        out["twopoint"] = str(exp.twopoint.result_dir(exp.epochs))
    if exp.layer_pairs_dirs:
        out["layer_pairs"] = [str(d) for d in exp.layer_pairs_dirs]
    for other, art in exp.cka_cross:
        out[f"cross_{other}"] = str(art.assembled_dir(exp.epochs, plan.experiment(other).epochs))
    return out


def report_args(plan: Plan, wc: Wildcards) -> str:
    """The paths the report shows and the `report:` settings, as command-line options (params: a changed id or
    report setting reruns the report, and nothing else)."""
    exp = _experiment(plan, wc)
    inputs = report_inputs(plan, wc)
    args = [f"--data {exp.data.dir}", f"--run {exp.run.dir}", f"--metrics {exp.metrics}", f"--phases {exp.phases}"]
    args += [f"--{key} {inputs[key]}" for key in ("cka", "drs", "planes", "twopoint") if key in inputs]
    if "preds" in inputs:
        args.append("--preds " + " ".join(str(d) for d in inputs["preds"]))
    if "layer_pairs" in inputs:
        args.append("--layer-pairs " + " ".join(inputs["layer_pairs"]))
    cross = [f"{other}={inputs[f'cross_{other}']}" for other, _ in exp.cka_cross]
    if cross:
        args.append("--cross " + " ".join(cross))
    report = plan.config.report
    if report["block_penalty"] is not None:
        args.append(f"--penalty {report['block_penalty']!r}")
    args.append(f"--init-tolerance {report['init_tolerance']!r}")
    return " ".join(args)


# --------------------------------------------------------------------------- settings kept out of every id


def probe_memory_budget(plan: Plan, wc: Wildcards) -> int:
    """probe.memory_budget_mb, passed as a resource: unlike params, resources never trigger a rerun."""
    return _find(plan.probes, wc["id"], "probe").memory_budget_mb


def eval_batch(plan: Plan, wc: Wildcards) -> int:
    """drs.eval_batch_size, passed as a resource for the same reason."""
    return _find(plan.preds, wc["id"], "preds").eval_batch_size
