"""mats_datasets: built-in mats-bench plugin (work in progress)."""
