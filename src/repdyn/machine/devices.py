"""Device choice and the deterministic-kernel switch shared by training and inference.

Device is always a parameter (never hard-coded) so the same code runs on a
laptop CPU and on a cluster GPU; "auto" lets a config stay portable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")

# cuBLAS needs this workspace setting for deterministic GEMMs (PyTorch docs,
# "Reproducibility"); it must be in the environment before cuBLAS starts.
_CUBLAS_WORKSPACE = ":4096:8"


def resolve_device(name: str | torch.device) -> torch.device:
    """Turn a device setting into a torch.device.

    "auto" picks CUDA when it is available, else the CPU. Asking for CUDA on a
    machine without it is an error rather than a silent fallback: a cluster job
    that lost its GPU should fail loudly, not train 100x slower.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise ValueError(f"device must be a string such as {', '.join(DEVICE_CHOICES)}; got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(
            f"device {name!r} is unknown; allowed values: {', '.join(DEVICE_CHOICES)} (or cuda:N)"
        ) from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} was requested but CUDA is not available on this machine; use 'cpu' or 'auto'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif device.type != "cpu":
        raise ValueError(f"device {name!r} is not supported; allowed values: {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    return device


@contextlib.contextmanager
def deterministic_kernels(device: torch.device) -> Iterator[None]:
    """Select deterministic CUDA kernels for the duration of the block.

    CPU kernels are already deterministic. On CUDA, cuDNN autotuning and
    atomics-based backward kernels would make two identical runs differ, which
    breaks the "resumed == uninterrupted" guarantee; kernels without a
    deterministic variant only warn (warn_only) instead of aborting training.
    The previous global settings are restored afterwards.
    """
    if device.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_WORKSPACE)
    saved = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[0], saved[1]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])
