"""Architectures (docs/algorithms.md §4): parameter counts, layer shapes, peer naming, the registry's build."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import repdyn
from repdyn.models import ARCHITECTURES, LayerTap, analysed_layers, build, layer_labels

N = 2  # batch size for forward passes


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tapped_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    with torch.no_grad(), LayerTap(model, model.analysed_layers, flatten=False) as tap:
        model(x)
        return [tuple(t.shape) for t in tap.outputs.values()]


@pytest.fixture(scope="module")
def vit32() -> nn.Module:
    torch.manual_seed(0)
    return build("vit_b_16", vit_image_size=32).eval()


@pytest.fixture(scope="module")
def resnet50() -> nn.Module:
    torch.manual_seed(0)
    return build("resnet50").eval()


# --- parameter counts -------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 8, 16, 64])
def test_preact_parameter_count_follows_formula(k: int) -> None:
    assert n_params(build("preact_resnet18", width=k)) == 2724 * k * k + 213 * k + 10


def test_preact_k64_parameter_count_is_peer_value() -> None:
    assert n_params(build("preact_resnet18")) == 11_171_146


def test_resnet50_parameter_count(resnet50: nn.Module) -> None:
    assert n_params(resnet50) == 23_520_842


def test_vit_parameter_counts(vit32: nn.Module) -> None:
    vit224 = build("vit_b_16")
    assert n_params(vit224) == 85_806_346
    # 32x32 differs only by the position embedding: 5 instead of 197 tokens.
    assert vit32.encoder.pos_embedding.shape == (1, 5, 768)
    assert n_params(vit32) == 85_806_346 - (197 - 5) * 768 == 85_658_890


def test_vit_is_torchvision_vit_b_16(vit32: nn.Module) -> None:
    from torchvision.models import vit_b_16

    torch.manual_seed(0)
    reference = vit_b_16(weights=None, image_size=32, num_classes=10)
    ours, theirs = vit32.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[key], theirs[key]) for key in ours)


def test_vit_with_one_channel_replaces_only_the_patch_embedding() -> None:
    vit = build("vit_b_16", in_channels=1, vit_image_size=32)
    assert vit.conv_proj.weight.shape == (768, 1, 16, 16)
    assert n_params(vit) == 85_658_890 - 2 * 16 * 16 * 768
    with torch.no_grad(), LayerTap(vit, ["encoder.layers.encoder_layer_11"]) as tap:
        vit(torch.randn(N, 1, 28, 28))
    assert tap.outputs["encoder.layers.encoder_layer_11"].shape == (N, 5 * 768)


# --- analysed-layer shapes ----------------------------------------------------------------------


@pytest.mark.parametrize(("in_channels", "side"), [(3, 32), (1, 28)])
def test_preact_layer_shapes(in_channels: int, side: int) -> None:
    k = 4
    model = build("preact_resnet18", width=k, in_channels=in_channels, image_size=side)
    s = [side, -(-side // 2), -(-side // 4), -(-side // 8)]  # stride-2 3x3 convs with padding 1 round up
    expected = [
        (N, k, s[0], s[0]),
        (N, k, s[0], s[0]),
        (N, 2 * k, s[1], s[1]),
        (N, 4 * k, s[2], s[2]),
        (N, 8 * k, s[3], s[3]),
        (N, 10),
    ]
    assert tapped_shapes(model, torch.randn(N, in_channels, side, side)) == expected
    assert expected[-2][-1] == 4  # both 32 and 28 end at 4x4 before pooling


def test_resnet50_layer_shapes(resnet50: nn.Module) -> None:
    expected = [(N, 64, 32, 32), (N, 256, 32, 32), (N, 512, 16, 16), (N, 1024, 8, 8), (N, 2048, 4, 4), (N, 10)]
    assert tapped_shapes(resnet50, torch.randn(N, 3, 32, 32)) == expected


def test_vit_layer_shapes(vit32: nn.Module) -> None:
    expected = [(N, 768, 2, 2), *[(N, 5, 768)] * 12, (N, 10)]
    assert tapped_shapes(vit32, torch.randn(N, 3, 32, 32)) == expected


def test_vit_head_is_zero_initialised(vit32: nn.Module) -> None:
    with torch.no_grad():
        logits = vit32(torch.randn(N, 3, 32, 32))
    assert logits.shape == (N, 10)
    assert torch.count_nonzero(logits) == 0


def test_vit_resizes_inputs_bilinearly(vit32: nn.Module) -> None:
    x = torch.randn(N, 3, 28, 28)
    resized = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    layer = "encoder.layers.encoder_layer_3"
    with torch.no_grad(), LayerTap(vit32, [layer]) as tap:
        vit32(x)
        from_small = tap.outputs[layer]
        vit32(resized)
        from_resized = tap.outputs[layer]
    torch.testing.assert_close(from_small, from_resized, rtol=0, atol=0)


# --- peer structure of the pre-activation ResNet ------------------------------------------------


def test_preact_state_dict_uses_kuangliu_names() -> None:
    model = build("preact_resnet18")
    keys = set(model.state_dict())
    for key in [
        "conv1.weight",
        "layer1.0.bn1.weight",
        "layer1.0.bn1.running_mean",
        "layer1.1.conv2.weight",
        "layer2.0.shortcut.0.weight",
        "layer4.1.bn2.bias",
        "linear.weight",
        "linear.bias",
    ]:
        assert key in keys
    assert not any(key.startswith("bn") for key in keys)  # no final BN after layer4
    # Identity shortcuts have no module, as in kuangliu (no `shortcut` attribute there).
    modules = dict(model.named_modules())
    assert "layer1.0.shortcut" not in modules and "layer2.1.shortcut" not in modules
    assert isinstance(modules["layer3.0.shortcut"][0], nn.Conv2d)
    assert modules["layer3.0.shortcut"][0].kernel_size == (1, 1) and modules["layer3.0.shortcut"][0].bias is None
    assert len(modules["layer3.0.shortcut"]) == 1  # no BN in the shortcut


def test_preact_shortcut_takes_the_preactivated_input() -> None:
    torch.manual_seed(1)
    block = build("preact_resnet18", width=4).layer2[0].eval()
    x = torch.randn(N, 4, 8, 8)  # has negative entries, so relu(bn(x)) != x
    with torch.no_grad():
        u = F.relu(block.bn1(x))
        branch = block.conv2(F.relu(block.bn2(block.conv1(u))))
        actual = block(x)
        torch.testing.assert_close(actual, branch + block.shortcut(u))
        assert not torch.allclose(actual, branch + block.shortcut(x), atol=1e-3)


def test_preact_stem_and_head_have_no_bn_relu() -> None:
    model = build("preact_resnet18", width=4).eval()
    x = torch.randn(N, 3, 32, 32)
    with torch.no_grad(), LayerTap(model, ["conv1", "layer4", "linear"], flatten=False) as tap:
        model(x)
    with torch.no_grad():  # direct submodule calls outside the tap (inside, they would fire twice)
        torch.testing.assert_close(tap.outputs["conv1"], model.conv1(x))
        assert (tap.outputs["conv1"] < 0).any()  # no ReLU after the stem
        pooled = tap.outputs["layer4"].mean(dim=(2, 3))
        assert (pooled < 0).any()  # stage outputs are pre-activation sums
        torch.testing.assert_close(tap.outputs["linear"], model.linear(pooled))


# --- registry and build -------------------------------------------------------------------------


def test_analysed_layers_match_built_models(resnet50: nn.Module, vit32: nn.Module) -> None:
    built = {"preact_resnet18": build("preact_resnet18", width=2), "resnet50": resnet50, "vit_b_16": vit32}
    assert set(built) == set(ARCHITECTURES)
    for name, model in built.items():
        assert analysed_layers(name) == model.analysed_layers
        assert list(model.layer_labels) == model.analysed_layers == list(layer_labels(name))
        assert set(model.analysed_layers) <= dict(model.named_modules()).keys()
    assert analysed_layers("preact_resnet18") == ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]
    assert analysed_layers("vit_b_16")[1] == "encoder.layers.encoder_layer_0"
    assert analysed_layers("vit_b_16")[-1] == "heads.head" and len(analysed_layers("vit_b_16")) == 14
    assert layer_labels("resnet50")["layer3"] == "block 3" and layer_labels("vit_b_16")["heads.head"] == "last FC"


@pytest.mark.parametrize(
    ("name", "kwargs", "key"),
    [
        ("resnet18", {}, "model name"),
        ("preact_resnet18", {"width": 0}, "width"),
        ("preact_resnet18", {"in_channels": 0}, "in_channels"),
        ("preact_resnet18", {"num_classes": 1}, "num_classes"),
        ("preact_resnet18", {"image_size": 0}, "image_size"),
        ("resnet50", {"width": 32}, "width"),
        ("resnet50", {"vit_image_size": 32}, "vit_image_size"),
        ("preact_resnet18", {"vit_interpolation": "bicubic"}, "vit_interpolation"),
        ("vit_b_16", {"vit_image_size": 40}, "vit_image_size"),
        ("vit_b_16", {"vit_interpolation": "cubic"}, "vit_interpolation"),
        ("vit_b_16", {"width": 16}, "width"),
    ],
)
def test_build_rejects_bad_settings_naming_the_key(name: str, kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        build(name, **kwargs)


def test_unknown_name_error_lists_allowed_values() -> None:
    with pytest.raises(ValueError, match="preact_resnet18, resnet50, vit_b_16"):
        analysed_layers("vgg")


def test_build_is_deterministic_under_manual_seed() -> None:
    def state(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build("preact_resnet18", width=4).state_dict()

    first, again, other = state(3), state(3), state(4)
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["conv1.weight"], other["conv1.weight"])


def test_importing_models_does_not_import_torch() -> None:
    code = (
        "import sys, repdyn.models as m; "
        "assert 'torch' not in sys.modules; "
        "assert m.analysed_layers('resnet50')[0] == 'conv1'; "
        "assert 'torch' not in sys.modules"
    )
    src = os.path.dirname(os.path.dirname(repdyn.__file__))  # the tree under test, not an installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
