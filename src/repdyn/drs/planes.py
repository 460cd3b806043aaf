"""dbViz input planes spanned by three training images (docs/algorithms.md §2.2–2.4).

A plane is stored as its basis (anchor x0, orthonormal directions d1, d2) and
its grid coefficients, never as points: P = 500 planes of R² = 2500 points of
a 3072-pixel image would be 15 GB in float32, while the basis is 37 MB in
float64. Points are generated batch by batch when a network needs them.

All geometry is float64 (dbViz works in float32; the two agree to ~1e-5,
measured in the spec), so that anchors map to their plane coordinates to
float64 precision and the basis is orthonormal to ~1e-15.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from repdyn.config.integers import is_int, require_int
from repdyn.machine.tensors import is_tensor

if TYPE_CHECKING:  # tensors only when asked for: the DRS tile and assembly jobs start without torch
    import torch

DEFAULT_RESOLUTION = 50
DEFAULT_RANGE = 0.1
# |b_perp| below this fraction of |b| means x2 is (numerically) on the line
# through x0 and x1: float32 images that are collinear in exact arithmetic
# leave |b_perp| / |b| of order 1e-7, far below any genuine plane.
DEGENERACY_RTOL = 1e-6
PLANESET_FORMAT_VERSION = 1
_PLANESET_KEYS = (
    "indices",
    "anchors",
    "direction1",
    "direction2",
    "anchor_coords",
    "coefs",
    "resolution",
    "range_l",
    "range_r",
    "seed",
    "format_version",
)


def as_float64_numpy(x: Any, name: str) -> np.ndarray:
    if is_tensor(x):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_grid_settings(resolution: int, range_l: float, range_r: float) -> None:
    if not is_int(resolution) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2 (points per axis), got {resolution!r}")
    for key, value in (("range_l", range_l), ("range_r", range_r)):
        if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{key} must be a finite number >= 0 (margin as a fraction of the anchors' extent), got {value!r}"
            )


def plane_basis(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d1, d2, anchor_coords (3, 2)) of the plane through flat float64 vectors x0, x1, x2 (plain Gram–Schmidt).

    Raises ValueError for degenerate triplets (x1 == x0, or x2 numerically on
    the line through x0 and x1): their plane is undefined.
    """
    a = x1 - x0
    b = x2 - x0
    norm_a = float(np.linalg.norm(a))
    if norm_a == 0.0:
        raise ValueError("degenerate triplet: x1 equals x0 (|x1 - x0| = 0), no plane is defined")
    d1 = a / norm_a
    beta1 = float(d1 @ b)
    b_perp = b - beta1 * d1
    norm_b_perp = float(np.linalg.norm(b_perp))
    norm_b = float(np.linalg.norm(b))
    if norm_b_perp == 0.0 or norm_b_perp <= DEGENERACY_RTOL * norm_b:
        raise ValueError(
            f"degenerate triplet: x2 lies on the line through x0 and x1 (|b_perp| = {norm_b_perp:.3g}, "
            f"|b| = {norm_b:.3g}, relative tolerance {DEGENERACY_RTOL})"
        )
    d2 = b_perp / norm_b_perp
    beta2 = float(b @ d2)
    coords = np.array([[0.0, 0.0], [norm_a, 0.0], [beta1, beta2]], dtype=np.float64)
    return d1, d2, coords


def grid_axes(
    anchor_coords: np.ndarray, resolution: int, range_l: float, range_r: float
) -> tuple[np.ndarray, np.ndarray]:
    """The two axes of docs/algorithms.md §2.3: R values each from the anchors' min − ρ_l·L to max + ρ_r·L, both
    ends included."""
    axes = []
    for dim in range(2):
        lo, hi = float(anchor_coords[:, dim].min()), float(anchor_coords[:, dim].max())
        length = hi - lo
        axes.append(np.linspace(lo - range_l * length, hi + range_r * length, int(resolution), dtype=np.float64))
    return axes[0], axes[1]


def grid_coefs(anchor_coords: np.ndarray, resolution: int, range_l: float, range_r: float) -> np.ndarray:
    """(R², 2) float64 plane coordinates; flat index k = i·R + j, first axis slowest ("ij")."""
    axis1, axis2 = grid_axes(anchor_coords, resolution, range_l, range_r)
    c1, c2 = np.meshgrid(axis1, axis2, indexing="ij")
    return np.stack([c1.ravel(), c2.ravel()], axis=1)


def _points(x0: np.ndarray, d1: np.ndarray, d2: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """(k, D) float64 points x0 + c1·d1 + c2·d2 for flat vectors and (k, 2) coefficients."""
    return x0[None, :] + coefs[:, :1] * d1[None, :] + coefs[:, 1:] * d2[None, :]


@dataclass(frozen=True)
class Plane:
    """One plane: anchor x0, orthonormal directions and the grid's coefficients.

    Arrays are float64. `direction1`, `direction2` and `points()` are torch
    tensors (CPU) when the triplet was given as torch tensors, numpy arrays
    otherwise; `anchor_coords` and `coefs` are always numpy.
    """

    x0: np.ndarray  # float64, image shape
    d1: np.ndarray  # float64, image shape, unit norm
    d2: np.ndarray  # float64, image shape, unit norm, orthogonal to d1
    anchor_coords: np.ndarray  # (3, 2): (0, 0), (|a|, 0), (beta1, beta2)
    coefs: np.ndarray  # (R*R, 2)
    resolution: int
    range_l: float
    range_r: float
    as_torch: bool = False

    @classmethod
    def from_triplet(
        cls,
        x0: Any,
        x1: Any,
        x2: Any,
        resolution: int = DEFAULT_RESOLUTION,
        range_l: float = DEFAULT_RANGE,
        range_r: float = DEFAULT_RANGE,
    ) -> Plane:
        """The plane through three normalised images of the same (any) shape, numpy or torch."""
        check_grid_settings(resolution, range_l, range_r)
        kinds = {is_tensor(x) for x in (x0, x1, x2)}
        if len(kinds) != 1:
            raise ValueError("x0, x1, x2 must all be torch tensors or all numpy arrays, not a mix")
        arrays = [as_float64_numpy(x, name) for x, name in ((x0, "x0"), (x1, "x1"), (x2, "x2"))]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"x0, x1, x2 must have the same shape, got {[a.shape for a in arrays]}")
        shape = arrays[0].shape
        flat = [a.ravel() for a in arrays]
        d1, d2, coords = plane_basis(*flat)
        return cls(
            x0=flat[0].reshape(shape),
            d1=d1.reshape(shape),
            d2=d2.reshape(shape),
            anchor_coords=coords,
            coefs=grid_coefs(coords, resolution, range_l, range_r),
            resolution=int(resolution),
            range_l=float(range_l),
            range_r=float(range_r),
            as_torch=kinds.pop(),
        )

    def _out(self, arr: np.ndarray) -> Any:
        if not self.as_torch:
            return arr
        import torch

        return torch.from_numpy(arr)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x0.shape)

    @property
    def direction1(self) -> Any:
        """â = (x1 − x0)/|x1 − x0|, shaped like the images."""
        return self._out(self.d1)

    @property
    def direction2(self) -> Any:
        """b̂, the unit component of x2 − x0 orthogonal to â, shaped like the images."""
        return self._out(self.d2)

    @property
    def num_points(self) -> int:
        return int(self.coefs.shape[0])

    def points(self, indices: Any = None) -> Any:
        """float64 images x0 + c1·d1 + c2·d2 for the given flat point indices (all R² if None), (k, *image_shape)."""
        coefs = self.coefs if indices is None else self.coefs[_check_indices(indices, self.num_points)]
        pts = _points(self.x0.ravel(), self.d1.ravel(), self.d2.ravel(), coefs)
        return self._out(pts.reshape((coefs.shape[0],) + self.image_shape))


def _check_indices(indices: Any, size: int) -> np.ndarray:
    idx = np.asarray(indices.cpu() if is_tensor(indices) else indices)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"point indices must be a 1-D integer array, got dtype {idx.dtype} shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(f"point indices must lie in [0, {size}); got range [{idx.min()}, {idx.max()}]")
    return idx


# ------------------------------------------------------------------ plane sets


@dataclass(frozen=True)
class PlaneSet:
    """P planes sharing resolution and margins: indices, bases and coefficients, no points.

    Flat point order is plane-major: flat index = plane·R² + point, the order
    of `iter_points` / `iter_flat` and of the predictions (P, R²) derived from them.
    """

    indices: np.ndarray  # int64 (P, 3) training indices of x0, x1, x2
    anchors: np.ndarray  # float64 (P, *image_shape): x0
    direction1: np.ndarray  # float64 (P, *image_shape)
    direction2: np.ndarray  # float64 (P, *image_shape)
    anchor_coords: np.ndarray  # float64 (P, 3, 2)
    coefs: np.ndarray  # float64 (P, R², 2)
    resolution: int
    range_l: float
    range_r: float
    seed: int

    @property
    def num_planes(self) -> int:
        return int(self.indices.shape[0])

    @property
    def points_per_plane(self) -> int:
        return int(self.resolution) ** 2

    @property
    def num_points(self) -> int:
        return self.num_planes * self.points_per_plane

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.anchors.shape[1:])

    def plane(self, p: int) -> Plane:
        """Plane number p as a numpy-backed `Plane`."""
        return Plane(
            x0=self.anchors[p],
            d1=self.direction1[p],
            d2=self.direction2[p],
            anchor_coords=self.anchor_coords[p],
            coefs=self.coefs[p],
            resolution=self.resolution,
            range_l=self.range_l,
            range_r=self.range_r,
        )

    def _plane_points(self, p: int, start: int, stop: int) -> np.ndarray:
        return _points(
            self.anchors[p].ravel(), self.direction1[p].ravel(), self.direction2[p].ravel(), self.coefs[p, start:stop]
        )

    def iter_points(self, batch_size: int) -> Iterator[tuple[int, range, torch.Tensor]]:
        """Yield (plane index, point index range, float32 images (k, *image_shape)) within one plane at a time.

        Points are computed in float64 and rounded once to float32, on the CPU;
        move them to any device. Plane-major order; a batch never spans planes.
        """
        import torch

        require_int("batch_size", batch_size)
        per = self.points_per_plane
        for p in range(self.num_planes):
            for start in range(0, per, batch_size):
                stop = min(start + batch_size, per)
                pts = self._plane_points(p, start, stop).astype(np.float32)
                yield p, range(start, stop), torch.from_numpy(pts.reshape((stop - start,) + self.image_shape))

    def iter_flat(self, batch_size: int) -> Iterator[tuple[range, torch.Tensor]]:
        """Yield (flat index range, float32 images) with batches that may span planes.

        Large inference batches (GPU) need not be capped at R² points; flat
        index = plane·R² + point.
        """
        import torch

        require_int("batch_size", batch_size)
        per, total = self.points_per_plane, self.num_points
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            parts = []
            pos = start
            while pos < stop:
                p, offset = divmod(pos, per)
                end = min(stop, (p + 1) * per)
                parts.append(self._plane_points(p, offset, offset + end - pos))
                pos = end
            pts = np.concatenate(parts).astype(np.float32)
            yield range(start, stop), torch.from_numpy(pts.reshape((stop - start,) + self.image_shape))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays (scalars as 0-d) for any array store (Zarr, HDF5, npz)."""
        return {
            "indices": self.indices,
            "anchors": self.anchors,
            "direction1": self.direction1,
            "direction2": self.direction2,
            "anchor_coords": self.anchor_coords,
            "coefs": self.coefs,
            "resolution": np.asarray(self.resolution, dtype=np.int64),
            "range_l": np.asarray(self.range_l, dtype=np.float64),
            "range_r": np.asarray(self.range_r, dtype=np.float64),
            "seed": np.asarray(self.seed, dtype=np.int64),
            "format_version": np.asarray(PLANESET_FORMAT_VERSION, dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> PlaneSet:
        """Inverse of `to_arrays` (accepts any mapping of array-likes, e.g. an open Zarr group)."""
        missing = [k for k in _PLANESET_KEYS if k not in arrays]
        if missing:
            raise ValueError(f"plane set arrays are missing {', '.join(missing)}")
        version = int(np.asarray(arrays["format_version"]))
        if version != PLANESET_FORMAT_VERSION:
            raise ValueError(f"plane set format_version {version}; this repdyn reads {PLANESET_FORMAT_VERSION}")
        get = lambda k, dt: np.asarray(arrays[k][...], dtype=dt)  # noqa: E731
        ps = cls(
            indices=get("indices", np.int64),
            anchors=get("anchors", np.float64),
            direction1=get("direction1", np.float64),
            direction2=get("direction2", np.float64),
            anchor_coords=get("anchor_coords", np.float64),
            coefs=get("coefs", np.float64),
            resolution=int(get("resolution", np.int64)),
            range_l=float(get("range_l", np.float64)),
            range_r=float(get("range_r", np.float64)),
            seed=int(get("seed", np.int64)),
        )
        ps._check_shapes()
        return ps

    def _check_shapes(self) -> None:
        n = self.num_planes
        expected = {
            "indices": (n, 3),
            "anchors": (n,) + self.image_shape,
            "direction1": (n,) + self.image_shape,
            "direction2": (n,) + self.image_shape,
            "anchor_coords": (n, 3, 2),
            "coefs": (n, self.points_per_plane, 2),
        }
        for key, shape in expected.items():
            if getattr(self, key).shape != shape:
                raise ValueError(f"plane set array {key!r} has shape {getattr(self, key).shape}, expected {shape}")
