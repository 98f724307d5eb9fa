"""mats_tiny: built-in mats-bench plugin (work in progress)."""
