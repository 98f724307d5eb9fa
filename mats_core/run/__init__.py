"""One run directory: generate every task's rows for one bridge, score them and write results (the harness and its parts)."""
