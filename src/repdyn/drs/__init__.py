"""Decision-region similarity (docs/algorithms.md §2): planes, linear probes, agreement, and their jobs.

    from repdyn.drs import open_drs

Same shape as repdyn.cka:
    maths     planes (plane geometry, PlaneSet), selection (triplets), probes/ (features, linear probes),
              agreement (predictions on plane points, exact agreement counts)
    store     the Zarr layout of every DRS stage; `open_drs` reads an assembled result
    jobs      planes_job.make_planes      make_planes:    the plane set of a dataset artifact
              probe_job.probe_part        probe_segment:  probes of every layer at a segment's DRS-grid epochs
              preds_job.preds_part        planes_eval:    their predicted classes on every plane point
              tile_job.run_tile           drs_tile:       exact agreement counts of two blocks of epochs
              assemble_job.assemble       drs_assemble:   the whole matrix
              entry_points                each job as `python -m repdyn` runs it (reads spec.json)
    figures   heatmaps, the layer panel, probe error curves
What CKA and DRS share (tile names, epoch parts, Zarr helpers, assembly) is repdyn.tiling.
"""

from repdyn.drs.store import DrsMatrices, open_drs

__all__ = ["DrsMatrices", "open_drs"]
