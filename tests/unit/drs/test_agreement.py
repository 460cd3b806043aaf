"""repdyn.drs.agreement: probe predictions on plane points and exact agreement counts (docs/algorithms.md §2.5).

Agreement counts are checked against direct numpy comparison (==) of random
predictions, including 200 classes and block tiles; plane predictions against
a point-by-point forward of the same network on a width-2 ResNet trained
probe-wise on real Fashion-MNIST.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.configs import FASHION_MNIST
from torch import nn

from repdyn.drs.agreement import (
    EXACT_POINTS_LIMIT,
    agreement_counts,
    drs_block,
    drs_matrix,
    predict_planes,
)
from repdyn.drs.planes import PlaneSet
from repdyn.drs.probes import FeatureCache, predict, train_probes
from repdyn.drs.selection import select_planes
from repdyn.models import LayerTap, build

FMNIST = FASHION_MNIST / "train-images-idx3-ubyte.gz"


def direct_counts(qi: np.ndarray, qj: np.ndarray) -> np.ndarray:
    return (qi[:, None, :] == qj[None, :, :]).sum(axis=2)


# ---------------------------------------------------------------- agreement counts


@pytest.mark.parametrize("num_classes", [2, 10, 200])
def test_counts_equal_direct_comparison(num_classes):
    rng = np.random.default_rng(num_classes)
    qi = rng.integers(0, num_classes, (5, 3001)).astype(np.uint8)
    qj = rng.integers(0, num_classes, (4, 3001)).astype(np.uint8)
    qj[0] = qi[2]  # one identical pair
    qj[1, :1500] = qi[0, :1500]  # and one half-identical
    counts = agreement_counts(qi, qj, num_classes)
    assert counts.dtype == np.int64 and counts.shape == (5, 4)
    assert np.array_equal(counts, direct_counts(qi, qj))
    assert counts[2, 0] == 3001


def test_tiles_reassemble_the_full_matrix():
    rng = np.random.default_rng(1)
    preds = rng.integers(0, 200, (9, 2, 250)).astype(np.uint8)  # (E, P, R²) as stored per epoch
    flat = preds.reshape(9, -1)
    full = drs_matrix(preds, 200)
    blocks = [slice(0, 4), slice(4, 7), slice(7, 9)]
    tiled = np.empty((9, 9))
    for bi in blocks:
        for bj in blocks:
            tiled[bi, bj] = drs_block(preds[bi], preds[bj], 200)
    assert np.array_equal(tiled, full)
    assert np.array_equal(full, direct_counts(flat, flat) / 500)


def test_chunked_equals_unchunked_exactly():
    rng = np.random.default_rng(2)
    qi = rng.integers(0, 7, (6, 1000)).astype(np.uint8)
    qj = rng.integers(0, 7, (3, 1000)).astype(np.uint8)
    whole = agreement_counts(qi, qj, 7, chunk_points=1000)
    assert np.array_equal(agreement_counts(qi, qj, 7, chunk_points=13), whole)
    assert np.array_equal(agreement_counts(qi, qj, 7, max_chunk_bytes=1), whole)  # forces one point per chunk
    with pytest.raises(ValueError, match="chunk_points"):
        agreement_counts(qi, qj, 7, chunk_points=EXACT_POINTS_LIMIT)


def test_counts_stay_exact_beyond_float32_integer_range():
    """2^24 + 3 agreeing points: a single float32 product would round the count; chunks keep it exact."""
    n = EXACT_POINTS_LIMIT + 3
    ones = np.ones(n, dtype=np.float32)
    assert float(ones @ ones) != n  # the hazard that chunking avoids
    q = np.zeros((1, n), dtype=np.uint8)
    assert agreement_counts(q, q, 1, chunk_points=2**22)[0, 0] == n


def test_bad_predictions_are_rejected():
    q = np.zeros((2, 10), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"Q_J holds classes outside \[0, 10\)"):
        agreement_counts(q, np.full((2, 10), 10, dtype=np.uint8), 10)
    with pytest.raises(ValueError, match="same points"):
        agreement_counts(q, q[:, :5], 10)
    with pytest.raises(ValueError, match="integer array"):
        agreement_counts(q.astype(np.float32), q, 10)


# ---------------------------------------------------------------- plane predictions


@pytest.fixture(scope="module")
def model(fmnist) -> nn.Module:
    torch.manual_seed(0)
    return build("preact_resnet18", width=2, in_channels=fmnist.in_channels)


@pytest.fixture(scope="module")
def planes(fmnist) -> PlaneSet:
    return select_planes(fmnist.normalize(fmnist.train_images), fmnist.train_labels, 3, seed=0, resolution=6)


@pytest.fixture(scope="module")
def epoch_probes(model, fmnist) -> list[dict]:
    """Three "epochs": probes after 1, 1 (same seed) and 3 probe epochs."""
    layers, images = model.analysed_layers, fmnist.train_images
    with FeatureCache.build(model, layers, images, fmnist.normalize, 100, None, "cpu") as cache:
        return [
            train_probes(cache, fmnist.train_labels, 10, epochs=e, lr=1e-3, seed=s) for e, s in [(1, 0), (1, 0), (3, 1)]
        ]


@pytest.fixture(scope="module")
def epoch_preds(model, planes, epoch_probes) -> list[dict]:
    """Each epoch's plane predictions, one plane per batch."""
    return [
        predict_planes(model, model.analysed_layers, pr, planes, planes.points_per_plane, "cpu") for pr in epoch_probes
    ]


def test_plane_predictions_match_pointwise_forward(model, planes, epoch_probes, epoch_preds):
    layers = model.analysed_layers
    probes, preds = epoch_probes[2], epoch_preds[2]
    assert set(preds) == set(layers)
    model.eval()
    with torch.no_grad(), LayerTap(model, layers) as tap:
        for p in range(planes.num_planes):
            model(torch.from_numpy(planes.plane(p).points().astype(np.float32)))
            for name in layers:
                w, b = probes[name]
                assert preds[name].dtype == np.uint8 and preds[name].shape == (3, 36)
                assert np.array_equal(preds[name][p], predict(w, b, tap.outputs[name]).numpy()), (name, p)
    other_batches = predict_planes(model, layers, probes, planes, batch_size=50, device="cpu")
    agree = np.mean([np.mean(other_batches[n] == preds[n]) for n in layers])
    assert agree > 0.99  # batch composition may only flip exact near-ties


def test_conv1_features_are_affine_in_plane_coordinates(model, planes):
    """The stem conv has no bias: conv1(x0 + c1 d1 + c2 d2) = conv1(x0) + c1 conv1(d1) + c2 conv1(d2)."""
    conv = nn.Conv2d(1, model.conv1.out_channels, 3, padding=1, bias=False).double()
    conv.weight.data.copy_(model.conv1.weight.data.double())
    p = 1
    basis = torch.from_numpy(np.stack([planes.anchors[p], planes.direction1[p], planes.direction2[p]]))
    with torch.no_grad():
        f0, f1, f2 = conv(basis)
        points = [batch for q, _, batch in planes.iter_points(batch_size=36) if q == p][0]
        feats = conv(points.double())
    c = torch.from_numpy(planes.coefs[p])
    expected = f0 + c[:, 0, None, None, None] * f1 + c[:, 1, None, None, None] * f2
    scale = float(feats.abs().max())
    assert torch.allclose(feats, expected, atol=1e-5 * scale, rtol=0)  # float32 rounding of the points only


def test_drs_matrix_of_real_predictions(model, epoch_preds):
    for name in model.analysed_layers:
        stacked = np.stack([p[name] for p in epoch_preds])  # (E, P, R²)
        drs = drs_matrix(stacked, 10)
        assert drs.dtype == np.float64 and drs.shape == (3, 3)
        assert np.all(np.diag(drs) == 1.0)
        assert np.array_equal(drs, drs.T)
        assert np.all((drs >= 0) & (drs <= 1))
        assert drs[0, 1] == 1.0  # same seed, same probe, same predictions
        per_plane = (stacked[0] == stacked[2]).mean(axis=1)  # mean of per-plane agreement fractions
        assert drs[0, 2] == pytest.approx(per_plane.mean(), abs=1e-15)


def test_predict_planes_checks_its_inputs(model, planes, epoch_probes, fmnist):
    probes = epoch_probes[0]
    with pytest.raises(ValueError, match="missing layers"):
        predict_planes(model, ["conv1", "linear"], {"linear": probes["linear"]}, planes, 36, "cpu")
    wrong = build("preact_resnet18", width=2, in_channels=3)
    with pytest.raises(ValueError, match="model expects"):
        predict_planes(wrong, ["linear"], probes, planes, 36, "cpu")
    pooled = predict_planes(
        model, ["layer2"], {"layer2": (torch.zeros(10, 4), torch.arange(10.0))}, planes, 36, "cpu", pooling="avg"
    )
    assert np.all(pooled["layer2"] == 9)  # bias alone decides: the largest logit is class 9
    with pytest.raises(ValueError, match="predict needs features"):  # probe trained with another pooling
        predict_planes(model, ["layer2"], {"layer2": (torch.zeros(10, 4), torch.zeros(10))}, planes, 36, "cpu")
