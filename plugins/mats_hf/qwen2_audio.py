"""Qwen2-Audio as an ``audio_lm`` row (API v1.2): transformers' own model and processor, nothing of ours.

``Qwen2AudioForConditionalGeneration`` + its processor (``AutoProcessor``: a Whisper feature
extractor at 16 kHz and the Qwen2 tokenizer), loaded from a local directory or the hub. Each
prompt goes through the processor's chat template as on the model card: one user turn holding
the audio and then the task's instruction, and the assistant's turn opened for the answer
(``<|im_start|>system ... <|im_start|>user\\nAudio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\\n
{instruction}<|im_end|>\\n<|im_start|>assistant\\n``). Batches are left-padded; only the new
tokens are decoded. The Whisper front end hears at most 30 s: longer clips are cropped to it by
the core (``clip_seconds``). Decoding is greedy with 256 new tokens unless ``generation`` says
otherwise (``--set audio_lm.generation.max_new_tokens=N``); the MATS rows' run decoding does not reach it.
"""

from __future__ import annotations

from typing import Any

QWEN2_AUDIO_HUB_ID = "Qwen/Qwen2-Audio-7B-Instruct"
DEFAULT_GENERATION = {"do_sample": False, "max_new_tokens": 256}


class Qwen2Audio:
    supervision = "audio"

    def __init__(
        self, *, model: str, processor: str | None, dtype: str, device: str, system: str | None, generation: dict | None
    ):
        import torch
        from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

        from mats_core.hf import DTYPES, resolve_device

        self.name_or_path, self.system = model, system
        self.device = resolve_device(device)
        self.processor = AutoProcessor.from_pretrained(processor or model)
        self.processor.tokenizer.padding_side = "left"  # new tokens start at the same position in every row
        self.model = (
            Qwen2AudioForConditionalGeneration.from_pretrained(model, dtype=DTYPES[dtype]).to(self.device).eval()
        )
        self.dtype = DTYPES[dtype]
        features = self.processor.feature_extractor
        self.sample_rate = int(features.sampling_rate)
        self.clip_seconds = float(getattr(features, "chunk_length", 30))
        pad = self.processor.tokenizer.pad_token_id
        self.generation = {
            **DEFAULT_GENERATION,
            **({"pad_token_id": pad} if pad is not None else {}),
            **(generation or {}),
        }
        self._torch = torch

    @property
    def fingerprint(self) -> str:
        """The model's identity: its path or hub id and, for a hub download, the commit it came from."""
        return f"{self.name_or_path}@{getattr(self.model.config, '_commit_hash', None) or 'local'}"

    def config(self) -> dict[str, Any]:
        return {
            "model": self.name_or_path,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "prompt_format": self.prompt("{instruction}"),
        }

    def prompt(self, instruction: str) -> str:
        """The model card's conversation: the audio, then the instruction, in one user turn."""
        turns = [{"role": "system", "content": self.system}] if self.system else []
        turns.append(
            {"role": "user", "content": [{"type": "audio", "audio_url": "clip"}, {"type": "text", "text": instruction}]}
        )
        return self.processor.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)

    def generate(self, waveforms: list, prompts: list[str], **decoding: Any) -> list[str]:
        texts = [self.prompt(p) for p in prompts]
        inputs = self.processor(
            text=texts, audio=list(waveforms), sampling_rate=self.sample_rate, return_tensors="pt", padding=True
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["input_features"] = inputs["input_features"].to(self.dtype)
        with self._torch.no_grad():
            out = self.model.generate(**inputs, **{**self.generation, **decoding})
        new = out[:, inputs["input_ids"].shape[1] :]
        return [
            t.strip()
            for t in self.processor.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        ]
