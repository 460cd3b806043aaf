"""`repdyn verify [paths]`: check artifacts against the checksums recorded when they were written.

Every artifact below the given paths (default: results/ and reports/) is compared with its manifest
(repdyn.storage.checksums): a listed file that is missing, has another size or other bytes, a file the manifest does
not list, and a file that no manifest covers are reported, one line each on stdout, followed by the command
that rebuilds the damaged artifacts. Files are hashed by a pool of threads (CRC-32 and file reads release the
GIL), so the time is what the disk allows; progress (files, bytes, rate) goes to stderr. Exit status 0 when
everything matches, 1 otherwise. `--record` writes manifests for artifacts that have none (written before
repdyn recorded checksums): it trusts their present content.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from repdyn.storage import checksums, integrity
from repdyn.storage.atomic import TMP_PREFIX

DEFAULT_PATHS = ("results", "reports")


@dataclass
class Found:
    """What lies below the paths: artifacts (with the part of each to check), and files no manifest covers."""

    checks: list[tuple[checksums.Artifact, Path | None]] = field(default_factory=list)
    unrecorded: list[Path] = field(default_factory=list)
    temporaries: list[Path] = field(default_factory=list)


def find(paths: list[Path]) -> Found:
    found = Found()
    for path in paths:
        artifact = checksums.find_artifact(path)
        if artifact is not None:
            found.checks.append((artifact, None if path == artifact.path else path))
        elif path.is_dir():
            _walk(path, found)
        elif path.exists():
            found.unrecorded.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return found


def _walk(top: Path, found: Found) -> None:
    for root, dirs, files in os.walk(top):
        root_path = Path(root)
        found.temporaries += [root_path / d for d in dirs if d.startswith(TMP_PREFIX)]
        dirs[:] = sorted(d for d in dirs if not d.startswith(TMP_PREFIX))
        if checksums.MANIFEST in files:
            found.checks.append((checksums.Artifact(root_path, root_path / checksums.MANIFEST), None))
            dirs[:] = []
            continue
        for name in sorted(files):
            path = root_path / name
            if name.startswith(TMP_PREFIX):
                found.temporaries.append(path)
            elif name.endswith(checksums.SIDECAR_SUFFIX):
                described = path.with_name(name[: -len(checksums.SIDECAR_SUFFIX)])
                found.checks.append((checksums.Artifact(described, path), None))
            elif not checksums.sidecar_of(path).is_file():
                found.unrecorded.append(path)


class Progress:
    """Files and bytes hashed so far, written to stderr at most once a second (every 10 s when not a terminal)."""

    def __init__(self, files: int, total: int, stream=None):
        self.files, self.total, self.stream = files, total, stream if stream is not None else sys.stderr
        self.done_files = self.done_bytes = 0
        self.started = self.shown = time.monotonic()
        self.interval = 1.0 if self.stream.isatty() else 10.0
        self.lock = threading.Lock()

    def add_bytes(self, n: int) -> None:
        with self.lock:
            self.done_bytes += n
            if time.monotonic() - self.shown >= self.interval:
                self.show()

    def file_done(self) -> None:
        with self.lock:
            self.done_files += 1

    def rate(self) -> float:
        return self.done_bytes / max(time.monotonic() - self.started, 1e-9)

    def show(self, final: bool = False) -> None:
        self.shown = time.monotonic()
        end = "\n" if final or not self.stream.isatty() else "\r"
        print(
            f"repdyn verify: {self.done_files}/{self.files} files, {_gb(self.done_bytes)}/{_gb(self.total)} GB, "
            f"{self.rate() / 1e6:.0f} MB/s",
            end=end,
            file=self.stream,
            flush=True,
        )


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f}"


def check_all(found: Found, full: bool, jobs: int) -> tuple[list[checksums.Problem], Progress]:
    """Every problem of the found artifacts; the hashing is spread over `jobs` threads."""
    plans = [checksums.plan_check(artifact, under) for artifact, under in found.checks]
    problems = [p for plan in plans for p in plan.problems]
    work = [(plan, entry) for plan in plans for entry in plan.to_hash] if full else []
    progress = Progress(len(work), sum(entry[1] for _, entry in work))

    def hash_one(item):
        plan, entry = item
        problem = plan.hash_one(entry, progress.add_bytes)
        progress.file_done()
        return problem

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        problems += [p for p in pool.map(hash_one, work) if p is not None]
    return problems, progress


def record(paths: list[Path]) -> list[Path]:
    """Write a manifest for every artifact below `paths` (integrity.ARTIFACT_PATTERNS) that has none."""
    written = []
    for top in paths:
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith(TMP_PREFIX))
            root_path = Path(root)
            if integrity.is_artifact_path(root_path):
                if not (root_path / checksums.MANIFEST).is_file():
                    written.append(checksums.record_directory(root_path))
                dirs[:] = []
                continue
            for name in sorted(files):
                path = root_path / name
                if integrity.is_artifact_path(path) and not checksums.sidecar_of(path).is_file():
                    written.append(checksums.record_file(path))
    return written


def run(given: list[str], *, record_missing: bool = False, quick: bool = False, jobs: int = 1) -> int:
    """The command: problems on stdout, progress and the total on stderr; exit status 0 when all match."""
    paths = [Path(p) for p in given] or [Path(p) for p in DEFAULT_PATHS if Path(p).exists()]
    if not paths:
        raise FileNotFoundError(f"nothing to verify: no {' or '.join(DEFAULT_PATHS)} here, and no paths given")
    if record_missing:
        written = record(paths)
        print(f"repdyn verify: recorded {len(written)} manifests", file=sys.stderr)
        return 0
    found = find(paths)
    problems, progress = check_all(found, full=not quick, jobs=jobs)
    progress.show(final=True)
    for problem in problems:
        print(problem)
    for path in found.unrecorded:
        print(f"{path}: in no manifest (written before checksums were recorded? `repdyn verify --record` adds them)")
    damaged = sorted({p.artifact for p in problems})
    if damaged:
        targets = " ".join(integrity.shown(a) for a in damaged)
        print(f"rebuild: rm -rf {targets} && snakemake {targets}")
    elapsed = time.monotonic() - progress.started
    print(
        f"repdyn verify: {len(found.checks)} artifacts, {progress.done_files} files, {_gb(progress.done_bytes)} GB "
        f"hashed in {elapsed:.1f} s: {len(damaged)} damaged, {len(found.unrecorded)} files in no manifest"
        + (f", {len(found.temporaries)} temporaries of unfinished jobs ignored" if found.temporaries else ""),
        file=sys.stderr,
    )
    return 1 if damaged or found.unrecorded else 0
