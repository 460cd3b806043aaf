"""The argument checks repeated across the package, written once.

An integer here is a Python or NumPy integer, never a bool (True would otherwise count as 1).
"""

from __future__ import annotations

import numbers
from typing import Any


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def require_int(name: str, value: Any, minimum: int = 1) -> int:
    """`value` if it is an integer >= minimum; otherwise a ValueError naming `name` and the value."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
