"""repdyn.drs.planes: plane geometry (docs/algorithms.md §2.2–2.3), triplet selection (docs/algorithms.md §2.4),
PlaneSet storage and point batches.

Geometry is checked on real Fashion-MNIST triplets by projecting the anchors
onto the basis, and on synthetic triplets with a known answer (a plane built
from chosen orthonormal vectors, including β₁ < 0 and β₁ > |a|).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.configs import FASHION_MNIST

from repdyn.drs.planes import DEGENERACY_RTOL, Plane, PlaneSet
from repdyn.drs.selection import select_planes, select_triplets

FMNIST = FASHION_MNIST / "train-images-idx3-ubyte.gz"
needs_fmnist = pytest.mark.skipif(not FMNIST.is_file(), reason="Fashion-MNIST (dataset-fashion-mnist) not installed")


@pytest.fixture(scope="session")
def images(fmnist) -> torch.Tensor:
    return fmnist.normalize(fmnist.train_images)


def synthetic_triplet(norm_a: float, beta1: float, beta2: float, shape=(3, 4, 5), seed=0):
    """x0 = s, x1 = s + |a| u, x2 = s + β₁ u + β₂ v for random orthonormal u, v: the plane's answer is known."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((int(np.prod(shape)), 2)))
    u, v = q[:, 0].reshape(shape), q[:, 1].reshape(shape)
    s = rng.standard_normal(shape)
    return (s, s + norm_a * u, s + beta1 * u + beta2 * v), u, v


# ---------------------------------------------------------------- geometry


@needs_fmnist
def test_real_anchors_project_to_their_plane_coordinates(images):
    x0, x1, x2 = images[3], images[35], images[162]
    plane = Plane.from_triplet(x0, x1, x2, resolution=7)
    d1, d2 = plane.direction1, plane.direction2
    assert isinstance(d1, torch.Tensor) and d1.dtype == torch.float64 and d1.shape == x0.shape
    a, b = x1.double() - x0.double(), x2.double() - x0.double()
    (c00, c01), (c10, c11), (c20, c21) = plane.anchor_coords
    assert (c00, c01) == (0.0, 0.0)
    assert c10 == pytest.approx(float(a.norm()), rel=1e-12) and c11 == 0.0
    assert float((a * d1).sum()) == pytest.approx(c10, rel=1e-12)
    assert abs(float((a * d2).sum())) < 1e-10 * c10
    assert float((b * d1).sum()) == pytest.approx(c20, rel=1e-12, abs=1e-12)
    assert float((b * d2).sum()) == pytest.approx(c21, rel=1e-12)
    rebuilt = x0.double() + c20 * d1 + c21 * d2  # x2 lies in the plane
    assert torch.allclose(rebuilt, x2.double(), atol=1e-9)


@needs_fmnist
def test_directions_orthonormal_to_float64_precision(images):
    for i, j, k in [(3, 35, 162), (53, 8, 15), (170, 127, 102)]:
        plane = Plane.from_triplet(images[i].numpy(), images[j].numpy(), images[k].numpy(), resolution=3)
        d1, d2 = plane.direction1.ravel(), plane.direction2.ravel()
        assert isinstance(plane.direction1, np.ndarray) and plane.direction1.dtype == np.float64
        assert abs(d1 @ d2) < 1e-12
        assert abs(np.linalg.norm(d1) - 1) < 1e-12 and abs(np.linalg.norm(d2) - 1) < 1e-12


@pytest.mark.parametrize("beta1", [-1.5, 1.2, 5.0])  # left of x0, between, right of x1
def test_known_plane_coordinates_and_margins(beta1):
    norm_a, beta2, rho_l, rho_r, res = 3.0, 2.0, 0.1, 0.25, 11
    (x0, x1, x2), u, v = synthetic_triplet(norm_a, beta1, beta2)
    plane = Plane.from_triplet(x0, x1, x2, resolution=res, range_l=rho_l, range_r=rho_r)
    np.testing.assert_allclose(plane.anchor_coords, [[0, 0], [norm_a, 0], [beta1, beta2]], atol=1e-12)
    np.testing.assert_allclose(plane.direction1, u, atol=1e-12)
    np.testing.assert_allclose(plane.direction2, v, atol=1e-12)
    x_lo, x_hi = min(0.0, norm_a, beta1), max(0.0, norm_a, beta1)
    length1, length2 = x_hi - x_lo, beta2
    axis1 = np.unique(plane.coefs[:, 0])
    axis2 = np.unique(plane.coefs[:, 1])
    assert axis1.size == res and axis2.size == res
    assert axis1[0] == pytest.approx(x_lo - rho_l * length1, abs=1e-12)
    assert axis1[-1] == pytest.approx(x_hi + rho_r * length1, abs=1e-12)
    assert axis2[0] == pytest.approx(-rho_l * length2, abs=1e-12)
    assert axis2[-1] == pytest.approx(beta2 + rho_r * length2, abs=1e-12)
    np.testing.assert_allclose(np.diff(axis1), (axis1[-1] - axis1[0]) / (res - 1), rtol=1e-9)


def test_grid_is_ij_ordered_with_r_squared_points():
    (x0, x1, x2), _, _ = synthetic_triplet(2.0, 0.7, 1.3)
    res = 6
    plane = Plane.from_triplet(x0, x1, x2, resolution=res)
    assert plane.coefs.shape == (res * res, 2) and plane.num_points == res * res
    assert plane.coefs[1, 0] == plane.coefs[0, 0] and plane.coefs[1, 1] != plane.coefs[0, 1]
    assert plane.coefs[res, 0] != plane.coefs[0, 0] and plane.coefs[res, 1] == plane.coefs[0, 1]
    grid = plane.coefs.reshape(res, res, 2)
    assert np.all(grid[:, :, 0] == grid[:, :1, 0]) and np.all(grid[:, :, 1] == grid[:1, :, 1])
    assert plane.points().shape == (res * res, *x0.shape)


@needs_fmnist
def test_points_are_affine_combinations(images):
    x0, x1, x2 = images[53], images[8], images[15]
    plane = Plane.from_triplet(x0, x1, x2, resolution=9)
    idx = np.array([0, 5, 40, 80, 17])
    pts = plane.points(idx)
    assert isinstance(pts, torch.Tensor) and pts.dtype == torch.float64 and pts.shape == (5, *x0.shape)
    for row, k in zip(pts, idx):
        c1, c2 = plane.coefs[k]
        expected = x0.double() + c1 * plane.direction1 + c2 * plane.direction2
        assert torch.allclose(row, expected, rtol=0, atol=1e-12)
    assert torch.equal(plane.points()[idx], pts)
    with pytest.raises(ValueError, match="point indices"):
        plane.points([81])


def test_degenerate_triplets_are_rejected():
    (x0, x1, _), _, _ = synthetic_triplet(2.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="x1 equals x0"):
        Plane.from_triplet(x0, x0.copy(), x1)
    with pytest.raises(ValueError, match="line through x0 and x1"):
        Plane.from_triplet(x0, x1, x0.copy())
    with pytest.raises(ValueError, match="line through x0 and x1"):
        Plane.from_triplet(x0, x1, x0 + 2.5 * (x1 - x0))
    # collinear in exact arithmetic, rounded to float32: still rejected
    f32 = [np.float32(x) for x in (x0, x1, x0 + 0.3 * (x1 - x0))]
    with pytest.raises(ValueError, match="line through x0 and x1"):
        Plane.from_triplet(*f32)
    # a genuine plane just above the tolerance is accepted
    (y0, y1, y2), _, _ = synthetic_triplet(1.0, 0.5, 100 * DEGENERACY_RTOL)
    Plane.from_triplet(y0, y1, y2)


def test_bad_arguments_name_the_problem():
    (x0, x1, x2), _, _ = synthetic_triplet(2.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="resolution"):
        Plane.from_triplet(x0, x1, x2, resolution=1)
    with pytest.raises(ValueError, match="range_l"):
        Plane.from_triplet(x0, x1, x2, range_l=-0.1)
    with pytest.raises(ValueError, match="same shape"):
        Plane.from_triplet(x0, x1, x2[:2])
    with pytest.raises(ValueError, match="NaN"):
        Plane.from_triplet(x0, x1, np.full_like(x2, np.nan))


# ---------------------------------------------------------------- triplets


@needs_fmnist
def test_select_triplets_pairwise_different_labels_and_deterministic(fmnist):
    labels = fmnist.train_labels.numpy()
    triplets = select_triplets(labels, 50, seed=7)
    assert triplets.shape == (50, 3) and triplets.dtype == np.int64
    assert triplets.min() >= 0 and triplets.max() < labels.size
    lab = labels[triplets]
    assert np.all((lab[:, 0] != lab[:, 1]) & (lab[:, 0] != lab[:, 2]) & (lab[:, 1] != lab[:, 2]))
    assert np.array_equal(triplets, select_triplets(fmnist.train_labels, 50, seed=7))
    assert not np.array_equal(triplets, select_triplets(labels, 50, seed=8))
    with pytest.raises(ValueError, match="3 distinct classes"):
        select_triplets(np.array([0, 1, 0, 1]), 2, seed=0)


def test_select_planes_redraws_degenerate_triplets():
    """Classes 0 and 1 share one image, so any triplet holding both is degenerate and must be replaced."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 10)
    images = rng.standard_normal((40, 1, 4, 4))
    images[labels <= 1] = images[0]
    count = 30
    planes = select_planes(images, labels, count, seed=3, resolution=4)
    stream = select_triplets(labels, 10 * count, seed=3)  # the same generator stream, longer
    bad = lambda t: {0, 1} <= set(labels[t].tolist())  # noqa: E731
    assert any(bad(t) for t in stream[:count]), "the test needs degenerate triplets in the stream"
    assert not any(bad(t) for t in planes.indices)
    kept = [t for t in stream if not bad(t)][:count]
    assert np.array_equal(planes.indices, np.array(kept))


# ---------------------------------------------------------------- plane sets


@pytest.fixture(scope="module")
def plane_set(images, fmnist) -> PlaneSet:
    return select_planes(images, fmnist.train_labels, 3, seed=1, resolution=5, range_l=0.2, range_r=0.3)


@needs_fmnist
def test_select_planes_matches_individual_planes(plane_set, images, fmnist):
    assert np.array_equal(plane_set.indices, select_triplets(fmnist.train_labels, 3, seed=1))
    assert plane_set.num_points == 3 * 25 and plane_set.image_shape == tuple(images.shape[1:])
    for p, (i, j, k) in enumerate(plane_set.indices):
        ref = Plane.from_triplet(images[i], images[j], images[k], resolution=5, range_l=0.2, range_r=0.3)
        assert np.array_equal(plane_set.anchors[p], images[i].double().numpy())
        assert np.array_equal(plane_set.direction1[p], ref.direction1.numpy())
        assert np.array_equal(plane_set.coefs[p], ref.coefs)


@needs_fmnist
def test_iter_points_plane_major_float32(plane_set):
    seen = []
    for p, rng, batch in plane_set.iter_points(batch_size=7):
        assert batch.dtype == torch.float32 and batch.shape == (len(rng), *plane_set.image_shape)
        expected = plane_set.plane(p).points(np.arange(rng.start, rng.stop)).astype(np.float32)
        assert np.array_equal(batch.numpy(), expected)
        seen += [(p, k) for k in rng]
    assert seen == [(p, k) for p in range(3) for k in range(25)]
    flat = torch.cat([b for _, b in plane_set.iter_flat(batch_size=11)])
    per_plane = torch.cat([b for _, _, b in plane_set.iter_points(batch_size=25)])
    assert torch.equal(flat, per_plane)


@needs_fmnist
def test_plane_set_round_trip_through_npz(plane_set, tmp_path):
    path = tmp_path / "planes.npz"
    np.savez(path, **plane_set.to_arrays())
    with np.load(path) as stored:
        loaded = PlaneSet.from_arrays(stored)
    for key, value in plane_set.to_arrays().items():
        assert np.array_equal(loaded.to_arrays()[key], value), key
    arrays = plane_set.to_arrays()
    del arrays["coefs"]
    with pytest.raises(ValueError, match="coefs"):
        PlaneSet.from_arrays(arrays)
    arrays = plane_set.to_arrays()
    arrays["coefs"] = arrays["coefs"][:, :-1]
    with pytest.raises(ValueError, match="'coefs' has shape"):
        PlaneSet.from_arrays(arrays)
