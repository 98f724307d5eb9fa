"""What a run directory records about its run: the config it ran with and how it was executed.

The config is the run's identity: ``run_config.json`` guards the directory with it
(``mats_core.run.config_guard``), results.json carries it and its fingerprint, and tables and
resumes compare runs by it. So it holds what makes the run what it is: the checkpoint and what
it was trained as, the models, the bridge's resolved and effective params, the tasks and their
params, the run's settings. How the run was executed (process count, batch size, decoding) is
kept apart, in results.json's ``execution``, since a resume may run otherwise with the same results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from mats_core.capabilities import capability
from mats_core.config.validation import RunConfig
from mats_core.registry.presets import resolved_params

if TYPE_CHECKING:
    from mats_core.run.fitted_bridge import FittedBridge
    from mats_core.run.pipeline import Pipeline

CHECKPOINT_KEYS = ("bridge", "corpus", "supervision", "step", "train")  # of its config.json: what it was trained as


def run_config_record(
    *,
    checkpoint: str | Path,
    pipe: Pipeline,
    fitted: FittedBridge,
    bank: Any,
    tasks: Sequence[str],
    task_params: dict | None,
    cfg: RunConfig,
    checkpoint_config: dict,
    tokens: dict[str, str | None],
    oracle: dict | None,
) -> dict:
    """The recorded config of a run of one checkpoint and ``fitted`` bridge on ``pipe``'s encoder and LLM
    (``bank``: the bank it was fitted on, with test captions on an oracle run)."""
    effective = capability(fitted.bridge, "config")  # optional bridge capability: what it actually ran with
    return {
        "checkpoint": str(checkpoint),
        "encoder": pipe.spec["encoder"],
        "llm": pipe.spec["llm"],
        "bridge": {
            "name": fitted.name,
            **resolved_params("bridge", fitted.name, pipe.registry, **fitted.params),
            "effective": effective() if effective else None,
            "memory_size": None if bank is None else int(bank.shape[0]),
        },
        "tasks": list(tasks),
        "task_params": dict(task_params or {}),
        "run": cfg.recorded(),
        "checkpoint_config": {k: checkpoint_config.get(k) for k in CHECKPOINT_KEYS},
        **({"task_tokens": {n: t for n, t in tokens.items() if t}} if any(tokens.values()) else {}),
        **({"oracle_bank": oracle} if oracle else {}),
    }


def execution_record(*, processes: int, work: list[tuple[int, int]], decoding: dict, cfg: RunConfig) -> dict:
    """How the run was executed; ``work``: each process's (largest batch it generated, rows it wrote now)."""
    return {
        "processes": processes,
        "generated": [g for _, g in work],
        "batch_size": max(u for u, _ in work) or None,
        "decoding": decoding,
        **({"decoding_preset": cfg.decoding["preset"]} if "preset" in cfg.decoding else {}),
    }
