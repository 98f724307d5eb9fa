"""mats_bridges: built-in mats-bench plugin (work in progress)."""
