"""The extraction stage (rule extract_segment): one forward pass of the probe set per grid epoch of a segment.

    job             extract_part: the forward passes, and what each part keeps of them
    grams_store     grams.zarr: the probe batches' packed Grams (read by the CKA tiles); its layout lives here
    twopoint_store  twopoint.zarr: the recorded pairs' observables (read by the two-point fits); its layout lives here
    entry_points    the job as `python -m repdyn extract-segment` runs it (reads spec.json)
Both stores sit in the part's directory results/extract/<id>/<start>-<end>/: the stage that writes a store
holds its layout, writer and reader in one module, and the stages downstream import the reader.
"""
