"""The tiny world's LM: the shipped weights load through the one HF wrapper, speak the world's
language in the MATS prompt format, beat word-shuffled and unigram baselines, and retrain deterministically."""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from mats_core import build  # noqa: E402
from mats_core.errors import MatsError  # noqa: E402
from mats_tiny import lm as tiny_lm  # noqa: E402
from mats_tiny.data import CLASSES, text_records  # noqa: E402
from mats_tiny.text import TEST_PROMPT  # noqa: E402


@pytest.fixture(scope="module")
def llm():
    return build("llm", "tiny")


@pytest.fixture(scope="module")
def val_docs():
    return tiny_lm.documents(text_records("val"))


def ask(llm, instruction: str, max_new_tokens: int = 24) -> str:
    """Greedy answer to the MATS prompt with an empty audio prefix."""
    prompt = llm.template.format(audio="", instruction=instruction)
    ids = ([llm.bos_token_id] if llm.add_bos else []) + llm.tokenize(prompt)
    emb = llm.embed(torch.tensor([ids]))
    return llm.generate(emb, torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=max_new_tokens)[0]


def test_shipped_lm_loads_through_the_hf_wrapper(llm):
    from mats_core.hf import HFCausalLM
    from mats_core.testing import check_llm

    assert isinstance(llm, HFCausalLM)
    check_llm(llm)
    assert llm.template == "{audio} {instruction}\nAnswer:"
    assert llm.add_bos and llm.bos_token_id is not None  # pretraining documents start with <|bos|>
    assert {llm.bos_token_id, llm.eos_token_id, llm.pad_token_id} == {0, 1, 2}
    assert all(p.dtype == torch.float32 for p in llm.model.parameters())  # fp16 on disk, fp32 on CPU
    names = [n for n, p in llm.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n and "c_attn" in n for n in names)
    assert build("llm", "tiny-lm", lora=None).trainable_parameters() == []


def test_shipped_files_are_small_float16_safetensors():
    from safetensors import safe_open

    files = list(tiny_lm.SHIPPED_DIR.iterdir())
    assert sum(f.stat().st_size for f in files) < 10 * 2**20
    with safe_open(str(tiny_lm.SHIPPED_DIR / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    # a class name transformers 4.x resolves too (5.x writes TokenizersBackend)
    tok_config = json.loads((tiny_lm.SHIPPED_DIR / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast" and tok_config["add_prefix_space"] is True


def test_prompt_tokens_match_the_pretraining_format(llm):
    # MATSModel tokenises the text after {audio} and " " + answer separately; the pretraining
    # document "<instruction>\nAnswer: <answer>" must give exactly the same ids.
    instruction, answer = "Is a drum loud or quiet?", "loud"
    doc = tiny_lm.PRETRAIN_PROMPT.format(instruction=instruction, answer=answer)
    mats = llm.tokenize(llm.template.split("{audio}")[1].format(instruction=instruction)) + llm.tokenize(" " + answer)
    assert llm.tokenizer(doc).input_ids == [llm.bos_token_id] + mats


def test_shipped_lm_answers_in_the_worlds_language(llm):
    # Without audio the LM cannot know the answer, but it must give one of the right form.
    # (It does not yet reliably copy an option of "Which sound comes first, A or B?": see RESULTS.md.)
    assert ask(llm, "Can you hear wind?") in {"yes", "no"}
    assert ask(llm, "Is an engine loud or quiet?") in {"loud", "quiet"}
    assert ask(llm, "How many times do you hear the drip? One, two, three or many?") in {"one", "two", "three", "many"}
    assert ask(llm, TEST_PROMPT["classification"]) in set(CLASSES)
    caption = ask(llm, TEST_PROMPT["caption"], max_new_tokens=48)
    assert caption.endswith(".") and len(caption.split()) >= 4, caption


def test_shipped_lm_val_perplexity(llm, val_docs):
    """The shipped LM against baselines, not a bound fitted to its own number: the val text (every
    class evenly, the rare ones too) must be far likelier than the same words shuffled (it learned word
    order; measured 9.2 vs 25,600) and than under the build's unigram model (162)."""
    recorded = json.loads((tiny_lm.SHIPPED_DIR / "training.json").read_text())["metrics"]
    ppl = tiny_lm.perplexity(llm.model, llm.tokenizer, val_docs)  # LoRA starts at zero: the base model
    rng = random.Random(0)
    shuffled = [" ".join(rng.sample(doc.split(), len(doc.split()))) for doc in val_docs]
    assert ppl * 10 < tiny_lm.perplexity(llm.model, llm.tokenizer, shuffled)
    assert ppl < recorded["unigram_perplexity"] / 10


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        h.update((directory / name).read_bytes())
    return h.hexdigest()


def test_quick_training_is_deterministic_and_loads(tmp_path):
    records, val = text_records("text-train", n=400), text_records("val", n=40)
    a = tiny_lm.train_lm(records, tmp_path / "a", quick=True, seed=3, val_records=val)
    b = tiny_lm.train_lm(records, tmp_path / "b", quick=True, seed=3, val_records=val)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert a["steps"] == tiny_lm.QUICK.steps and a["params"] > 0
    assert math.isfinite(a["val_perplexity"]) and a["val_perplexity"] < a["unigram_perplexity"]
    c = tiny_lm.train_lm(records, tmp_path / "c", quick=True, seed=4, steps=3, val_records=val)
    assert c["steps"] == 3 and _digest(tmp_path / "c") != _digest(tmp_path / "a")

    llm = tiny_lm.load_tiny_lm(str(tmp_path / "a"))
    assert llm.hidden_size == tiny_lm.QUICK.n_embd
    assert isinstance(ask(llm, "Can you hear wind?", max_new_tokens=4), str)


def test_clear_errors(tmp_path):
    with pytest.raises(MatsError, match="python -m mats_tiny.lm --out"):
        tiny_lm.load_tiny_lm(str(tmp_path))
    with pytest.raises(MatsError, match="lacks \\['answer'\\]"):
        tiny_lm.documents([{"text": "a", "instruction": "b"}])
    with pytest.raises(MatsError, match="steps must be >= 1"):
        tiny_lm.train_lm(text_records("val", n=20), tmp_path, quick=True, steps=0)
    with pytest.raises(MatsError, match="template"):
        tiny_lm.load_tiny_lm(template="no audio slot")
