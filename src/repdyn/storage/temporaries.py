"""Names of the temporaries repdyn writes next to a destination, and the cleanup of a killed writer's ones.

Kept apart from repdyn.storage.atomic so that the checksum manifests (repdyn.storage.checksums), which atomic_path
records,
can use the same naming without importing atomic.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

TMP_PREFIX = ".tmp-"
TMP_RANDOM = r"[a-z0-9_]{8}"  # tempfile.mkstemp's random part


def remove_stale(dest: Path, suffix: str = "") -> None:
    """Delete the temporaries a killed writer of `dest` left behind (a half-written Zarr store can be large).

    Safe because a destination has one writer at a time (Snakemake runs one job per output). Only names
    of exactly the form atomic_path gives `dest` match, never those of a destination such as `dest.png`.
    """
    pattern = re.compile(re.escape(f"{TMP_PREFIX}{dest.name}.") + TMP_RANDOM + re.escape(suffix))
    for stale in dest.parent.iterdir():
        if pattern.fullmatch(stale.name):
            remove_path(stale)


def remove_path(path: Path) -> None:
    """Delete a file, link or directory tree, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
