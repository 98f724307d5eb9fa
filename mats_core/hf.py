"""The one LanguageModel implementation: any transformers causal LM, optionally with peft LoRA.

GPT-2, LLaMA/Vicuna, SmolLM2 and the tiny world's LM all go through this class; presets only
change its params. Works with transformers 4.57 and 5.x.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch

__all__ = ["DTYPES", "HFCausalLM", "resolve_device"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from mats_core.config.validation import check_device

    check_device(device, "device")  # a bad name, or CUDA asked for without it, is one clear error
    return torch.device(device)


class HFCausalLM:
    """A frozen transformers causal LM (+ optional LoRA) that takes input embeddings.

    ``template`` places the mapped audio prefix (``{audio}``) and the task instruction
    (``{instruction}``); the answer follows it during training.

    ``answer_logits_only`` (default True): ``loss`` runs the LM head only where a label is; set it
    False to run it at every position (the baseline of benchmarks/bench_smollm2_step.py). It turns
    False by itself for a model class without ``logits_to_keep``.
    """

    def __init__(
        self,
        model: str,
        template: str,
        *,
        tokenizer: str | None = None,
        gguf_file: str | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        lora: dict | None = None,
        max_length: int | None = None,
        generation: dict | None = None,
        trust_remote_code: bool = False,
        max_answer_tokens: int | None = None,
        device_map: str | None = None,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from mats_core.errors import MatsError
        from mats_core.model.checks import check_lora, check_tokenizer_folder

        hf_logging.disable_progress_bar()  # per-shard bars are noise next to our own progress

        if not model:
            raise MatsError("llm param 'model' is empty: give a hub id or a local directory (--set llm.model=PATH)")
        if "{audio}" not in template or "{instruction}" not in template:
            raise MatsError(f"llm param 'template' must contain '{{audio}}' and '{{instruction}}', got {template!r}")
        check_lora(lora)  # before the model loads (mats_core.model.checks)
        check_tokenizer_folder(tokenizer or model, gguf_file)
        if dtype not in DTYPES:
            raise MatsError(f"llm param 'dtype' must be one of {sorted(DTYPES)}, got {dtype!r}")
        target = resolve_device(device)
        torch_dtype = DTYPES[dtype]
        if target.type == "cpu" and torch_dtype == torch.float16:
            torch_dtype = torch.float32  # fp16 matmuls are slow or missing on CPU
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        placement = {"device_map": device_map} if device_map else {}  # e.g. "auto": shard across GPUs (accelerate)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                tokenizer or model, trust_remote_code=trust_remote_code, **extra
            )
            self.model = AutoModelForCausalLM.from_pretrained(
                model, dtype=torch_dtype, trust_remote_code=trust_remote_code, **extra, **placement
            )
        except (OSError, ValueError) as exc:  # transformers 4.x: HFValidationError (a ValueError) for a missing path
            raise MatsError(
                f"could not load LLM '{model}': {exc}\nGive a local directory (--set llm.model=DIR) or, online, a hub id."
            ) from None
        self._setup(template, lora, target, max_length, generation, keep_placement=bool(device_map))
        self.max_answer_tokens = max_answer_tokens  # training: cap on the answer (+ EOS), the published max_txt_len

    @classmethod
    def from_model(
        cls, model: Any, tokenizer: Any, template: str, lora: dict | None = None, device: str = "cpu", **kw: Any
    ) -> "HFCausalLM":
        """Wrap an already-built model + tokenizer (benchmarks with random 7B-shaped weights, notebooks)."""
        self = cls.__new__(cls)
        self.tokenizer, self.model = tokenizer, model
        self._setup(template, lora, resolve_device(device), kw.get("max_length"), kw.get("generation"))
        self.max_answer_tokens = kw.get("max_answer_tokens")
        return self

    def _setup(
        self,
        template: str,
        lora: dict | None,
        device: torch.device,
        max_length: int | None,
        generation: dict | None,
        keep_placement: bool = False,
    ) -> None:
        self.device = device
        self.answer_logits_only = True
        self.merge_lora = True  # decode with the LoRA merged (:meth:`merged`); False: the adapter layers as trained
        tok = self.tokenizer
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token  # no new rows: keeps the frozen embedding matrix untouched
        tok.padding_side = "left"
        self.model.requires_grad_(False)
        self.model.eval()
        if getattr(self.model, "loss_type", "") is None:
            self.model.loss_type = "ForCausalLM"  # silences transformers 5's "loss_type=None" warning
        self.lora_config = dict(lora) if lora else None
        if lora:
            self._add_lora(lora)
            self.model.eval()  # peft makes its LoRA layers in training mode: their dropout would be on in evaluation
        if keep_placement:  # dispatched by device_map: inputs go where the embeddings live
            self.device = self.model.get_input_embeddings().weight.device
        else:
            self.model.to(self.device)
        self.template = template
        self.hidden_size = int(self.model.get_input_embeddings().weight.shape[1])
        context = next(
            (
                getattr(self.model.config, k)
                for k in ("n_positions", "max_position_embeddings")
                if isinstance(getattr(self.model.config, k, None), int)
            ),
            None,
        )
        self.max_length = (
            min(x for x in (max_length, context) if x) if (max_length or context) else None
        )  # <= the context
        self.generation = dict(generation or {})
        self.bos_token_id = tok.bos_token_id
        self.eos_token_id = tok.eos_token_id
        self.pad_token_id = tok.pad_token_id
        # Llama-style tokenizers prepend <s>; GPT-2 style ones do not. Keep the model's own habit.
        probe = tok("a").input_ids
        self.add_bos = bool(probe) and tok.bos_token_id is not None and probe[0] == tok.bos_token_id

    def _add_lora(self, lora: dict) -> None:
        from peft import LoraConfig, get_peft_model

        targets = lora.get("target_modules")
        if isinstance(targets, str):
            targets = [targets]  # a bare string is a full-name regex in peft: almost never what is meant
        cfg = LoraConfig(
            r=int(lora.get("r", 8)),
            lora_alpha=int(lora.get("alpha", 32)),
            lora_dropout=float(lora.get("dropout", 0.0)),
            target_modules=targets,
            task_type="CAUSAL_LM",
            # GPT-2 stores its projections as Conv1D (transposed weights)
            fan_in_fan_out=getattr(self.model.config, "model_type", "") == "gpt2",
        )
        try:
            self.model = get_peft_model(self.model, cfg)
        except ValueError as exc:  # peft's NoMatchingPeftModuleError is one
            if "not found in the base model" not in str(exc):
                raise
            from mats_core.model.checks import no_target_error

            raise no_target_error(self.model, targets) from None

    # -- LanguageModel API -------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids.to(self.device))

    def loss(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean next-token loss on the labelled positions. The LM head runs only at positions
        whose next token is labelled (``logits_to_keep``): prompt and prefix positions need no
        logits, and over a 49k-152k vocabulary they are a large share of a small model's step."""
        from mats_core.model.pipeline import IGNORE

        target = labels[:, 1:]
        keep = (target != IGNORE).any(0).nonzero().squeeze(-1)
        if keep.numel() == 0 or not self.answer_logits_only:
            return self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels).loss
        try:
            logits = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, logits_to_keep=keep).logits
        except TypeError:  # a model class without logits_to_keep (transformers < 4.50, remote code)
            self.answer_logits_only = False
            return self.loss(inputs_embeds, attention_mask, labels)
        picked = target[:, keep].to(logits.device)
        return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), picked.flatten(), ignore_index=IGNORE)

    @torch.no_grad()
    def generate(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, **decoding: Any) -> list[str]:
        settings = {"max_new_tokens": 32, "do_sample": False, "num_beams": 1} | self.generation | decoding
        out = self.model.generate(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            pad_token_id=self.pad_token_id,
            eos_token_id=self.eos_token_id,
            **settings,
        )
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip() for t in texts]

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    # -- adapter state (checkpoints) ----------------------------------------------------
    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        if not self.lora_config:
            return {}
        from peft import get_peft_model_state_dict

        return {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(self.model).items()}

    def load_adapter_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if not state:
            return
        if not self.lora_config:
            from mats_core.errors import MatsError

            raise MatsError("checkpoint holds a LoRA adapter but the llm preset has no 'lora' params")
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(self.model, state)
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            from mats_core.errors import MatsError

            raise MatsError(
                f"LoRA adapter does not fit this llm ({len(unexpected)} unexpected keys, e.g. {unexpected[0]})"
            )

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    @contextmanager
    def merged(self) -> Iterator[None]:
        """Decoding with the LoRA merged into the base weights (the optional ``merged`` capability):
        each adapted linear is one matmul instead of three. The merge writes into copies of the base
        weights, and leaving restores the originals (the same tensors, bit for bit): adapters,
        checkpoints and training are untouched. A no-op without LoRA, with LoRA dropout active
        (training mode), with ``merge_lora`` False, or when a base weight is not a plain float tensor
        (quantised layers)."""
        from peft.tuners.lora import LoraLayer

        layers = (
            [m for m in self.model.modules() if isinstance(m, LoraLayer)]
            if self.lora_config and self.merge_lora
            else []
        )
        dropping = any(
            isinstance(d, torch.nn.Dropout) and d.training and d.p > 0 for m in layers for d in m.lora_dropout.values()
        )
        if (
            not layers
            or dropping
            or any(m.merged for m in layers)
            or not all(m.get_base_layer().weight.dtype.is_floating_point for m in layers)
        ):
            yield
            return
        saved = [(m, m.get_base_layer().weight.data, getattr(m.get_base_layer().bias, "data", None)) for m in layers]
        try:
            for m in layers:
                m.get_base_layer().weight.data = (
                    m.get_base_layer().weight.data.clone()
                )  # the merge writes here, never the original
                m.merge(safe_merge=True)
            yield
        finally:
            for m, weight, bias in saved:
                if m.merged:
                    m.unmerge()  # peft's bookkeeping; the arithmetic lands on the copy, dropped next
                base = m.get_base_layer()
                base.weight.data = weight
                if bias is not None:
                    base.bias.data = bias
