"""Checksum manifests: every artifact records the size and CRC-32 of each of its files when it is written.

Where the manifest of an artifact lives:
  - a directory artifact (a Snakemake `directory()` output, including a Zarr store written as one):
    `<dir>/checksums.json`, listing every file below the directory by its relative POSIX path;
  - a file artifact (dataset.h5, spec.json, a metrics table, a report page): the sidecar
    `<file>.checksums.json` next to it, listing the one file by its name.
Format: {"format": "repdyn-checksums 1", "algorithm": "crc32", "files": {path: [size, "8 hex digits"]}}.

repdyn.storage.atomic writes the manifest of every output it commits, before the rename that makes the output
appear, so an output never looks finished without it (see `atomic.atomic_path`). Snakemake's own marker
`.snakemake_timestamp`, put into directory outputs after the job, is not part of the artifact.

Why CRC-32 with the size: the faults to catch are truncated, lost or damaged files (full disks, killed
copies, bad blocks), not tampering. The size catches every truncation; CRC-32 catches every burst of up to
32 flipped bits and any other damage except with probability 2^-32; and it runs at memory speed
(bench/checksums.py measures it against BLAKE2b and SHA-256), so checking tens of GB is bounded by the disk.
"""

from __future__ import annotations

import json
import os
import secrets
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from repdyn.storage.temporaries import TMP_PREFIX, remove_stale

MANIFEST = "checksums.json"
SIDECAR_SUFFIX = ".checksums.json"
FORMAT = "repdyn-checksums 1"
ALGORITHM = "crc32"
NOT_CONTENT = frozenset({MANIFEST, ".snakemake_timestamp"})  # names at the top of a directory artifact never listed
_BLOCK = 1 << 20


def crc32_file(path: str | os.PathLike, progress: Callable[[int], None] | None = None) -> str:
    """CRC-32 of a file's bytes, 8 lowercase hex digits (read in 1 MiB blocks; zlib releases the GIL)."""
    crc = 0
    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            crc = zlib.crc32(view[:n], crc)
            if progress is not None:
                progress(n)
    return f"{crc:08x}"


def content_files(directory: Path) -> list[str]:
    """Relative POSIX paths of every file below `directory` that belongs to the artifact, sorted."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        rel_root = Path(root).relative_to(directory)
        for name in files:
            if not (rel_root == Path(".") and name in NOT_CONTENT):
                found.append((rel_root / name).as_posix())
    return sorted(found)


def _describe(directory: Path, names: Iterable[str]) -> dict[str, list]:
    return {name: [(directory / name).stat().st_size, crc32_file(directory / name)] for name in names}


def _write_manifest(path: Path, files: dict[str, list]) -> None:
    """Write a manifest under a temporary name, then rename it (not through atomic.atomic_path, which would
    record the manifest's own checksums); a killed writer's temporary goes with the next write."""
    entries = ",\n".join(f" {json.dumps(name)}: {json.dumps(entry)}" for name, entry in sorted(files.items()))
    text = f'{{"format": "{FORMAT}", "algorithm": "{ALGORITHM}", "files": {{\n{entries}\n}}}}\n'
    remove_stale(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}")  # the name remove_stale knows
    with open(tmp, "x") as f:  # permissions from the umask, like the data files
        f.write(text)
    os.replace(tmp, path)


def record_directory(directory: str | os.PathLike) -> Path:
    """Write `<directory>/checksums.json` for the files now below it; return its path."""
    directory = Path(directory)
    manifest = directory / MANIFEST
    _write_manifest(manifest, _describe(directory, content_files(directory)))
    return manifest


def sidecar_of(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def record_file(content: str | os.PathLike, dest: str | os.PathLike | None = None) -> Path:
    """Write the sidecar of `dest` (default: `content` itself) describing the bytes of `content` under dest's name.

    atomic.atomic_path passes the finished temporary as `content`, before renaming it to `dest`.
    """
    content = Path(content)
    dest = Path(dest) if dest is not None else content
    sidecar = sidecar_of(dest)
    _write_manifest(sidecar, {dest.name: [content.stat().st_size, crc32_file(content)]})
    return sidecar


@dataclass(frozen=True)
class Artifact:
    """One recorded artifact: `path` (the directory, or the file with a sidecar) and its manifest."""

    path: Path
    manifest: Path

    @property
    def is_directory(self) -> bool:
        return self.manifest.name == MANIFEST and self.manifest.parent == self.path

    @property
    def base(self) -> Path:
        """The directory the manifest's file names are relative to."""
        return self.path if self.is_directory else self.path.parent

    def listed(self) -> dict[str, list]:
        doc = json.loads(self.manifest.read_text())
        if doc.get("format") != FORMAT or doc.get("algorithm") != ALGORITHM:
            raise ValueError(f"{self.manifest}: not a {FORMAT} manifest with {ALGORITHM}")
        return doc["files"]

    def present(self) -> list[str]:
        if self.is_directory:
            return content_files(self.path)
        return [self.path.name] if self.path.is_file() else []


def find_artifact(path: str | os.PathLike) -> Artifact | None:
    """The recorded artifact holding `path`: `path` itself (a directory with checksums.json or a file with a
    sidecar) or the nearest directory above it with checksums.json. None when nothing records it."""
    path = Path(path)
    if sidecar_of(path).is_file():
        return Artifact(path, sidecar_of(path))
    for candidate in (path, *path.parents):
        if (candidate / MANIFEST).is_file():
            return Artifact(candidate, candidate / MANIFEST)
    return None


@dataclass(frozen=True)
class Problem:
    """What is wrong with one file of an artifact."""

    artifact: Path
    file: str
    what: str  # missing, truncated (n of m bytes), grown (...), checksum mismatch, not in the manifest, unreadable

    def __str__(self) -> str:
        return f"{self.artifact}: {self.file}: {self.what}"


@dataclass
class Check:
    """The plan of checking one artifact: problems the listing shows, and the files whose bytes must be hashed."""

    artifact: Artifact
    problems: list[Problem] = field(default_factory=list)
    to_hash: list[tuple[str, int, str]] = field(default_factory=list)  # (file, size, expected crc)

    @property
    def bytes(self) -> int:
        return sum(size for _, size, _ in self.to_hash)

    def hash_one(self, entry: tuple[str, int, str], progress: Callable[[int], None] | None = None) -> Problem | None:
        name, _, expected = entry
        try:
            actual = crc32_file(self.artifact.base / name, progress)
        except OSError as err:
            return Problem(self.artifact.path, name, f"unreadable ({err.strerror})")
        return None if actual == expected else Problem(self.artifact.path, name, "checksum mismatch")


def plan_check(artifact: Artifact, under: str | os.PathLike | None = None) -> Check:
    """Compare the artifact's files with its manifest by name and size (cheap: no file is read).

    `under` limits the check to the files at or below that path inside the artifact (a job that reads one
    checkpoint of a segment checks that checkpoint). Sizes that match leave the file to `to_hash`.
    """
    check = Check(artifact)
    try:
        listed = artifact.listed()
    except (OSError, ValueError, KeyError) as err:
        check.problems.append(Problem(artifact.path, artifact.manifest.name, f"unreadable manifest ({err})"))
        return check
    prefix = None
    if under is not None and Path(under) != artifact.path:
        prefix = Path(under).relative_to(artifact.base).as_posix()
    inside = (lambda name: name == prefix or name.startswith(prefix + "/")) if prefix else (lambda name: True)
    present = set(artifact.present())
    for name in sorted(n for n in present - set(listed) if inside(n)):
        check.problems.append(Problem(artifact.path, name, "not in the manifest"))
    for name, (size, crc) in sorted(listed.items()):
        if not inside(name):
            continue
        if name not in present:
            check.problems.append(Problem(artifact.path, name, "missing"))
            continue
        actual = (artifact.base / name).stat().st_size
        if actual != size:
            what = "truncated" if actual < size else "grown"
            check.problems.append(Problem(artifact.path, name, f"{what}, {actual} of {size} bytes"))
        else:
            check.to_hash.append((name, size, crc))
    return check


def check_artifact(artifact: Artifact, under: str | os.PathLike | None = None, full: bool = True) -> list[Problem]:
    """Every problem of one artifact (serially); `full=False` compares names and sizes only."""
    check = plan_check(artifact, under)
    problems = list(check.problems)
    if full:
        problems += [p for p in map(check.hash_one, check.to_hash) if p is not None]
    return problems
