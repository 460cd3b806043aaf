"""What the CKA and DRS pipelines share: an epoch x epoch matrix built from tiles.

Both pipelines follow the same path: per-segment *parts* hold one quantity per grid epoch (Grams for
CKA, plane predictions for DRS); a *tile* compares a block of row epochs with a block of column epochs;
the *assembly* places every tile into the whole matrix. This package holds the parts of that path that
do not depend on what is compared:

- `names`: tile names and the grid epochs of a block (torch- and zarr-free: the plan imports it);
- `parts`: epoch -> part lookup over several parts, and the checkpoints a part reads;
- `assembly`: placing tiles into the whole matrix and checking that every cell is covered; finding an
  assembled store.
The Zarr helpers both use (groups and arrays with dimension names, consolidation) are repdyn.storage.zarr_store.

Nothing is imported here, so importing `repdyn.tiling.names` stays cheap.
"""
