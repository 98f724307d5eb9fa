"""Studies over runs: the main job (runner), sweeps and their launchers, the gap and regime measurements, tracking."""
