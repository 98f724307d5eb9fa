"""Settings before any model loads: the typed run settings and their checks, suites and sweep-grid values."""
