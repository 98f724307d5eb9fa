"""Model settings checked before torch or peft see them (issue 33.5): each refusal names the
field and what would be valid, instead of a shape error deep inside a library.

``llm.lora`` (the LoRA adapter of ``HFCausalLM``) is validated before the model loads; a
``target_modules`` list that matches no module of the loaded model is reported with the names
it could match. A checkpoint whose config.json no longer fits its tensors is a
:class:`WeightsMismatch` naming the directory.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from mats_core.errors import MatsError


class LoraSettings(BaseModel):
    """What ``llm.lora`` takes (passed to peft's ``LoraConfig``)."""

    model_config = ConfigDict(extra="forbid")
    r: StrictInt = Field(8, ge=1)
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | str | None = None


def check_lora(lora: dict | None) -> dict | None:
    """``lora`` unchanged when valid, else a ``MatsError`` naming ``llm.lora.<field>``."""
    if lora is None:
        return None
    if not isinstance(lora, dict):
        raise MatsError(
            f"llm.lora: expected a mapping such as {{r: 8, alpha: 32, target_modules: [q_proj, v_proj]}}, got {lora!r}"
        )
    from mats_core.registry.hints import format_errors

    try:
        LoraSettings.model_validate(lora)
    except ValidationError as exc:
        raise MatsError(format_errors(exc, "llm.lora.", LoraSettings.model_fields, noun="setting")) from None
    return lora


def no_target_error(model: Any, targets: Any) -> MatsError:
    """The error for LoRA ``targets`` that match no module of ``model``, listing the linear ones."""
    import torch

    names = sorted(
        {
            n.rsplit(".", 1)[-1]
            for n, m in model.named_modules()
            if n and (isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D")
        }
    )
    return MatsError(
        f"llm.lora.target_modules {targets!r} match no module of this model; its linear layers are "
        f"{', '.join(names[:20]) or 'none'} (give some of these, e.g. --set llm.lora.target_modules=[{names[0] if names else 'q_proj'}])"
    )


class WeightsMismatch(MatsError, RuntimeError):
    """A checkpoint's tensors do not fit the model its config.json describes (a RuntimeError too,
    as torch's own ``load_state_dict`` error, so callers that reword that one still can)."""


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "tokenizer_config.json")


def check_tokenizer_folder(where: str, gguf_file: str | None = None) -> None:
    """A local model folder must hold a tokenizer (a GGUF file carries its own)."""
    from pathlib import Path

    folder = Path(where).expanduser()
    if gguf_file or not folder.is_dir():
        return  # a hub id, or a GGUF file: transformers finds the tokenizer
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise MatsError(
            f"{folder}: no tokenizer files ({', '.join(TOKENIZER_FILES)}); copy the model's tokenizer into it, "
            "or pass --set llm.tokenizer=DIR"
        )
