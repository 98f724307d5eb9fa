"""mats_clap: built-in mats-bench plugin (work in progress)."""
