"""Capture named modules' outputs during a forward pass with forward hooks.

Unlike torch-cka, a module that fires twice in one forward is an error rather
than silently keeping the last output: for a reused module "its output" is
ambiguous and the CKA would be computed on the wrong tensor. Outputs are reset
at the start of every forward of the tapped model, so a long loop over batches
holds one batch of activations at a time.
"""

from __future__ import annotations

from types import TracebackType

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


class LayerTap:
    """Context manager: while active, `outputs` maps each tapped name to its latest forward's output.

    `flatten` reshapes each output to (n, p), row-major (n, C*H*W) / (n, T*D);
    `detach` cuts it from the autograd graph (keep False to backpropagate
    through captured activations). Captured tensors are views, not copies.
    """

    def __init__(self, model: nn.Module, names: list[str], flatten: bool = True, detach: bool = True) -> None:
        names = list(names)
        if not names:
            raise ValueError("names must list at least one module to tap")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"names lists these modules more than once: {duplicates}")
        modules = dict(model.named_modules())
        unknown = [n for n in names if n not in modules]
        if unknown:
            valid = getattr(model, "analysed_layers", None)
            hint = f"valid analysed layers: {valid}" if valid else "see model.named_modules() for valid names"
            raise ValueError(f"unknown module name(s) {unknown}; {hint}")
        self.model = model
        self.names = names
        self.flatten = flatten
        self.detach = detach
        self._modules = {n: modules[n] for n in names}
        self._captured: dict[str, torch.Tensor] = {}
        self._handles: list[RemovableHandle] = []

    @property
    def outputs(self) -> dict[str, torch.Tensor]:
        """Captured outputs in the order of `names` (a name whose module has not fired is absent)."""
        return {n: self._captured[n] for n in self.names if n in self._captured}

    def clear(self) -> None:
        """Drop captured outputs (needed only between forwards that bypass the model's own forward)."""
        self._captured.clear()

    def __enter__(self) -> LayerTap:
        if self._handles:
            raise RuntimeError("this LayerTap is already active; it cannot be entered twice")
        try:
            self._handles.append(self.model.register_forward_pre_hook(self._on_model_forward))
            for name, module in self._modules.items():
                self._handles.append(module.register_forward_hook(self._make_hook(name)))
        except BaseException:
            self._remove_hooks()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _on_model_forward(self, module: nn.Module, args: tuple) -> None:
        self._captured.clear()

    def _make_hook(self, name: str):
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            if name in self._captured:
                raise RuntimeError(
                    f"module {name!r} fired twice in one forward; its output is ambiguous "
                    "(call tap.clear() between forwards that do not go through the tapped model's forward)"
                )
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"module {name!r} returned {type(output).__name__}, not a tensor; it cannot be tapped")
            tensor = output.detach() if self.detach else output
            if self.flatten:
                tensor = tensor.reshape(tensor.shape[0], -1)
            self._captured[name] = tensor

        return hook
