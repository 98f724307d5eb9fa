"""Spellings of ``mats-bench run``'s options from lm-evaluation-harness, accepted beside ours."""

from __future__ import annotations

# lm-evaluation-harness's spellings of `run`'s options, accepted (click's token_normalize_func)
# without widening its --help column; the help texts name them once
_SPELLINGS = {"output_path": "output", "out": "output", "batch_size": "batch-size", "log_samples": "log-samples"}


def _spelling(name: str) -> str:
    return _SPELLINGS.get(name, name)
