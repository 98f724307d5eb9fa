"""Training records against the LLM's context window (its optional ``max_length`` capability).

A prompt (template + instruction + the mapper's audio prefix) that does not fit the context
cannot be trained on: refused before training, naming the record. An answer that runs past
it is cut to fit (``MATSModel.assemble`` does the cutting); how many were cut is returned
for the train log and the checkpoint's config.json. An LLM without ``max_length`` is
trusted to take any length (the core's fallback: no check).
"""

from __future__ import annotations

from typing import Any

from mats_core.capabilities import capability
from mats_core.errors import MatsError


def check_context(model: Any, records: list[dict]) -> dict | None:
    """{max_length, records, truncated_answers}, or None when the LLM declares no context."""
    limit = capability(model.llm, "max_length")
    if not limit:
        return None
    prefix = model.mapper_config.prefix_length
    eos = 1 if capability(model.llm, "eos_token_id") is not None else 0
    prompt_len: dict[str, int] = {}
    answer_len: dict[str, int] = {}
    cut = 0
    for i, r in enumerate(records):
        ins, ans = r["instruction"], r["answer"]
        if ins not in prompt_len:
            before, after = model._prompt_ids(ins)
            prompt_len[ins] = len(before) + prefix + len(after)
        if prompt_len[ins] >= limit:
            raise MatsError(
                f"corpus record {i} (task {r.get('task', '?')!r}): its prompt is {prompt_len[ins]} tokens "
                f"(template + instruction + {prefix}-token audio prefix), the LLM's context is {limit}: "
                "shorten the instruction, or lower --set mapper.prefix_length"
            )
        if ans not in answer_len:
            answer_len[ans] = len(model.llm.tokenize(" " + ans.strip())) + eos
        cut += prompt_len[ins] + answer_len[ans] > limit
    return {"max_length": int(limit), "records": len(records), "truncated_answers": int(cut)}
