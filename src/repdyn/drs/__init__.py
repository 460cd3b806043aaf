"""The jobs of the DRS stages, as the workflow runs them (the maths is in repdyn.drs.planes/probes/drs).

    planes_job.make_planes      make_planes:    the plane set of a dataset artifact
    probe_job.probe_part        probe_segment:  probes of every layer at a segment's DRS-grid epochs
    preds_job.preds_part        planes_eval:    their predicted classes on every plane point
    tile_job.run_tile           drs_tile:       exact agreement counts of two blocks of epochs
    tile_job.assemble           drs_assemble:   the whole matrix; figures.drs_figures draws it
    store                       the Zarr layout of all of them; `open_drs` reads an assembled result
"""

from repdyn.drs.store import DrsMatrices, open_drs

__all__ = ["DrsMatrices", "open_drs"]
