"""Content digests of the files an imported run reads: checkpoints, an npz dataset, the factory's source.

Why: an imported run's ids must change exactly when its inputs' content does, and the plan is built at
Snakemake parse time, again inside every job. So each file's SHA-256 is computed once and remembered in
a cache keyed by (absolute path, size, modification time in ns); a file rewritten in place gets a new
stat and is hashed again. The cache is a plain JSON file written atomically (a lost update only costs
a rehash). Nothing here imports or executes the files it hashes.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

CACHE_ENV = "REPDYN_DIGEST_CACHE"
DEFAULT_CACHE = Path(".repdyn") / "digests.json"
_BLOCK = 1 << 20


def _cache_path() -> Path:
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE))


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache: dict[str, str]) -> None:
    from repdyn.storage.atomic import write_text

    try:
        write_text(_cache_path(), json.dumps(cache, sort_keys=True), record=False)
    except OSError:
        pass  # a read-only working directory: digests are recomputed next time


def _key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of one file's bytes (no cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(paths: Iterable[str | os.PathLike]) -> list[str]:
    """SHA-256 of each file, through the stat-keyed cache."""
    cache = _read_cache()
    out, changed = [], False
    for path in map(Path, paths):
        key = _key(path)
        if key not in cache:
            cache[key] = sha256_file(path)
            changed = True
        out.append(cache[key])
    if changed:
        _write_cache(cache)
    return out


def module_files(module: str, pythonpath: str | None) -> list[Path]:
    """The source files of `module`'s top-level package (or the one module file), found without importing it.

    The whole top-level package counts because a factory usually builds its network from sibling modules.
    """
    top = module.split(".")[0]
    search = ([os.path.expanduser(pythonpath)] if pythonpath else []) + [p for p in sys.path if p]
    spec = importlib.machinery.PathFinder.find_spec(top, search)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        raise ValueError(f"module {top!r} not found on model.pythonpath {pythonpath!r} or sys.path")
    if spec.submodule_search_locations:
        files: list[Path] = []
        for location in spec.submodule_search_locations:
            files += sorted(p for p in Path(location).rglob("*.py") if "__pycache__" not in p.parts)
        return files
    return [Path(spec.origin)]


def source_digest(module: str, pythonpath: str | None) -> str:
    """One SHA-256 over the relative names and digests of `module_files` (moving the project keeps it)."""
    files = module_files(module, pythonpath)
    root = files[0].parent if len(files) == 1 else Path(os.path.commonpath([str(f.parent) for f in files]))
    digest = hashlib.sha256()
    for path, value in zip(files, file_digests(files)):
        digest.update(f"{path.relative_to(root).as_posix()}\0{value}\n".encode())
    return digest.hexdigest()
