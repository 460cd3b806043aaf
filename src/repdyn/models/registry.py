"""Architecture names, their analysed layers and build-setting checks, without torch (facts:
repdyn.models.architectures).

The Snakefile needs the layer lists at parse time (to name one output per
layer) and config validation needs the setting rules; importing torch there
would cost seconds per parse. So everything here is plain Python, and `build`
imports the torch-based constructors only when it is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from repdyn.config.integers import require_int
from repdyn.models.architectures import ARCHITECTURES as RECORDS
from repdyn.models.architectures import VIT_BLOCKS, VIT_PATCH, architecture

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

ARCHITECTURES: tuple[str, ...] = tuple(RECORDS)

VIT_PATCH_SIZE = VIT_PATCH
VIT_NUM_LAYERS = VIT_BLOCKS
VIT_INTERPOLATIONS: tuple[str, ...] = ("bilinear", "bicubic", "nearest", "nearest-exact", "area")

# Defaults of `build`; a non-default value for an architecture it does not
# apply to is an error (silently ignoring e.g. width=16 for resnet50 would
# train a different model than the config says).
DEFAULT_WIDTH = 64
DEFAULT_VIT_IMAGE_SIZE = 224
DEFAULT_VIT_INTERPOLATION = "bilinear"


def analysed_layers(name: str) -> list[str]:
    """Module names (as in `model.named_modules()`) of the paper's panels, in panel order."""
    return list(architecture(name).layers)


def layer_labels(name: str) -> dict[str, str]:
    """Human-readable panel titles keyed by analysed layer name."""
    return architecture(name).layer_labels


def run_layer_labels(model: Mapping[str, Any]) -> dict[str, str]:
    """Panel titles of a run's `model` settings: the architecture's labels, or an imported network's layer names."""
    if model["arch"] == "external":
        return {name: name for name in model["layers"]}
    return layer_labels(model["arch"])


def validate_build_settings(
    name: str,
    *,
    width: int = DEFAULT_WIDTH,
    in_channels: int = 3,
    num_classes: int = 10,
    image_size: int = 32,
    vit_image_size: int = DEFAULT_VIT_IMAGE_SIZE,
    vit_interpolation: str = DEFAULT_VIT_INTERPOLATION,
) -> None:
    """Raise ValueError naming the offending key when `build` would get a bad or inapplicable setting."""
    architecture(name)
    require_int("width", width, 1)
    require_int("in_channels", in_channels, 1)
    require_int("num_classes", num_classes, 2)
    require_int("image_size", image_size, 1)
    if name != "preact_resnet18" and width != DEFAULT_WIDTH:
        raise ValueError(
            f"width={width} applies only to preact_resnet18, not to {name!r} "
            f"(leave it at {DEFAULT_WIDTH}); allowed models for width: preact_resnet18"
        )
    if name == "vit_b_16":
        require_int("vit_image_size", vit_image_size, VIT_PATCH_SIZE)
        if vit_image_size % VIT_PATCH_SIZE:
            raise ValueError(
                f"vit_image_size must be a multiple of the patch size {VIT_PATCH_SIZE} (e.g. 32 or 224), "
                f"got {vit_image_size}"
            )
        if vit_interpolation not in VIT_INTERPOLATIONS:
            raise ValueError(
                f"vit_interpolation {vit_interpolation!r} is unknown; allowed values: {', '.join(VIT_INTERPOLATIONS)}"
            )
    else:
        if vit_image_size != DEFAULT_VIT_IMAGE_SIZE:
            raise ValueError(f"vit_image_size={vit_image_size!r} applies only to vit_b_16, not to {name!r}")
        if vit_interpolation != DEFAULT_VIT_INTERPOLATION:
            raise ValueError(f"vit_interpolation={vit_interpolation!r} applies only to vit_b_16, not to {name!r}")


def build(
    name: str,
    *,
    width: int = DEFAULT_WIDTH,
    in_channels: int = 3,
    num_classes: int = 10,
    image_size: int = 32,
    vit_image_size: int = DEFAULT_VIT_IMAGE_SIZE,
    vit_interpolation: str = DEFAULT_VIT_INTERPOLATION,
) -> torch.nn.Module:
    """Construct one of ARCHITECTURES with PyTorch/torchvision default initialisation.

    The result draws its initial weights from torch's global RNG, so
    `torch.manual_seed(s)` before `build` makes it reproducible. It exposes
    `analysed_layers`, `layer_labels` and `input_shape` (C, H, W of the images it is fed).
    """
    validate_build_settings(
        name,
        width=width,
        in_channels=in_channels,
        num_classes=num_classes,
        image_size=image_size,
        vit_image_size=vit_image_size,
        vit_interpolation=vit_interpolation,
    )
    if name == "preact_resnet18":
        from repdyn.models.preact_resnet import PreActResNet18

        model = PreActResNet18(width=width, in_channels=in_channels, num_classes=num_classes)
    elif name == "resnet50":
        from repdyn.models.resnet50 import ResNet50

        model = ResNet50(in_channels=in_channels, num_classes=num_classes)
    else:
        from repdyn.models.vit import ViTB16

        model = ViTB16(
            image_size=vit_image_size,
            in_channels=in_channels,
            num_classes=num_classes,
            interpolation=vit_interpolation,
        )
    model.input_shape = (in_channels, image_size, image_size)
    return model
