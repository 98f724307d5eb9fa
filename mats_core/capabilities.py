"""Optional plugin capabilities (API v1.1): members the core uses when a plugin has them.

The protocols in :mod:`mats_core.interfaces` hold only the v1 *required* members. Everything
else the core reads is listed here with the default it assumes when the member is absent (or
None), in the manner of simonw/llm: a plugin implementing exactly the v1 members works
everywhere, and one that declares more gets the better behaviour. The core reads them all through
:func:`capability`, so the table below is the whole contract (a test checks that). The
"Required and optional members" table of docs/reference/api.md is rendered from it
(docs/hooks/optional_members.py; a test fails when the page and this table disagree).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPTIONAL", "capability", "llm_device", "llm_modules", "set_train_mode"]

# kind -> member -> (default, what the core does with it)
OPTIONAL: dict[str, dict[str, tuple[Any, str]]] = {
    "encoder": {
        "fingerprint": (None, "identity of the weights; keys the embeddings cache (default: the resolved params only)"),
        "clip_seconds": (
            None,
            "fixed input window in seconds; the core centre-crops (or `run.crop`) each clip to it and repeats short clips to fill it, each clip on its own (default: variable length: each embed_audio call holds clips of one length, at most 30 s of a file read, and the encoder fits lengths itself)",
        ),
    },
    "bridge": {
        "uses_memory": (True, "False: the core skips embedding the memory bank and never calls fit with one"),
        "config": (None, "config() -> dict of the effective settings, stored in results.json"),
        "pairs_with": ("noise", "which checkpoint of a clean/noise set the bridge runs with: 'clean' or 'noise'"),
        "raw_input": (
            False,
            "True: infer() receives the encoder's raw (unnormalised) audio embedding; the core L2-normalises the bridge's output before the mapper either way",
        ),
        "fit_audio": (
            None,
            "fit_audio(unpaired [N, dim]): audio statistics from unpaired audio (e.g. `shift`), called before infer",
        ),
        "audio_source": (
            "eval",
            "where fit_audio's audio comes from: 'eval' (each task's own evaluation audio, before that task) or a task name (once per run), recorded in results.json `bridge_statistics`",
        ),
        "audio_split": (
            None,
            "the split of a named `audio_source` task that fit_audio reads (default: the task's own)",
        ),
        "audio_limit": (None, "at most this many clips of a named `audio_source` task (default: all)"),
        "fit_before_train": (
            False,
            "True: the trainer calls fit(memory) with the corpus embeddings before training (C3 centring)",
        ),
        # API v1.3
        "key_params": (
            (),
            "the names of the params shown next to the bridge's row under the run's table, in the order of its resolved params (default: none)",
        ),
        "gap_points": (
            None,
            "gap_points(text, audio, generator) -> (what, [N, dim]): the points `mats-bench gap` compares with the captions (default: `'<name>(audio)'`, infer(audio); `noise`, the identity at inference, shows its noisy training text)",
        ),
    },
    "llm": {
        "device": (None, "where inputs go (default: the device of the LLM's first module parameter, else cpu)"),
        "bos_token_id": (None, "prepended to the prompt when add_bos is true"),
        "eos_token_id": (None, "appended to each training answer (default: none)"),
        "pad_token_id": (None, "id in the padding slots (default: 0; they are masked out)"),
        "add_bos": (False, "whether the prompt starts with bos_token_id"),
        "max_length": (
            None,
            "the context in tokens: training refuses a prompt that does not fit it and cuts answers that run past it, counted in the checkpoint's config.json (default: any length; the HF wrapper reads the model's context)",
        ),
        "max_answer_tokens": (
            None,
            "cap on the supervised answer tokens (+ EOS), the published `max_txt_len` (default: none)",
        ),
        "generation": ({}, "the preset's decoding defaults; the run's decoding settings win"),
        "model": (None, "the underlying torch module: lets the trainer wrap it and generation use a static KV cache"),
        "train": (
            None,
            "train(mode: bool): training/eval mode (default: .train(mode) on the LLM's nn.Module attributes)",
        ),
        "adapter_state_dict": (
            None,
            "() -> {name: tensor} saved in checkpoints (default: trainable_parameters by position)",
        ),
        "load_adapter_state_dict": (None, "(state) -> None, the inverse of adapter_state_dict"),
        "merged": (
            None,
            "merged() -> context manager: evaluation decodes inside it, with adapters merged into the weights and restored on exit (default: decode unmerged)",
        ),
    },
    "task": {
        "fingerprint": (None, "identity of the task's data and params, stored in results.json"),
        "notes": ({}, "metric -> why it is None, stored in results.json after score()"),
        "label_prompt": ("{label}", "classification: how the CLAP zero-shot row writes each label"),
        "headline": (None, "the score keys tables show, in order (default: every key)"),
        "higher_is_better": ({}, "score key -> True / False (default: unknown)"),
        "task_token": (None, "text put before the instruction (the published MATS per-dataset token)"),
        "sample_stats": (
            None,
            "sample_stats(rows, **context) -> SampleStats: per-sample statistics for bootstrap CIs and paired differences (default: the core rescores the task on each resample when that is cheap, else the metrics get no interval and results.json says why)",
        ),
        "zero_shot_scores": (
            None,
            "zero_shot_scores(rows, scores [N, labels]) -> metrics: a multi-label task (FSD50K) scores the CLAP zero-shot row from every clip's label cosines (default: the top-1 label, scored by score())",
        ),
        "paraphrases": (
            None,
            "paraphrases(sample, seed=) -> str: a new caption of the sample's clip, not one of its references "
            "(the diagnosis-only coverage dial `run.oracle_paraphrase`; default: that dial is refused)",
        ),
    },
    "metric": {
        "notes": ({}, "metric -> why it is None"),
        "headline": (None, "the keys tables show, in order (default: every key)"),
        "higher_is_better": ({}, "key -> True / False (default: unknown)"),
        "sample_stats": (None, "sample_stats(predictions, references, **context) -> SampleStats, for bootstrap CIs"),
    },
    "corpus": {},
    "audio_lm": {  # API v1.2 (mats_core.run.audio_lm)
        "fingerprint": (None, "identity of the weights (e.g. the hub revision), stored in results.json"),
        "clip_seconds": (
            None,
            "the longest input the model hears, in seconds; the core centre-crops (or `run.crop`) longer clips (default: whole clips, at most 30 s read)",
        ),
        "generation": (
            {},
            "the model's own decoding (e.g. its model card's: greedy, max_new_tokens); the run's `decoding` (MATS rows) does not reach it: `--set audio_lm.generation.<key>=...`",
        ),
        "config": (
            None,
            "config() -> dict of the effective settings (prompt format, dtype, device), stored in results.json",
        ),
        "supervision": (
            "audio",
            "what the model was trained on, shown next to its row: `'audio'` gives `name (audio-supervised)`",
        ),
    },
}


def capability(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` when the plugin provides it (and it is not None), else ``default``."""
    value = getattr(obj, name, None)
    return default if value is None else value


def llm_modules(llm: Any) -> list[Any]:
    """The torch modules behind an LLM: its ``model`` capability, else its nn.Module attributes
    (the LLM itself when it is a module)."""
    import torch

    if isinstance(llm, torch.nn.Module):
        return [llm]
    model = capability(llm, "model")
    if isinstance(model, torch.nn.Module):
        return [model]
    return [v for v in vars(llm).values() if isinstance(v, torch.nn.Module)] if hasattr(llm, "__dict__") else []


def llm_device(llm: Any) -> Any:
    """The LLM's ``device`` capability, else the device of its first module parameter, else cpu."""
    import torch

    device = capability(llm, "device")
    if device is not None:
        return torch.device(device)
    for module in llm_modules(llm):
        for p in module.parameters():
            return p.device
    return torch.device("cpu")


def set_train_mode(llm: Any, mode: bool) -> None:
    """Training (dropout on) or eval mode: the LLM's ``train(mode)`` capability, else its modules'."""
    fn = capability(llm, "train")
    if callable(fn):
        fn(mode)
        return
    for module in llm_modules(llm):
        module.train(mode)
