"""Recognising a torch tensor without importing torch.

Importing torch costs a job 1-2 s of start-up. The jobs that only read stores and write matrices or pages
(assembly, reports, the two-point fit) take numpy arrays, and a torch tensor can only exist in a process that
has imported torch: so `is_tensor` asks torch only when it is already loaded.
"""

from __future__ import annotations

import sys
from typing import Any


def is_tensor(x: Any) -> bool:
    """True for a torch.Tensor; never imports torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)
