"""Fast plane evaluation: memory format, background point generation, `drs.precision`, symmetric CKA tiles.

Plane predictions in channels_last, in contiguous layout and under bfloat16 autocast are compared on a
width-2 ResNet with probes trained on real Fashion-MNIST; the symmetric Gram product against a float64
product and, through torch's FLOP counter, for doing about half the arithmetic.
"""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch
from support.configs import tiny_raw
from torch.utils.flop_counter import FlopCounterMode

from repdyn import config, plan
from repdyn.cka import tiles
from repdyn.drs.agreement import nhwc_features, nhwc_weight, predict_planes
from repdyn.drs.preds_job import autocast_dtype_of
from repdyn.drs.prefetch import prefetch
from repdyn.drs.probes import FeatureCache, train_probes
from repdyn.drs.selection import select_planes
from repdyn.models import build

# ---------------------------------------------------------------- ids


def _preds_and_drs_ids(raw: dict) -> tuple[str, str]:
    exp = plan.build(config.resolve(raw)).experiments[0]
    return exp.drs.preds.id, exp.drs.id


def test_float32_keeps_the_ids_from_before_the_setting_existed():
    """Pinned: the ids main computed for this config at commit 18f3db0, before `drs.precision` and
    `probe.min_steps` existed (min_steps 0, epochs only, adds no setting either)."""
    raw = tiny_raw()
    raw["defaults"]["probe"]["min_steps"] = 0
    assert _preds_and_drs_ids(raw) == ("594579b2d6cc", "3f1e981fd404")
    explicit = copy.deepcopy(raw)
    explicit["defaults"].setdefault("drs", {})["precision"] = "float32"
    assert _preds_and_drs_ids(explicit) == _preds_and_drs_ids(raw)


def test_bf16_changes_exactly_the_plane_predictions_and_drs_ids():
    raw, other = tiny_raw(), tiny_raw()
    other["defaults"].setdefault("drs", {})["precision"] = "bf16"
    before = plan.build(config.resolve(raw)).experiments[0]
    after = plan.build(config.resolve(other)).experiments[0]
    assert after.drs.preds.spec["settings"] == {"precision": "bf16"}
    assert after.drs.preds.id != before.drs.preds.id and after.drs.id != before.drs.id
    assert after.drs.preds.probe.id == before.drs.preds.probe.id
    assert after.drs.preds.planes.id == before.drs.preds.planes.id
    assert after.cka.id == before.cka.id


def test_unknown_precision_is_rejected():
    raw = tiny_raw()
    raw["defaults"].setdefault("drs", {})["precision"] = "fp16"
    with pytest.raises(Exception, match="precision"):
        config.resolve(raw)
    with pytest.raises(ValueError, match="drs.precision 'fp16'"):
        autocast_dtype_of("fp16")
    assert autocast_dtype_of("float32") is None and autocast_dtype_of("bf16") is torch.bfloat16


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


# ---------------------------------------------------------------- prefetch


def test_prefetch_yields_every_item_in_order():
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))
    pinned = list(prefetch(((i, torch.full((2,), i)) for i in range(3)), pin=False))
    assert [int(t[0]) for _, t in pinned] == [0, 1, 2]


def test_prefetch_raises_the_producers_error_and_stops_when_left_early():
    def failing():
        yield 1
        raise KeyError("broken batch")

    with pytest.raises(KeyError, match="broken batch"):
        list(prefetch(failing()))
    threads = threading.active_count()
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = prefetch(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer leaves: the producer must stop and its thread end
    assert threading.active_count() == threads
    assert len(produced) <= 4
    with pytest.raises(ValueError, match="depth"):
        list(prefetch(iter([1]), depth=0))


# ---------------------------------------------------------------- symmetric tiles


@pytest.mark.parametrize("rows", [1, 5, 77, 256, 333])
@pytest.mark.parametrize("accumulate", ["float64", "chunked_float32"])
def test_symmetric_products_equal_the_general_product(rows, accumulate):
    g = torch.from_numpy(np.random.default_rng(rows).standard_normal((rows, 3000)).astype(np.float32))
    got = tiles.symmetric_products(g, accumulate, chunk=1000)
    reference = g.double() @ g.double().T
    assert torch.equal(got, got.T)
    tolerance = 1e-12 if accumulate == "float64" else 1e-6
    assert float((got - reference).abs().max() / reference.abs().max()) <= tolerance
    general = tiles.tile_products(g, g, accumulate, chunk=1000)
    assert float((got - general).abs().max() / reference.abs().max()) <= tolerance


def test_diagonal_tile_does_about_half_the_arithmetic_of_a_general_tile():
    g = torch.randn(1024, 512)  # 8 row blocks of 128: (8 + 1) / (2 * 8) of the general product's flops
    with FlopCounterMode(display=False) as symmetric:
        diagonal = tiles.diagonal_tile_cka(g)
    with FlopCounterMode(display=False) as general:
        products = tiles.tile_products(g, g)
    assert symmetric.get_total_flops() <= 0.57 * general.get_total_flops()
    full = tiles.cka_from_products(products, products.diagonal().clone(), products.diagonal().clone())
    assert torch.all(diagonal.diagonal() == 1.0) and torch.equal(diagonal, diagonal.T)
    assert float((diagonal - full).abs().max()) <= 1e-13
