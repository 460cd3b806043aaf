"""Plane predictions as the predictions job makes them (repdyn.drs.preds_job): memory format and precision.

Plane predictions in channels_last, in contiguous layout and under bfloat16 autocast are compared on a
width-2 ResNet with probes trained on real Fashion-MNIST.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repdyn.drs.agreement import nhwc_features, nhwc_weight, predict_planes
from repdyn.drs.probes import FeatureCache, train_probes
from repdyn.drs.selection import select_planes
from repdyn.models import build

# ---------------------------------------------------------------- plane predictions


@pytest.fixture(scope="module")
def setup(fmnist):
    torch.manual_seed(0)
    model = build("preact_resnet18", width=4, in_channels=fmnist.in_channels).eval()
    layers = model.analysed_layers
    with FeatureCache.build(model, layers, fmnist.train_images, fmnist.normalize, 100, None, "cpu") as cache:
        probes = train_probes(cache, fmnist.train_labels, 10, epochs=3, lr=1e-3, seed=0)
    planes = select_planes(fmnist.normalize(fmnist.train_images), fmnist.train_labels, 4, seed=0, resolution=12)
    return model, layers, probes, planes


def _agreement(a: dict, b: dict) -> float:
    return float(np.mean([np.mean(a[name] == b[name]) for name in a]))


def test_channels_last_agrees_with_contiguous_and_restores_the_model(setup):
    model, layers, probes, planes = setup
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.train()
    fast = predict_planes(model, layers, probes, planes, 100, "cpu", memory_format="channels_last")
    plain = predict_planes(model, layers, probes, planes, 100, "cpu", memory_format="contiguous")
    assert model.training  # mode restored
    for name, p in model.named_parameters():  # values and layout restored
        assert p.is_contiguous() and torch.equal(p, before[name]), name
    assert set(fast) == set(layers) and all(fast[n].shape == (4, 144) and fast[n].dtype == np.uint8 for n in layers)
    assert _agreement(fast, plain) > 0.99  # only float32 rounding of the convolutions differs
    with pytest.raises(ValueError, match="memory_format 'nhwc'"):
        predict_planes(model, layers, probes, planes, 100, "cpu", memory_format="nhwc")


def test_channels_last_features_use_a_reordered_weight_instead_of_a_copy():
    conv = torch.nn.Conv2d(3, 5, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = conv(x)
    view = nhwc_features(out)
    assert view is not None and view.data_ptr() == out.data_ptr()  # a view, no copy
    weight = torch.randn(10, 5 * 6 * 6)
    expected = out.reshape(4, -1) @ weight.T  # (C, H, W) order, as the probes were trained
    assert torch.allclose(view @ nhwc_weight(weight, (5, 6, 6)).T, expected, rtol=1e-5, atol=1e-5)
    assert nhwc_features(out.contiguous()) is None and nhwc_features(torch.randn(4, 7)) is None


def test_batch_size_and_prefetch_do_not_change_predictions(setup):
    """One batch per plane point set, or odd batches spanning planes: the same points in the same order."""
    model, layers, probes, planes = setup
    whole = predict_planes(model, layers, probes, planes, planes.num_points, "cpu")
    odd = predict_planes(model, layers, probes, planes, 37, "cpu")
    assert _agreement(whole, odd) > 0.99
    again = predict_planes(model, layers, probes, planes, 37, "cpu")
    assert all(np.array_equal(odd[n], again[n]) for n in layers)  # deterministic on CPU


def test_bf16_predictions_mostly_agree_with_float32(setup):
    model, layers, probes, planes = setup
    exact = predict_planes(model, layers, probes, planes, 100, "cpu")
    low = predict_planes(model, layers, probes, planes, 100, "cpu", autocast_dtype=torch.bfloat16)
    assert all(low[n].dtype == np.uint8 for n in layers)
    agreement = _agreement(exact, low)
    assert 0.8 < agreement <= 1.0, agreement
