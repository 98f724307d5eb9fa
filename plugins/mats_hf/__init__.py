"""mats_hf: built-in mats-bench plugin (work in progress)."""
