"""How long linear probes must train: probe errors against Adam steps on finished runs (docs/algorithms.md §3).

    python bench/probe_steps.py --results RESULTS_DIR [--epochs 10 40] [--steps 48 512 1008 4000]
                                [--lrs 0.001] [--paper] [--threads 2] [--json out.json]

For every experiment in RESULTS_DIR/index.json (a seed series gives one row per seed) and every listed
training epoch, one feature cache of the training set and one of the eval test subset serve probes
trained from the same start with each (lr, steps) setting (whole passes: steps are rounded up to a
multiple of the steps per pass; --paper adds lr 1e-4 at 4000 steps). Printed per setting, over all
(experiment, epoch) cases: the output layer's probe test error minus the network's own (min..max; the
identity map is a probe that achieves the network's error, so a large positive gap means under-training),
mean probe test and train errors per layer, and the median training seconds. Nothing is written to the run.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # benchmark the checkout it ships with

from drs_precision import checkpoint_of  # noqa: E402

from repdyn.config.probe_schedule import probe_epochs, steps_per_epoch  # noqa: E402
from repdyn.data import DatasetArtifact  # noqa: E402
from repdyn.drs.probe_job import FORWARD_BATCH, network_error, probe_label_source  # noqa: E402
from repdyn.drs.probes import FeatureCache, probe_errors, train_probes  # noqa: E402
from repdyn.machine import settings as runtime  # noqa: E402
from repdyn.train import load_checkpoint_model  # noqa: E402


def cases(results: Path, epochs: list[int]):
    """(experiment, epoch, run settings, probe settings, checkpoint, dataset path) of every case."""
    index = json.loads((results / "index.json").read_text())["experiments"]
    for name, entry in index.items():
        run_dir = results.parent / entry["train"]["path"]
        run = json.loads((run_dir / "spec.json").read_text())["settings"]
        probe = json.loads((results / "probe" / entry["drs"]["probe"] / "spec.json").read_text())["settings"]
        dataset = results.parent / entry["data"]["path"] / "dataset.h5"
        for epoch in epochs:
            yield name, epoch, run, probe, checkpoint_of(run_dir, epoch), dataset


def measure(args: argparse.Namespace) -> list[dict]:
    settings = [(lr, s) for lr in args.lrs for s in args.steps] + ([(1e-4, 4000)] if args.paper else [])
    rows = []
    for name, epoch, run, probe, checkpoint, dataset_path in cases(args.results, args.epochs):
        dataset = DatasetArtifact.load(dataset_path)
        model = load_checkpoint_model(checkpoint, run, dataset)
        labels = probe_label_source(dataset, probe["labels"])
        build = {
            "normalize": dataset.normalize,
            "batch_size": FORWARD_BATCH,
            "memory_budget_bytes": None,
            "device": "cpu",
            "pooling": probe["pooling"],
        }
        with (
            FeatureCache.build(model, model.analysed_layers, dataset.train_images, **build) as train,
            FeatureCache.build(model, model.analysed_layers, dataset.eval_images(), **build) as test,
        ):
            network = network_error(test, dataset.eval_labels())
            per_pass = steps_per_epoch(train.num_examples, probe["batch_size"])
            for lr, steps in settings:
                passes = probe_epochs(1, steps, train.num_examples, probe["batch_size"])
                started = time.perf_counter()
                probes = train_probes(
                    train,
                    labels,
                    dataset.num_classes,
                    epochs=passes,
                    lr=lr,
                    batch_size=probe["batch_size"],
                    seed=probe["seed"],
                )
                seconds = time.perf_counter() - started
                rows.append(
                    {
                        "experiment": name,
                        "epoch": epoch,
                        "lr": lr,
                        "steps": passes * per_pass,
                        "seconds": seconds,
                        "network_test_err": network,
                        "train_err": probe_errors(probes, train, labels),
                        "test_err": probe_errors(probes, test, dataset.eval_labels()),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> None:
    groups: dict[tuple[float, int], list[dict]] = collections.defaultdict(list)
    for row in rows:
        groups[(row["lr"], row["steps"])].append(row)
    layers = list(rows[0]["test_err"])
    output = layers[-1]
    print(f"{len(rows) // len(groups)} cases (experiment x epoch); errors are means over them")
    print(
        f"{'lr':>7} {'steps':>6} {'output gap':>16} "
        + " ".join(f"{'test ' + l:>12}" for l in layers)
        + " "
        + " ".join(f"{'train ' + l:>13}" for l in layers)
        + f" {'median s':>9}"
    )
    for (lr, steps), group in sorted(groups.items()):
        gaps = [r["test_err"][output] - r["network_test_err"] for r in group]
        mean = {k: {l: statistics.fmean(r[k][l] for r in group) for l in layers} for k in ("test_err", "train_err")}
        print(
            f"{lr:>7g} {steps:>6} {min(gaps):>+7.3f}..{max(gaps):>+7.3f} "
            + " ".join(f"{mean['test_err'][l]:>12.3f}" for l in layers)
            + " "
            + " ".join(f"{mean['train_err'][l]:>13.3f}" for l in layers)
            + f" {statistics.median(r['seconds'] for r in group):>9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, required=True, help="results/ of a finished run (index.json)")
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 40], help="training epochs (checkpoints)")
    ap.add_argument("--steps", type=int, nargs="+", default=[48, 512, 1008, 4000])
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3])
    ap.add_argument("--paper", action="store_true", help="also lr 1e-4 at 4000 steps (the paper's recipe)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    runtime.set_threads(args.threads)
    rows = measure(args)
    table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
