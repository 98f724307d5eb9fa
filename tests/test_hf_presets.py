"""LLM presets on the real architectures with random weights (no hub): GPT-2 (MATS-GPT2) and
LLaMA (Vicuna / MATS-LLaMA) load through the one core wrapper, train mapper + LoRA, generate."""

import json

import pytest
import torch
from fakes import CORPUS, HashEncoder

from mats_core import build
from mats_core.errors import MatsError
from mats_core.testing import check_llm
from mats_core.train.trainer import TrainConfig, train


def _tokenizer(directory, bos: str, eos: str, add_bos: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [r["text"] + " " + r["instruction"] + " " + r["answer"] for r in CORPUS] + ["USER: ASSISTANT: Speech"]
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=500, special_tokens=["<unk>", bos, eos], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    if add_bos:  # LLaMA tokenizers prepend <s>
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.save_pretrained(directory)
    return fast


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    d = tmp_path_factory.mktemp("gpt2")
    tok = _tokenizer(d, "<|endoftext|>", "<|endoftext|>", add_bos=False)
    torch.manual_seed(0)
    GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_embd=64,
            n_layer=2,
            n_head=2,
            n_positions=128,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    ).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    d = tmp_path_factory.mktemp("llama")
    tok = _tokenizer(d, "<s>", "</s>", add_bos=True)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(d)
    return d


@pytest.mark.parametrize(
    "preset, fixture, targets", [("gpt2", "gpt2_dir", "c_attn"), ("vicuna", "llama_dir", "q_proj")]
)
def test_preset_loads_trains_and_generates(preset, fixture, targets, request, tmp_path):
    directory = request.getfixturevalue(fixture)
    torch.manual_seed(0)
    llm = build("llm", preset, model=str(directory), device="cpu")
    check_llm(llm)
    assert llm.lora_config["target_modules"] == [targets] + (["v_proj"] if preset == "vicuna" else [])
    assert llm.trainable_parameters() and all(
        n.count("lora_") for n, p in llm.model.named_parameters() if p.requires_grad
    )
    if preset == "vicuna":
        assert llm.add_bos and llm.template.startswith("USER: <Speech>")
    cfg = TrainConfig(steps=3, batch_size=4, lr=1e-3, warmup=1, device="cpu", checkpoint_every=3, log_every=1)
    spec = {"encoder": {"name": "hash"}, "llm": {"name": preset, "params": {"model": str(directory)}}}
    out = train(
        HashEncoder(),
        llm,
        build("bridge", "noise", noise_variance=0.01),
        CORPUS[:16],
        tmp_path / "ck",
        cfg,
        mapper={"type": "transformer", "prefix_length": 4, "clip_length": 4, "num_layers": 1, "width": 32, "heads": 2},
        spec=spec,
        progress=False,
    )
    assert json.loads((out / "config.json").read_text())["step"] == 3
    from mats_core.model.pipeline import MATSModel

    model = MATSModel(llm, 16, json.loads((out / "config.json").read_text())["mapper"])
    model.load_weights(out)
    texts = model.generate(
        torch.nn.functional.normalize(torch.randn(2, 16), dim=-1), ["Describe the audio.", "What?"], max_new_tokens=4
    )
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_adapter_from_another_architecture_is_refused(gpt2_dir, llama_dir):
    gpt = build("llm", "gpt2", model=str(gpt2_dir))
    llama = build("llm", "vicuna", model=str(llama_dir))
    with pytest.raises(MatsError, match="does not fit"):
        llama.load_adapter_state_dict(gpt.adapter_state_dict())


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(MatsError, match="could not load LLM"):
        build("llm", "gpt2", model=str(tmp_path / "nope"))
    with pytest.raises(MatsError, match="param 'model' is empty"):
        build("llm", "llama")


@pytest.mark.parametrize("preset, fixture", [("gpt2", "gpt2_dir"), ("vicuna", "llama_dir")])
def test_loss_on_labelled_positions_only_equals_the_full_logits_loss(preset, fixture, request):
    """The LM head runs only where a label follows; loss and gradients equal transformers' own."""
    from mats_core.model.pipeline import IGNORE

    llm = build("llm", preset, model=str(request.getfixturevalue(fixture)), dtype="float32", device="cpu")
    torch.manual_seed(0)
    emb = torch.randn(3, 12, llm.hidden_size, requires_grad=True)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[2, 9:] = 0
    labels = torch.full((3, 12), IGNORE)
    labels[0, 6:10] = torch.tensor([5, 6, 7, 8])
    labels[1, 8:12] = torch.tensor([9, 10, 11, 12])
    labels[2, 4:9] = torch.tensor([13, 14, 15, 16, 17])
    ours = llm.loss(emb, mask, labels)
    (g_ours,) = torch.autograd.grad(ours, emb)
    full = llm.model(inputs_embeds=emb, attention_mask=mask, labels=labels).loss
    (g_full,) = torch.autograd.grad(full, emb)
    assert abs(ours.item() - full.item()) < 1e-5
    assert torch.allclose(g_ours, g_full, atol=1e-6)
    keep = llm.model(inputs_embeds=emb, attention_mask=mask, logits_to_keep=torch.arange(3, 11)).logits
    assert keep.shape[1] == 8  # the head ran at 8 of 12 positions
    llm.answer_logits_only = False  # the public switch: the head at every position, the same loss
    assert abs(llm.loss(emb, mask, labels).item() - full.item()) < 1e-5
