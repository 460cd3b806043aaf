"""The extraction stage: one forward pass of the probe set per grid epoch, writing grams.zarr (and twopoint.zarr)."""
