"""What a planned workflow costs before it runs: work per job, device time, disk, and the report `repdyn plan`
prints."""
