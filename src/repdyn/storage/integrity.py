"""Inputs checked before use: a job that meets a missing, truncated or corrupt input stops with one line
naming the artifact and the command that rebuilds it.

The readers of every stored kind (dataset.h5, checkpoints and resume states, metrics tables, spec.json, Gram
parts, CKA and DRS tiles, assembled matrices, planes, probes, predictions) call `require` before they open
anything. It compares names and sizes with the artifact's manifest (repdyn.storage.checksums) and reads every byte
of the files it covers once for their CRC-32: the cost is one extra read at memory speed, small beside what
a job does with the data (bench/checksums.py). A path is checked once per process. An artifact without a
manifest (stored before repdyn recorded checksums) is read unchecked, so it stays usable; `repdyn verify
--record` gives it one.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from repdyn.storage import checksums

_ID = r"[0-9a-f]{12}"
_PART = r"[0-9]{6}-[0-9]{6}"
_END = r"e[0-9]{6}"

# The outputs of the workflow's rules (workflow/rules/*.smk), relative to the directory Snakemake runs in:
# what one job writes, records and rebuilds as a whole. The workflow test checks that this table finds
# exactly the artifacts a run writes.
ARTIFACT_PATTERNS = tuple(
    re.compile(rf"(?:^|/)(?:{pattern})$")
    for pattern in (
        r"results/index\.json",
        rf"results/[a-z_]+/{_ID}/spec\.json",
        rf"results/data/{_ID}/dataset\.h5",
        rf"results/train/{_ID}/(?:init|segments/{_PART})",
        rf"results/train/{_ID}/metrics/{_END}\.(?:tsv|phases\.json)",
        rf"results/(?:extract|probe|preds)/{_ID}/{_PART}",
        rf"results/(?:cka|cka_cross|drs)/{_ID}/tiles/{_PART}_{_PART}",
        rf"results/(?:cka|cka_cross|drs|twopoint)/{_ID}/{_END}(?:x[0-9]{{6}})?",
        rf"results/cka/{_ID}/layers/{_END}",
        rf"results/pairs/{_ID}/pairs\.json",
        rf"results/planes/{_ID}/planes\.zarr",
        r"reports/(?:index\.html|summary\.tsv|findings\.tsv|compare|experiments/[^/]+)",
    )
)


class CorruptInput(ValueError):
    """A job's input is truncated, damaged or incomplete; the message is one line ending in the cure."""


class MissingInput(FileNotFoundError):
    """A job's input, an output of the workflow, does not exist; the message is one line ending in the cure."""


def is_artifact_path(path: str | os.PathLike) -> bool:
    return any(p.search(Path(path).as_posix()) for p in ARTIFACT_PATTERNS)


def artifact_root(path: str | os.PathLike) -> Path | None:
    """`path` or the nearest directory above it that is a rule's output (ARTIFACT_PATTERNS), else None."""
    path = Path(path)
    return next((p for p in (path, *path.parents) if is_artifact_path(p)), None)


def shown(path: str | os.PathLike) -> str:
    """A path as the user should type it: relative to the working directory when inside it, shell-quoted."""
    path = Path(path)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            pass
    return shlex.quote(str(path))


def rebuild_command(artifact: str | os.PathLike) -> str:
    """Remove the artifact (its manifest goes with a directory; a sidecar is overwritten) and let Snakemake build it."""
    artifact = Path(artifact)
    if not (artifact.exists() or artifact.is_symlink()):
        return f"snakemake {shown(artifact)}"
    remove = "rm -r" if artifact.is_dir() else "rm"
    return f"{remove} {shown(artifact)} && snakemake {shown(artifact)}"


def problem_line(problems: list[checksums.Problem]) -> str:
    """One line for a failing artifact: its first problem, how many more, the command that rebuilds it."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return (
        f"input {shown(first.artifact)} is damaged ({first.file}: {first.what}{more}); "
        f"rebuild it: {rebuild_command(first.artifact)}"
    )


_checked: set[Path] = set()


def require(path: str | os.PathLike) -> None:
    """Raise CorruptInput unless `path` (an artifact, or a file or store inside one) matches its manifest.

    A missing path inside the workflow's layout raises MissingInput; one outside it is left to the reader,
    whose own error names what should have written it.
    """
    path = Path(path)
    key = path.absolute()
    if any(p in _checked for p in (key, *key.parents)):
        return
    artifact = checksums.find_artifact(path)
    if artifact is None:
        target = artifact_root(path)
        if not path.exists() and target is not None:
            raise MissingInput(f"input {shown(path)} is missing; build it: {rebuild_command(target)}")
        if path.exists():
            _checked.add(key)  # no manifest: nothing to compare with
        return
    problems = checksums.check_artifact(artifact, under=path)
    if problems:
        raise CorruptInput(problem_line(problems))
    _checked.add(key)
