"""The coverage dial, for DIAGNOSIS ONLY: put test clips' captions into the memory bank.

``--set run.oracle_bank=P`` adds, for a share P of each task's evaluated clips (drawn with the run
seed), one of the clip's own references (drawn too) to the bank; ``run.oracle_paraphrase=P`` adds,
for a share P, a NEW caption of the clip's scene that is not one of its references (what a real
bank holds at best: another annotator's words for the same sound), written by the task's
``paraphrases`` capability (the tiny world's caption grammar). Both are off (0) by default; a run
using either is an oracle run: results.json records ``oracle_bank`` (settings and captions added),
its table title says ORACLE BANK and its rows' source says so (:func:`oracle_label`).
It changes the bank only, never the checkpoint: a sweep of the dial needs no retraining.
"""

from __future__ import annotations

import random
import zlib
from typing import Any, Sequence

SETTINGS = ("oracle_bank", "oracle_paraphrase")


def oracle_settings(run: dict | Any) -> dict[str, float]:
    """The dial's non-zero settings of a run (a RunConfig or the ``--set run.*`` mapping, validated)."""
    from mats_core.config.validation import RunConfig

    cfg = (
        run
        if isinstance(run, RunConfig)
        else RunConfig.model_validate({k: v for k, v in dict(run).items() if k in SETTINGS})
    )
    return {k: float(getattr(cfg, k)) for k in SETTINGS if getattr(cfg, k)}


def oracle_label(settings: dict[str, float] | None) -> str:
    """``"ORACLE BANK (oracle_bank 0.25)"``; ``""`` when the dial is off."""
    return f"ORACLE BANK ({', '.join(f'{k} {v:g}' for k, v in settings.items())})" if settings else ""


def oracle_texts(samples: Sequence[Any], task: Any, settings: dict[str, float], seed: int, name: str = "") -> list[str]:
    """The captions the dial adds for one task's ``samples`` (deterministic in seed and task name)."""
    from mats_core.capabilities import capability
    from mats_core.errors import MatsError

    clips = [s for s in samples if getattr(s, "references", None)]
    out: list[str] = []
    share = settings.get("oracle_bank", 0.0)
    if share:
        rng = random.Random(seed * 1000003 + zlib.crc32(f"oracle_bank:{name}".encode()))
        out += [rng.choice(list(s.references)) for s in _chosen(clips, share, rng)]
    share = settings.get("oracle_paraphrase", 0.0)
    if share:
        write = capability(task, "paraphrases")
        if write is None:
            raise MatsError(
                f"--set run.oracle_paraphrase: task '{name or task}' cannot write new captions of its clips "
                "(no 'paraphrases' capability; the tiny-world tasks have it); use run.oracle_bank instead"
            )
        rng = random.Random(seed * 1000003 + zlib.crc32(f"oracle_paraphrase:{name}".encode()))
        out += [write(s, seed=rng.randrange(2**31)) for s in _chosen(clips, share, rng)]
    return out


def _chosen(clips: Sequence[Any], share: float, rng: random.Random) -> list[Any]:
    n = round(share * len(clips))
    return [clips[i] for i in sorted(rng.sample(range(len(clips)), n))]


def extend_bank(pipe: Any, bridge: Any, bank: Any, task_objs: dict, task_samples: dict, cfg: Any) -> tuple[Any, dict]:
    """The run's bank with the dial's captions appended and the bridge re-fitted on it; and the record
    results.json keeps (``added`` 0 for a bridge without memory: its rows are then unchanged)."""
    import torch

    from mats_core.capabilities import llm_device
    from mats_core.model.embeddings import embed_texts, encoder_identity

    settings = oracle_settings(cfg)
    if bank is None:
        return None, {**settings, "added": 0}
    texts = [t for n, task in task_objs.items() for t in oracle_texts(task_samples[n], task, settings, cfg.seed, n)]
    if texts:
        table, _ = embed_texts(pipe.encoder, texts, encoder_identity(pipe.encoder, pipe.spec["encoder"]))
        bank = torch.cat([bank, table.to(bank)])
        bridge.fit(bank.to(llm_device(pipe.llm)))
    return bank, {**settings, "added": len(texts)}
