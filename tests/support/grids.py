"""Epoch grids of the synthetic readout tests."""

from __future__ import annotations

IRREGULAR = list(range(60)) + list(range(62, 300, 2)) + list(range(305, 1500, 5))  # dense early, sparse late
