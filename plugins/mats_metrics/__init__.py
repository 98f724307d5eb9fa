"""mats_metrics: built-in mats-bench plugin (work in progress)."""
