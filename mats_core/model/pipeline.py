"""The MATS model: (bridged, normalised) CLAP embedding -> mapper -> prefix inside the LLM's prompt.

Prompt assembly is batched: token ids of ``template`` (with the instruction filled in) are
laid out with a gap of ``prefix_length`` slots where ``{audio}`` stands, embedded once, and
the mapper's prefix is scattered into the gap. Training rows are right-padded and carry
labels only on the answer tokens (+ EOS); generation rows are left-padded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from mats_core.capabilities import capability, llm_device
from mats_core.io import atomic_write_text
from mats_core.model.mapper import MapperConfig, build_mapper

IGNORE = -100
CHECKPOINT_FORMAT = "mats-bench/checkpoint"
TRAINABLES_FILE = "llm_trainable.safetensors"  # an LLM without adapter_state_dict: trainable_parameters() in order


class MATSModel(nn.Module):
    def __init__(self, llm: Any, dim: int, mapper: MapperConfig | dict | None = None):
        super().__init__()
        self.llm = llm
        self.mapper_config = mapper if isinstance(mapper, MapperConfig) else MapperConfig.model_validate(mapper or {})
        self.mapper = build_mapper(dim, llm.hidden_size, self.mapper_config).to(llm_device(llm))
        self.dim = dim
        before, after = llm.template.split("{audio}", 1)
        self._before, self._after = before, after
        self._ids_cache: dict[str, tuple[list[int], list[int]]] = {}
        self._after_text: dict[str, str] = {}

    @property
    def device(self) -> torch.device:
        return next(self.mapper.parameters()).device

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.mapper.parameters()) + list(self.llm.trainable_parameters())

    # -- prompt assembly -------------------------------------------------------------------
    def _prompt_ids(self, instruction: str, task_token: str | None = None) -> tuple[list[int], list[int]]:
        # Instructions repeat (a few templates per task): tokenise each once, not every step.
        if task_token:  # the published place: "</Speech> [single event] <instruction>"
            instruction = f"{task_token} {instruction}"
        cached = self._ids_cache.get(instruction)
        if cached is None:
            cached = self._ids_cache[instruction] = self._tokenize_prompt(instruction)
        return cached

    def _tokenize_prompt(self, instruction: str) -> tuple[list[int], list[int]]:
        tok = self.llm.tokenize
        before = tok(self._before.format(instruction=instruction)) if self._before else []
        after = tok(self._after.format(instruction=instruction))
        bos = capability(self.llm, "bos_token_id")
        if capability(self.llm, "add_bos", False) and bos is not None:
            before = [bos] + before
        self._after_text[instruction] = self._after.format(instruction=instruction)
        return before, after

    def _answer_ids(self, instruction: str, after: list[int], answer: str) -> list[int]:
        """The answer's ids as they continue the prompt in one string ("...ASSISTANT: answer"):
        tokenised on its own, " answer" gets a lone "▁" from a legacy SentencePiece tokenizer."""
        tok = self.llm.tokenize
        text = self._after_text.get(instruction)
        if text:
            whole = tok(text + " " + answer)
            if whole[: len(after)] == after and len(whole) > len(after):
                return whole[len(after) :]
        return tok(" " + answer)

    def assemble(
        self,
        prefix: torch.Tensor,
        instructions: Sequence[str],
        answers: Sequence[str] | None = None,
        task_tokens: Sequence[str | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(inputs_embeds, attention_mask, labels or None). Left-padded when ``answers`` is None.
        ``task_tokens`` (one per row, or None) go before the instruction, as the published MATS
        code puts its per-dataset token after ``</Speech>``. The llm's optional
        ``max_answer_tokens`` caps the supervised answer (+ EOS), the published ``max_txt_len``;
        its ``max_length`` caps the whole row."""
        b, p, _ = prefix.shape
        pad = capability(self.llm, "pad_token_id", 0)
        eos = capability(self.llm, "eos_token_id")
        rows, label_rows, slots = [], [], []
        max_len = capability(self.llm, "max_length")
        max_answer = capability(self.llm, "max_answer_tokens")
        for i in range(b):
            token = task_tokens[i] if task_tokens is not None else None
            before, after = self._prompt_ids(instructions[i], token)
            ids = before + [pad] * p + after
            labels = [IGNORE] * len(ids)
            if answers is not None:
                instruction = f"{token} {instructions[i]}" if token else instructions[i]
                target = self._answer_ids(instruction, after, answers[i].strip()) + ([eos] if eos is not None else [])
                if max_answer:
                    target = target[:max_answer]
                if max_len:
                    target = target[: max(1, max_len - len(ids))]
                ids, labels = ids + target, labels + target
            rows.append(ids)
            label_rows.append(labels)
            slots.append(len(before))
        length = max(len(r) for r in rows)
        left = answers is None
        ids_t = torch.full((b, length), pad, dtype=torch.long)
        mask = torch.zeros((b, length), dtype=torch.long)
        labels_t = torch.full((b, length), IGNORE, dtype=torch.long)
        starts = []
        for i, (ids, labels) in enumerate(zip(rows, label_rows)):
            off = length - len(ids) if left else 0
            ids_t[i, off : off + len(ids)] = torch.tensor(ids)
            labels_t[i, off : off + len(ids)] = torch.tensor(labels)
            mask[i, off : off + len(ids)] = 1
            starts.append(off + slots[i])
        device = self.device
        emb = self.llm.embed(ids_t.to(device))
        index = (torch.tensor(starts, device=device)[:, None] + torch.arange(p, device=device)).unsqueeze(-1)
        emb = emb.scatter(1, index.expand(-1, -1, emb.shape[-1]), prefix.to(emb.dtype))
        return emb, mask.to(device), (None if left else labels_t.to(device))

    # -- training / inference ---------------------------------------------------------------
    def loss(
        self,
        z: torch.Tensor,
        instructions: Sequence[str],
        answers: Sequence[str],
        task_tokens: Sequence[str | None] | None = None,
    ) -> torch.Tensor:
        emb, mask, labels = self.assemble(self.mapper(_unit(z.to(self.device))), instructions, answers, task_tokens)
        return self.llm.loss(emb, mask, labels)

    @torch.no_grad()
    def generate(
        self,
        z: torch.Tensor,
        instructions: Sequence[str],
        task_tokens: Sequence[str | None] | None = None,
        **decoding: Any,
    ) -> list[str]:
        emb, mask, _ = self.assemble(self.mapper(_unit(z.to(self.device))), instructions, None, task_tokens)
        return self.llm.generate(emb, mask, **decoding)

    # -- checkpoints ----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, config: dict) -> None:
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.mapper.state_dict().items()}, out / "mapper.safetensors"
        )
        adapter = capability(self.llm, "adapter_state_dict")
        if adapter is not None:
            if state := adapter():
                save_file(state, out / "adapter.safetensors")
        elif params := list(self.llm.trainable_parameters()):  # no adapter capability: its trainables, by position
            save_file({f"{i}": p.detach().cpu().contiguous() for i, p in enumerate(params)}, out / TRAINABLES_FILE)
        body = {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            **config,
            "mapper": self.mapper_config.model_dump(),
            "dim": self.dim,
        }
        atomic_write_text(out / "config.json", json.dumps(body, indent=2, sort_keys=True))

    def load_weights(self, directory: str | os.PathLike) -> None:
        from mats_core.model.checkpoints import read_tensors

        d = Path(directory)
        try:
            self.mapper.load_state_dict(read_tensors(d / "mapper.safetensors", device=str(self.device)))
        except RuntimeError as exc:  # shapes of another mapper: config.json edited, or another checkpoint's tensors
            from mats_core.model.checks import WeightsMismatch

            raise WeightsMismatch(
                f"{d}: mapper.safetensors does not match the mapper its config.json describes (mapper.*, dim): "
                f"{str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc}; restore "
                "config.json or retrain"
            ) from None
        if (d / "adapter.safetensors").exists():
            load = capability(self.llm, "load_adapter_state_dict")
            if load is None:
                from mats_core.errors import MatsError

                raise MatsError(
                    f"{d} holds an LLM adapter, but this llm has no load_adapter_state_dict(); use the llm it was trained with"
                )
            load(read_tensors(d / "adapter.safetensors", device=str(self.device)))
        if (d / TRAINABLES_FILE).exists():
            _load_by_position(
                list(self.llm.trainable_parameters()), read_tensors(d / TRAINABLES_FILE), d / TRAINABLES_FILE
            )


def _unit(z: torch.Tensor) -> torch.Tensor:
    """The mapper always reads unit vectors (as the published connector): a bridge's output,
    raw or not, is L2-normalised here. Bridges that already normalise are unchanged."""
    return torch.nn.functional.normalize(z, dim=-1)


def read_checkpoint_config(directory: str | os.PathLike) -> dict:
    from mats_core.errors import MatsError
    from mats_core.model.checkpoints import check_readable

    check_readable(directory)
    path = Path(directory) / "config.json"
    if not path.exists():
        raise MatsError(
            f"{directory} is not a mats-bench checkpoint (no config.json); train one with `mats-bench train`"
        )
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MatsError(f"{path}: invalid JSON ({exc})") from None
    if config.get("format") != CHECKPOINT_FORMAT:
        raise MatsError(f"{path}: not a mats-bench checkpoint (format {config.get('format')!r})")
    for needed in ("mapper.safetensors",):
        if not (Path(directory) / needed).exists():
            raise MatsError(f"checkpoint {directory} is incomplete: {needed} is missing")
    return config


def _load_by_position(params: list[nn.Parameter], state: dict[str, torch.Tensor], path: Path) -> None:
    from mats_core.errors import MatsError

    if len(state) != len(params) or any(
        tuple(state[f"{i}"].shape) != tuple(p.shape) for i, p in enumerate(params) if f"{i}" in state
    ):
        raise MatsError(
            f"{path}: {len(state)} saved LLM parameters do not fit the {len(params)} trainable_parameters() "
            "of this llm; rebuild it with the params it was trained with"
        )
    with torch.no_grad():
        for i, p in enumerate(params):
            p.copy_(state[f"{i}"].to(p.device, p.dtype))
