"""A local stand-in for the Hugging Face hub cache, built at test time (never committed).

laion-clap and msclap load hard-coded hub repos while importing / building: laion_clap's
import loads the tokenizers of ``bert-base-uncased``, ``roberta-base`` and
``facebook/bart-base``; ``CLAP_Module`` loads ``RobertaModel('roberta-base')``; msclap loads
``AutoModel`` and the tokenizer of ``gpt2`` (version 2023) or ``bert-base-uncased`` (2022).
This writes small, randomly initialised repos under those ids in the cache layout
huggingface_hub reads (``models--<org>--<name>/refs/main`` + ``snapshots/<rev>/``), so that
with ``HF_HUB_CACHE=<dir>`` and ``HF_HUB_OFFLINE=1`` both packages run unmodified.

Widths the packages hard-code are kept (768: laion's text projection, msclap's
``transformer_embed_dim``); depth and vocabulary are tiny. Takes a few seconds, ~75 MB.
"""

from __future__ import annotations

import json
from pathlib import Path

REVISION = "0" * 39 + "1"
SPECIALS = {
    "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "gpt2": ["<|endoftext|>"],
    "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
}
CORPUS = [
    "a dog barks in the distance while rain falls on a tin roof",
    "a man speaks and a woman laughs as birds chirp outside",
    "a car passes by on a wet road, then music plays loudly",
    "water runs from a tap and a door slams shut",
    "children shout and play in a park with a ball",
] * 20


def _snapshot(cache: Path, repo: str) -> Path:
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(REVISION)
    snap = root / "snapshots" / REVISION
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def _byte_bpe(snap: Path, specials: list[str], config: dict) -> int:
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(CORPUS, vocab_size=600, min_frequency=1, special_tokens=specials, show_progress=False)
    tok.save_model(str(snap))  # vocab.json + merges.txt, what the slow/fast BPE tokenizers read
    (snap / "tokenizer_config.json").write_text(json.dumps(config))
    return tok.get_vocab_size()


def build_fake_hub(cache: str | Path) -> Path:
    """Write the fake repos into ``cache`` (idempotent) and return it."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, RobertaConfig, RobertaModel

    cache = Path(cache)
    done = cache / ".mats-fake-hub"
    if done.exists():
        return cache

    roberta_like = {
        "tokenizer_class": "RobertaTokenizer",
        "model_max_length": 512,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    snap = _snapshot(cache, "roberta-base")
    n = _byte_bpe(snap, SPECIALS["roberta"], roberta_like)
    RobertaModel(
        RobertaConfig(
            vocab_size=n,
            hidden_size=768,
            num_hidden_layers=2,
            num_attention_heads=12,
            intermediate_size=256,
            max_position_embeddings=514,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            type_vocab_size=1,
        )
    ).save_pretrained(snap)

    _byte_bpe(
        _snapshot(cache, "facebook/bart-base"),
        SPECIALS["roberta"],
        {**roberta_like, "tokenizer_class": "BartTokenizer"},
    )

    snap = _snapshot(cache, "gpt2")
    eos = SPECIALS["gpt2"][0]
    n = _byte_bpe(
        snap,
        SPECIALS["gpt2"],
        {
            "tokenizer_class": "GPT2Tokenizer",
            "model_max_length": 128,
            "bos_token": eos,
            "eos_token": eos,
            "unk_token": eos,
        },
    )
    GPT2Model(
        GPT2Config(
            vocab_size=n, n_embd=768, n_layer=2, n_head=12, n_inner=256, n_positions=128, bos_token_id=0, eos_token_id=0
        )
    ).save_pretrained(snap)

    snap = _snapshot(cache, "bert-base-uncased")
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(
        CORPUS, vocab_size=600, min_frequency=1, special_tokens=SPECIALS["bert"], show_progress=False
    )
    wordpiece.save_model(str(snap))  # vocab.txt
    (snap / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512})
    )
    BertModel(
        BertConfig(
            vocab_size=wordpiece.get_vocab_size(),
            hidden_size=768,
            num_hidden_layers=2,
            num_attention_heads=12,
            intermediate_size=256,
            max_position_embeddings=512,
            pad_token_id=0,
        )
    ).save_pretrained(snap)
    done.write_text(REVISION)
    return cache
