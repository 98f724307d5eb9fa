"""Small, deterministic stand-ins used by the core tests (not a tiny world: just mechanics)."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers


class HashEncoder:
    """Text: a fixed random projection of character-trigram counts; audio: of a coarse spectrum."""

    def __init__(self, dim: int = 16, sample_rate: int = 16000):
        self.dim, self.sample_rate = dim, sample_rate
        g = torch.Generator().manual_seed(0)
        self.text_proj = torch.randn(512, dim, generator=g)
        self.audio_proj = torch.randn(64, dim, generator=g)
        self.fingerprint = "hash-encoder-v1"

    def embed_text(self, texts):
        feats = torch.zeros(len(texts), 512)
        for i, t in enumerate(texts):
            for j in range(len(t) - 2):
                feats[i, (ord(t[j]) * 31 * 31 + ord(t[j + 1]) * 31 + ord(t[j + 2])) % 512] += (
                    1  # stable across processes
                )
        return feats @ self.text_proj

    def embed_audio(self, waveforms):
        spec = torch.fft.rfft(waveforms.float(), dim=-1).abs()
        bands = torch.nn.functional.adaptive_avg_pool1d(spec.unsqueeze(1), 64).squeeze(1)
        return torch.log1p(bands) @ self.audio_proj


def make_tiny_gpt2(directory, corpus: list[str], n_embd: int = 32) -> str:
    """A random GPT-2 with a BPE tokenizer trained on ``corpus``, saved like a hub model."""
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.save_pretrained(directory)
    torch.manual_seed(0)
    eos = fast.eos_token_id
    cfg = GPT2Config(
        vocab_size=len(fast),
        n_embd=n_embd,
        n_layer=2,
        n_head=2,
        n_positions=128,
        initializer_range=0.3,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    GPT2LMHeadModel(cfg).save_pretrained(directory)
    return str(directory)


CORPUS = [
    {"text": f"a {a} {v} {w}", "instruction": q, "answer": f"{a} {v}", "task": "caption"}
    for a in ("dog", "bell", "siren", "bird", "drum")
    for v in ("barks", "rings", "wails", "chirps")
    for w in ("loudly", "twice", "far away")
    for q in ("Describe the audio.", "What do you hear?")
]
