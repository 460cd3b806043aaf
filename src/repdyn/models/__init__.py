"""The paper's three architectures and a forward-hook tap on their analysed layers.

Importing this package does not import torch (the Snakefile reads
`analysed_layers` at parse time); `build` and `LayerTap` load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from repdyn.models.registry import ARCHITECTURES, analysed_layers, build, layer_labels, validate_build_settings

if TYPE_CHECKING:  # pragma: no cover - typing only
    from repdyn.models.taps import LayerTap

__all__ = ["ARCHITECTURES", "LayerTap", "analysed_layers", "build", "layer_labels", "validate_build_settings"]


def __getattr__(name: str) -> Any:
    """Import the torch-based LayerTap lazily (PEP 562)."""
    if name == "LayerTap":
        from repdyn.models.taps import LayerTap

        return LayerTap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
