"""A session's expensive real runs, built once for all pytest-xdist workers of the session.

Each xdist worker has its own session and so its own session fixtures; a run built in the directory the
workers share (the parent of each worker's base temporary directory), under an exclusive file lock, is built
by the first worker that asks for it and read by the others. Without xdist the run is built in the session's
own temporary directory. Readers never change a shared run: a test that changes one works on a copy."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

DONE = ".built"


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The directory `name` after `build(directory)` ran to its end once in this session (all workers)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        work = tmp_path_factory.mktemp(name)
        build(work)
        return work
    root = tmp_path_factory.getbasetemp().parent  # shared by the workers of one session, not by other sessions
    work = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work / DONE).is_file():
            shutil.rmtree(work, ignore_errors=True)  # a worker that failed to build it left a partial run
            work.mkdir()
            build(work)
            (work / DONE).touch()
    return work
