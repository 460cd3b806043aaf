"""The machine a job runs on: device choice, deterministic kernels, the settings jobs need but ids must not
contain, and telling a torch tensor from an array without importing torch."""
