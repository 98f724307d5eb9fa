"""A tiny random-weight Qwen2-Audio of the real architecture, with its processor, built locally.

transformers' ``Qwen2AudioForConditionalGeneration`` with a few-layer, narrow config, and a
``Qwen2AudioProcessor`` made of a ``WhisperFeatureExtractor`` (128 mel bins, 16 kHz, as the
real model) and a byte-level BPE tokenizer trained here with the special tokens the chat
template uses. Everything is saved with ``save_pretrained`` so the plugin loads it by path,
exactly as it would load a downloaded copy. No hub access, nothing committed.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
CORPUS = [
    "a dog barks in the distance",
    "rain falls on a tin roof",
    "what is the sound",
    "choose one of the options",
    "system you are a helpful assistant",
    "user assistant audio",
    "the answer is a bird",
    "identify the sounds",
] * 8


def have_qwen2_audio() -> bool:
    try:
        from transformers import Qwen2AudioForConditionalGeneration  # noqa: F401
    except ImportError:
        return False
    return True


def build_tiny_qwen2_audio(folder: Path) -> Path:
    """Save a random tiny Qwen2-Audio (model + processor) into ``folder``; returns it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    folder = Path(folder)
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIALS[1:],
        model_input_names=["input_ids", "attention_mask"],
    )
    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000)
    Qwen2AudioProcessor(feature_extractor=features, tokenizer=tok).save_pretrained(folder)
    config = Qwen2AudioConfig(
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 32,
            "d_model": 16,
            "max_source_positions": 1500,
        },
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 2048,
        },
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    return folder
