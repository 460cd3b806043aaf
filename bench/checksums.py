"""How fast artifacts are checked (issue 14, item 5): the hash that manifests use, and `repdyn verify`.

    python bench/checksums.py [--results results] [--size-mb 256] [--synthetic-mb 1024] [--repeats 3]
                              [--project configs/*.yaml]

1. Hash throughput in memory: CRC-32 (what repdyn.storage.checksums records), Adler-32, BLAKE2b, SHA-256 and MD5 over
   the same random buffer in 1 MiB blocks, repeats interleaved; the median MB/s of each.
2. `repdyn verify` on a synthetic artifact of --synthetic-mb MB of random bytes in 512 KiB files (the size
   of one compressed Gram chunk at paper scale, 4 x 512 probe examples), with 1 and 2 threads and --quick.
3. With --results: the same over that directory (every artifact, full checksums), and the time of the
   input check one job would do (integrity.require) on the largest artifact of each stage.
   Every verify is run once before timing, so these are warm-page-cache numbers: the cost of hashing, not
   of the disk (a cold read is bounded by the disk, which this script does not measure).
4. With --project: the verify time of each config's results at the synthetic artifact's 2-thread rate,
   from the storage `repdyn plan` expects.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # benchmark the checkout it ships with

from repdyn.storage import (
    checksums,  # noqa: E402
    integrity,
    verify,
)

BLOCK = 1 << 20


def _crc32(view):
    crc = 0
    for i in range(0, len(view), BLOCK):
        crc = zlib.crc32(view[i : i + BLOCK], crc)


def _adler32(view):
    value = 1
    for i in range(0, len(view), BLOCK):
        value = zlib.adler32(view[i : i + BLOCK], value)


def _hashlib(name):
    def run(view):
        h = hashlib.new(name)
        for i in range(0, len(view), BLOCK):
            h.update(view[i : i + BLOCK])

    return run


HASHES = {
    "crc32": _crc32,
    "adler32": _adler32,
    "blake2b": _hashlib("blake2b"),
    "sha256": _hashlib("sha256"),
    "md5": _hashlib("md5"),
}


def hash_table(size_mb: int, repeats: int) -> None:
    view = memoryview(os.urandom(size_mb << 20))
    times: dict[str, list[float]] = {name: [] for name in HASHES}
    for _ in range(repeats):
        for name, run in HASHES.items():
            started = time.perf_counter()
            run(view)
            times[name].append(time.perf_counter() - started)
    print(f"\nhash throughput, {size_mb} MiB in memory, median of {repeats}")
    print(f"{'hash':10s} {'MB/s':>8s} {'vs crc32':>9s}")
    crc = statistics.median(times["crc32"])
    for name, t in times.items():
        print(f"{name:10s} {len(view) / statistics.median(t) / 1e6:8.0f} {crc / statistics.median(t):9.2f}")


def _quiet_verify(argv: list[str]) -> float:
    from repdyn.cli import main

    started = time.perf_counter()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = main(argv)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"repdyn {' '.join(argv)} exited {code}: the results do not verify")
    return elapsed


def synthetic_artifact(where: Path, size_mb: int) -> Path:
    """A directory output of `size_mb` MB of random bytes in 512 KiB files, committed through repdyn.storage.atomic."""
    from repdyn.storage import atomic

    path = where / "results" / "extract" / "0123456789ab" / "000000-000050"
    chunk = 512 << 10
    with atomic.atomic_path(path) as tmp:
        for i in range(size_mb * (1 << 20) // chunk):
            sub = tmp / "grams.zarr" / "grams" / "layer1" / "c" / str(i)
            sub.mkdir(parents=True)
            (sub / "0").write_bytes(os.urandom(chunk))
    return path


def verify_table(results: Path, repeats: int) -> float:
    found = verify.find([results])
    plans = [checksums.plan_check(artifact, under) for artifact, under in found.checks]
    total, files = sum(p.bytes for p in plans), sum(len(p.to_hash) for p in plans)
    _quiet_verify(["verify", str(results), "--jobs", "2"])  # warm the page cache
    print(
        f"\nrepdyn verify {results}: {len(found.checks)} artifacts, {files} files, {total / 1e9:.3f} GB "
        f"({total / max(files, 1) / 1e3:.0f} kB per file; warm page cache, median of {repeats})"
    )
    print(f"{'mode':22s} {'s':>7s} {'MB/s':>8s}")
    rate = 0.0
    for label, extra in (
        ("full, 1 thread", ["--jobs", "1"]),
        ("full, 2 threads", ["--jobs", "2"]),
        ("--quick (sizes only)", ["--quick"]),
    ):
        seconds = statistics.median(_quiet_verify(["verify", str(results), *extra]) for _ in range(repeats))
        mbs = total / seconds / 1e6
        if label == "full, 2 threads":
            rate = total / seconds
        print(f"{label:22s} {seconds:7.2f} {mbs if 'quick' not in label else float('nan'):8.0f}")
    return rate


def require_table(results: Path) -> None:
    """The input check of a job, per stage: the largest artifact of each stage, checked as a job checks it."""
    by_stage: dict[str, tuple[int, checksums.Artifact]] = {}
    for artifact, _ in verify.find([results]).checks:
        stage = artifact.path.relative_to(results).parts[0]
        size = checksums.plan_check(artifact).bytes
        if size > by_stage.get(stage, (-1, None))[0]:
            by_stage[stage] = (size, artifact)
    print("\ninput check of one job (integrity.require), largest artifact per stage")
    print(f"{'stage':10s} {'MB':>9s} {'ms':>8s}")
    for stage, (size, artifact) in sorted(by_stage.items()):
        integrity._checked.clear()
        started = time.perf_counter()
        integrity.require(artifact.path)
        print(f"{stage:10s} {size / 1e6:9.2f} {(time.perf_counter() - started) * 1e3:8.1f}")


def projection(configs: list[str], rate: float) -> None:
    from repdyn import config, plan
    from repdyn.cost import model as cost

    print(f"\nprojected `repdyn verify` time at {rate / 1e6:.0f} MB/s (the synthetic artifact's 2-thread rate)")
    print(f"{'config':32s} {'experiments':>11s} {'storage':>10s} {'minutes':>8s}")
    for path in configs:
        built = plan.build(config.load([path]))
        total = cost.plan_summaries(built)[-1]  # the whole config, shared artifacts counted once
        print(
            f"{Path(path).stem:32s} {len(built.experiments):11d} {cost.human_bytes(total.total_storage):>10s} "
            f"{total.total_storage / rate / 60:8.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, help="a results directory written with manifests")
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--synthetic-mb", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--project", nargs="*", default=[], help="configs whose verify time to project")
    args = ap.parse_args()
    print(f"# load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    hash_table(args.size_mb, args.repeats)
    with tempfile.TemporaryDirectory(prefix="repdyn-bench-checksums-") as where:
        rate = verify_table(synthetic_artifact(Path(where), args.synthetic_mb), args.repeats)
    if args.results:
        verify_table(args.results, args.repeats)
        require_table(args.results)
    if args.project:
        projection(args.project, rate)
    print(f"# load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
