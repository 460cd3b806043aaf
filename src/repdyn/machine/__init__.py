"""The machine a job runs on: device choice, deterministic kernels, and the settings jobs need but ids must not
contain."""
