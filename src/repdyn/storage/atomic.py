"""Atomic file writes: a killed job never leaves a file that looks finished.

Everything repdyn writes goes to a temporary name in the destination directory
and is renamed into place only once it is complete (rename is atomic on POSIX
file systems within one directory). The commit also records the checksums of
what it renames into place (repdyn.storage.checksums), so that every finished output
can be verified later.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from repdyn.storage.temporaries import TMP_PREFIX, remove_path, remove_stale

__all__ = ["TMP_PREFIX", "atomic_path", "remove_stale"]


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = "", record: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `dest`; rename it to `dest` on success.

    On any exception the temporary file (or directory) is removed and `dest`
    is left as it was. `suffix` keeps an extension that a writer library
    insists on (h5py, torch.save do not care; zarr stores are directories).

    Before the rename, the checksums of the finished output are recorded: a
    directory gets `checksums.json` inside it (renamed with it, so it appears
    exactly when the directory does); a file gets the sidecar
    `<dest>.checksums.json`, written just before the file's rename and removed
    if that fails, so a file never appears without it (a kill between the two
    leaves a sidecar whose file is missing: verify reports that artifact as
    missing). Outputs written inside another one's temporary directory record
    nothing: the enclosing output's manifest covers them when it is committed.
    `record=False` is for files that are no artifact (a figure for the docs).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dest, suffix)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX + dest.name + ".", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers create it themselves (file or directory)
    sidecar = None
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"writer did not create {tmp} for {dest}")
        sidecar = _record_checksums(tmp, dest) if record else None
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        remove_path(tmp)
        if sidecar is not None:
            remove_path(sidecar)
        raise


def _record_checksums(tmp: Path, dest: Path) -> Path | None:
    """Write the manifest of a finished temporary; return the sidecar written for a file, if any."""
    from repdyn.storage import checksums

    if any(part.startswith(TMP_PREFIX) for part in dest.parent.parts):
        return None  # inside an uncommitted output: its own commit records this too
    if tmp.is_dir():
        checksums.record_directory(tmp)
        return None
    return checksums.record_file(tmp, dest)


def write_text(dest: str | os.PathLike, text: str, record: bool = True) -> None:
    """Write a text file atomically (`record=False`: no checksum manifest, e.g. for a log)."""
    with atomic_path(dest, record=record) as tmp:
        tmp.write_text(text)


def write_json(dest: str | os.PathLike, obj: Any) -> None:
    """Write JSON (sorted keys, indented: meant to be read by people) atomically."""
    write_text(dest, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def torch_save(obj: Any, dest: str | os.PathLike) -> None:
    """torch.save to a temporary name, then rename into place."""
    import torch

    with atomic_path(dest) as tmp:
        torch.save(obj, tmp)
