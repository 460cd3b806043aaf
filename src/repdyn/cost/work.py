"""Work of one job of each cluster rule, from the plan alone: FLOPs, bytes moved, memory held, bytes left.

Why: cluster jobs need runtime and memory requests before anything has run, and a user needs disk and
GPU-hours before submitting a 4000-epoch experiment. Everything here is arithmetic on the plan: no
torch, no files, so it runs at Snakemake parse time and in `repdyn plan`. repdyn.cost.model turns a `Work`
into seconds on a device; repdyn.scheduling.rule_table says which estimate belongs to which rule; the architectures'
FLOPs, parameters and layer sizes are in repdyn.models.architectures. docs/cost-model.md explains the numbers.

This module holds `Work`, the facts of a training run every estimate starts from, and the rules that run the
network (data, training, extraction, probes, planes); the rules that compute and read the epoch x epoch
matrices (tiles, assembly, reports) are in repdyn.cost.matrix_work. Work of a job, from the artifact its
wildcards name:
- train_segment: F (3 N_train + N_train [eval_train] + N_test) FLOPs per epoch at training throughput,
  plus a per-image overhead; checkpoints written (4 bytes per parameter) and the resume state
  (parameters x (1 + optimizer slots)).
- extract_segment: per grid epoch one forward of the probe set (N_probe F) and the Grams
  (2 n^2 p per batch and layer, float32 GEMMs); stores B n(n+1)/2 float32 per layer and epoch.
- probe_segment: per grid epoch one forward of train + test set, probe training 6 p C FLOPs per example
  and probe epoch (repdyn.config.probe_schedule: at least probe.min_steps steps); features beyond
  probe.memory_budget_mb are streamed from scratch once per probe epoch.
- planes_eval: per grid epoch P R^2 points through the network (F) and every probe (2 p C).
Storage figures are uncompressed upper bounds (Grams are stored uncompressed; Zarr compresses predictions
somewhat).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from repdyn.config.dataset_facts import facts_of
from repdyn.config.probe_schedule import probe_passes, steps_per_epoch
from repdyn.models.architectures import ModelCost, model_cost
from repdyn.plan import Plan

DOWNLOAD_SECONDS = 600.0
DECODE_SECONDS_PER_IMAGE = 2e-4
# Disk: dataset files are LZF-compressed uint8 images, 0.51 of their size on zero-padded Fashion-MNIST, less
# compressible on natural images.
DATA_COMPRESSION = 0.75
ACTIVATION_FACTOR = 10  # floats kept for backward per analysed-layer float (several tensors per block)
PROBE_FORWARD_BATCH = 256  # repdyn.drs.probe_job.FORWARD_BATCH
EVAL_BATCH = 512  # repdyn.train.loop.EVAL_BATCH_SIZE: images per forward of an imported run's evaluation


@dataclass(frozen=True)
class Work:
    """What one job does; `seconds` turns it into time on a device."""

    device_flops: float = 0.0  # network passes: on the GPU when the job has one
    training: bool = False  # device_flops at training (not inference) throughput
    images: float = 0.0  # images through the network, training or inference (per-image overhead)
    gemm_flops: float = 0.0  # plain GEMMs (tiles, Grams): at GEMM throughput on CPUs, inference throughput on a GPU
    gemm_float64: bool = True
    probe_steps: float = 0.0  # Adam steps of linear probes (per-step overhead)
    io_bytes: float = 0.0  # shared file system, read + written
    scratch_bytes: float = 0.0  # local scratch, read + written
    fixed_seconds: float = 0.0
    host_bytes: float = 0.0  # peak host memory of the job's data (besides the process itself)
    activation_bytes: float = 0.0  # extra host memory when the network runs on the CPU
    output_bytes: float = 0.0  # what the job leaves on disk


# --------------------------------------------------------------------------- work per rule


@dataclass(frozen=True)
class _RunFacts:
    model: ModelCost
    classes: int
    image_bytes: int  # C H W of one stored uint8 image
    n_train: int
    n_test: int  # test examples evaluated every epoch
    n_test_all: int
    probe_batches: int
    probe_batch: int
    state_bytes: float  # model + optimizer state
    train: Mapping[str, Any] = field(repr=False)

    @property
    def ckpt_bytes(self) -> float:
        return 4.0 * self.model.params

    @property
    def data_bytes(self) -> float:
        return float((self.n_train + self.n_test_all) * self.image_bytes)


def run_facts(plan: Plan, run_id: str) -> _RunFacts:
    run = lookup_artifact(plan.runs, run_id, "run")
    data = plan.data[run.data_id].spec["settings"]
    facts = facts_of(data)
    settings = run.spec["settings"]
    opt = settings["train"].get("optimizer") or {"name": None, "momentum": 0}  # an imported run has none
    slots = 2 if opt["name"] in ("adam", "adamw") else (1 if opt["momentum"] else 0)
    if run.imported:
        from repdyn.imports.cost import model_cost as imported_cost

        model = imported_cost(settings["model"], run.machine, data, facts["classes"], facts["channels"])
    else:
        model = model_cost(settings["model"], data)
    return _RunFacts(
        model=model,
        classes=facts["classes"],
        image_bytes=facts["channels"] * data["image_size"] ** 2,
        n_train=data["train_subset"] or facts["train_size"],
        n_test=data["test_subset"] or facts["test_size"],
        n_test_all=facts["test_size"],
        probe_batches=data["probe"]["batches"],
        probe_batch=data["probe"]["batch_size"],
        state_bytes=4.0 * model.params * (1 + slots),
        train=settings["train"],
    )


def lookup_artifact(table: Mapping[str, Any], key: str, what: str) -> Any:
    """The plan's artifact `key` of one kind (`what`), or a KeyError that names both."""
    try:
        return table[key]
    except KeyError:
        raise KeyError(f"no {what} artifact {key!r} in this plan") from None


def _epochs(wildcards: Mapping[str, str]) -> tuple[int, int]:
    return int(wildcards["start"]), int(wildcards["end"])


def prepare_data(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.data, wc["id"], "data")
    data = art.spec["settings"]
    facts = facts_of(data)
    n = facts["train_size"] + facts["test_size"]
    native = n * facts["channels"] * facts["native_size"] ** 2
    stored = n * facts["channels"] * data["image_size"] ** 2
    kept = (data.get("train_subset") or facts["train_size"]) + facts["test_size"]  # the file's images
    image_bytes = kept * facts["channels"] * data["image_size"] ** 2 * DATA_COMPRESSION
    return Work(
        io_bytes=native + stored,
        fixed_seconds=n * DECODE_SECONDS_PER_IMAGE + (DOWNLOAD_SECONDS if art.machine.get("download") else 0.0),
        host_bytes=3.0 * (native + stored),
        output_bytes=image_bytes + 16.0 * kept,
    )


def init(plan: Plan, wc: Mapping[str, str]) -> Work:
    f = run_facts(plan, wc["run"])
    if plan.runs[wc["run"]].imported:
        return _import_part(plan, wc["run"], f, 0, 0)
    return Work(
        io_bytes=f.ckpt_bytes + f.state_bytes,
        host_bytes=2 * f.state_bytes + f.data_bytes,
        output_bytes=f.ckpt_bytes + f.state_bytes,
    )


def train_segment(plan: Plan, wc: Mapping[str, str]) -> Work:
    f = run_facts(plan, wc["run"])
    start, end = _epochs(wc)
    if plan.runs[wc["run"]].imported:
        return _import_part(plan, wc["run"], f, start, end)
    epochs = end - start
    per_epoch = 3 * f.n_train + (f.n_train if f.train["eval_train"] else 0) + f.n_test
    saved = len(plan.runs[wc["run"]].segment_checkpoints(start, end)) * f.ckpt_bytes + f.state_bytes
    batch = f.train["batch_size"]
    return Work(
        device_flops=epochs * per_epoch * f.model.flops,
        training=True,
        images=epochs * per_epoch,
        io_bytes=f.state_bytes + saved,
        host_bytes=2 * f.data_bytes + 3 * f.state_bytes,
        activation_bytes=ACTIVATION_FACTOR * batch * sum(f.model.features().values()) * 4.0,
        output_bytes=saved,
    )


def _import_part(plan: Plan, run_id: str, f: _RunFacts, start: int, end: int) -> Work:
    """An imported run's init or segment job: each file of the part read and evaluated on train + test."""
    run = plan.runs[run_id]
    files = [e for e in map(int, run.spec["settings"]["train"]["files"]) if start < e <= end or start == end == e]
    images = len(files) * (f.n_train + f.n_test)
    saved = len(run.segment_checkpoints(start, end) if end else [0]) * f.ckpt_bytes
    return Work(
        device_flops=images * f.model.flops,
        images=images,
        io_bytes=len(files) * f.ckpt_bytes + saved,
        host_bytes=2 * f.data_bytes + 3 * f.ckpt_bytes,
        activation_bytes=ACTIVATION_FACTOR * EVAL_BATCH * sum(f.model.features().values()) * 4.0 / 4,
        output_bytes=saved,
    )


def gram_floats(f: _RunFacts, full: bool) -> float:
    """Stored Gram floats per layer and epoch: packed upper triangles (with diagonal)."""
    n, b = f.probe_batch, f.probe_batches
    big = n * b
    return b * n * (n + 1) / 2 + (big * (big + 1) / 2 if full else 0)


def extract_segment(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.extracts, wc["id"], "extract")
    f = run_facts(plan, art.run.id)
    epochs = len(art.part_epochs(*_epochs(wc)))
    settings = art.spec["settings"]
    feats = f.model.features()
    n_probe = f.probe_batch * f.probe_batches
    gram_flops = sum(2.0 * f.probe_batch**2 * p * f.probe_batches for p in feats.values())
    if settings["full_gram"]:
        gram_flops += sum(2.0 * n_probe**2 * p for p in feats.values())
    grams = 4.0 * len(feats) * gram_floats(f, settings["full_gram"])
    raw = sum(4.0 * n_probe * p for p in feats.values() if p <= settings["raw_max_features"])
    held = (n_probe if settings["full_gram"] else 2 * f.probe_batch) * sum(feats.values()) * 4.0
    # the two-point pairs: one more forward of their images per checkpoint, their features held on the host
    n_pairs = min(plan.pairs[art.spec["inputs"]["pairs"]].max_examples, f.n_train)
    held += n_pairs * sum(feats.values()) * 4.0
    return Work(
        device_flops=epochs * (n_probe + n_pairs) * f.model.flops,
        images=epochs * (n_probe + n_pairs),
        gemm_flops=epochs * gram_flops,
        gemm_float64=False,
        io_bytes=epochs * (f.ckpt_bytes + grams + raw),
        host_bytes=(n_probe + n_pairs) * f.image_bytes * 4.0 + held + grams + raw + 2 * f.ckpt_bytes,
        activation_bytes=ACTIVATION_FACTOR * f.probe_batch * sum(feats.values()) * 4.0 / 4,
        output_bytes=epochs * (grams + raw),
    )


def probe_segment(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.probes, wc["id"], "probe")
    f = run_facts(plan, art.run.id)
    epochs = len(art.part_epochs(*_epochs(wc)))
    probe = art.spec["settings"]
    pooled = sum(f.model.features(probe["pooling"]).values())
    flat = sum(f.model.features().values())
    cache = 4.0 * f.n_train * pooled
    budget = art.memory_budget_mb * 1e6
    spill = max(0.0, cache - budget)
    weights = 4.0 * (pooled * f.classes + f.classes * len(f.model.layers))
    passes = probe_passes(probe, f.n_train)
    flops = (
        (f.n_train + f.n_test) * f.model.flops
        + passes * f.n_train * 6.0 * pooled * f.classes
        + f.n_test * 2.0 * pooled * f.classes
    )
    return Work(
        device_flops=epochs * flops,
        images=epochs * (f.n_train + f.n_test),
        probe_steps=epochs * passes * steps_per_epoch(f.n_train, probe["batch_size"]),
        io_bytes=epochs * (f.ckpt_bytes + weights),
        scratch_bytes=epochs * spill * (passes + 1),
        host_bytes=min(cache, budget) + f.data_bytes + 4 * weights + PROBE_FORWARD_BATCH * flat * 4.0,
        activation_bytes=ACTIVATION_FACTOR * PROBE_FORWARD_BATCH * flat * 4.0 / 4,
        output_bytes=epochs * weights,
    )


def plane_counts(planes_art: Any) -> tuple[int, int]:
    """(planes, points over all planes) of a planes artifact."""
    s = planes_art.spec["settings"]
    return s["planes"], s["planes"] * s["resolution"] ** 2


def planes_eval(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.preds, wc["id"], "preds")
    f = run_facts(plan, art.run.id)
    epochs = len(art.part_epochs(*_epochs(wc)))
    _, points = plane_counts(art.planes)
    feats = sum(f.model.features(art.probe.spec["settings"]["pooling"]).values())
    flat = sum(f.model.features().values())
    layers = len(f.model.layers)
    weights = 4.0 * feats * f.classes
    batch = art.eval_batch_size
    return Work(
        device_flops=epochs * points * (f.model.flops + 2.0 * feats * f.classes),
        images=epochs * points,
        io_bytes=epochs * (f.ckpt_bytes + weights + layers * points),
        host_bytes=2 * batch * flat * 4.0 + batch * f.image_bytes * 4.0 + weights + layers * points,
        activation_bytes=ACTIVATION_FACTOR * batch * flat * 4.0 / 4,
        output_bytes=epochs * layers * points,
    )


def make_planes(plan: Plan, wc: Mapping[str, str]) -> Work:
    art = lookup_artifact(plan.planes, wc["id"], "planes")
    data = art.data.spec["settings"]
    facts = facts_of(data)
    image = facts["channels"] * data["image_size"] ** 2
    planes, _ = plane_counts(art)
    n = (data["train_subset"] or facts["train_size"]) + facts["test_size"]
    return Work(
        io_bytes=n * image + planes * 3 * image * 4.0, host_bytes=2.0 * n * image, output_bytes=planes * 3 * image * 4.0
    )
