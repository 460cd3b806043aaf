"""Storage and integrity: atomic writes, content ids, checksums, input checks and the Zarr layout helpers every
store shares."""
