"""repdyn.models.taps: LayerTap flattens the analysed layers' outputs in order and leaves no hook behind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repdyn.models import LayerTap, build

N = 2  # batch size for forward passes


class _Twice(nn.Module):
    """Uses one module twice in a forward: its output is ambiguous."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(self.lin(x))


def test_tap_flattens_row_major_in_the_order_of_names() -> None:
    model = build("preact_resnet18", width=2).eval()
    names = ["linear", "layer2", "conv1"]  # not execution order
    x = torch.randn(N, 3, 32, 32)
    with torch.no_grad():
        with LayerTap(model, names, flatten=False) as raw:
            model(x)
        with LayerTap(model, names) as flat:
            model(x)
    assert list(flat.outputs) == names
    for name in names:
        assert flat.outputs[name].shape == (N, raw.outputs[name][0].numel())
        torch.testing.assert_close(flat.outputs[name], raw.outputs[name].reshape(N, -1), rtol=0, atol=0)
    # row-major: channel slowest, then height, then width
    assert flat.outputs["layer2"][1, 3 * 16 * 16 + 5 * 16 + 7] == raw.outputs["layer2"][1, 3, 5, 7]


def test_tap_unknown_layer_lists_analysed_layers() -> None:
    model = build("preact_resnet18", width=1)
    with pytest.raises(ValueError, match="layer5") as err:
        LayerTap(model, ["conv1", "layer5"])
    assert "layer4" in str(err.value) and "linear" in str(err.value)


def test_tap_rejects_a_module_that_fires_twice() -> None:
    model = _Twice()
    with pytest.raises(RuntimeError, match="'lin' fired twice"):
        with LayerTap(model, ["lin"]):
            model(torch.randn(N, 3))
    assert _all_hooks(model) == 0  # removed although the forward raised


def test_tap_removes_hooks_on_exit_and_resets_per_forward() -> None:
    model = build("preact_resnet18", width=1)
    names = model.analysed_layers
    x1, x2 = torch.randn(N, 3, 32, 32), torch.randn(N, 3, 32, 32)
    with LayerTap(model, names) as tap:
        assert _all_hooks(model) == len(names) + 1  # one per layer, one resetting pre-hook on the model
        model(x1)
        model(x2)  # a second forward replaces the first one's outputs instead of raising
        second = tap.outputs
        with pytest.raises(RuntimeError, match="fired twice"):
            model.conv1(x2)  # a direct submodule call does not reset the tap ...
        tap.clear()  # ... so the caller clears explicitly
        assert tap.outputs == {}
        model.conv1(x2)  # after clear() capturing works again
    assert _all_hooks(model) == 0
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    expected = model.conv1(x2).detach().reshape(N, -1)
    torch.testing.assert_close(second["conv1"], expected)
    assert list(second) == names and not second["conv1"].requires_grad
    model(x1)  # once exited nothing is captured: outputs stay those of the last tapped call
    assert list(tap.outputs) == ["conv1"]
    torch.testing.assert_close(tap.outputs["conv1"], expected)


def test_tap_without_detach_keeps_the_graph() -> None:
    model = build("preact_resnet18", width=1)
    with LayerTap(model, ["layer1"], detach=False) as tap:
        model(torch.randn(N, 3, 32, 32))
    tap.outputs["layer1"].sum().backward()
    assert model.conv1.weight.grad is not None and model.conv1.weight.grad.abs().sum() > 0


def _all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
