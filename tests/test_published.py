"""The published MATS code's behaviour, each as an option (issue 13): raw audio into Santa,
task tokens, the answer-token cap, paper decoding, the answer's token boundary and the
published mapper. The references below are written by hand from the published code's
description (notes/mats-paper.md), independently of the project's batched implementations."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
CLI = [sys.executable, "-m", "mats_core.cli"]


def cli(*args):
    out = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"mats-bench {' '.join(map(str, args))} failed:\n{out.stdout}\n{out.stderr}"
    return out


def predictions(run_dir):
    return [json.loads(l)["prediction"] for l in (Path(run_dir) / "samples.jsonl").read_text().splitlines()]


# -- 1. normalize_audio=false reaches the bridge -------------------------------------------
@pytest.mark.skipif(not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built")
@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_normalize_audio_false_changes_a_run(tmp_path):
    common = [
        "run",
        "--bridge",
        "santa",
        "--tasks",
        "tiny-caption",
        "--limit",
        "10",
        "--no-reference",
        "--set",
        "bridge.search=kmeans",
    ]
    cli(*common, "--output", tmp_path / "unit")
    cli(*common, "--set", "bridge.normalize_audio=false", "--output", tmp_path / "raw")
    unit, raw = predictions(tmp_path / "unit"), predictions(tmp_path / "raw")
    assert len(unit) == len(raw) == 10 and all(p is not None for p in unit + raw)
    assert sum(a != b for a, b in zip(unit, raw)) >= 3  # the published path is really taken
    cfg = json.loads((tmp_path / "raw" / "results.json").read_text())["config"]["bridge"]
    assert cfg["params"]["normalize_audio"] is False and cfg["effective"]["normalize_audio"] is False


def test_default_bridges_get_unit_audio_and_santa_raw_asks_for_raw():
    from mats_core import build

    assert not getattr(build("bridge", "santa"), "raw_input", False)
    assert not getattr(build("bridge", "noise"), "raw_input", False)
    assert build("bridge", "santa", normalize_audio=False).raw_input is True


def test_harness_hands_raw_embeddings_only_to_bridges_that_ask(monkeypatch):
    """Pipeline.embed_audio gives unit rows by default and the encoder's own rows with raw=True."""
    from fakes import HashEncoder

    from mats_core.interfaces import Sample
    from mats_core.run.harness import Pipeline, RunConfig

    enc = HashEncoder(dim=16)
    enc.embed_audio = lambda w, f=enc.embed_audio: 27.0 * f(w)  # raw norms like the tiny CLAP's
    pipe = Pipeline(encoder=enc, llm=None, spec={})
    import numpy as np

    samples = [
        Sample(
            id=str(i),
            audio=np.random.default_rng(i).standard_normal(800).astype("float32"),
            instruction="x",
            sample_rate=enc.sample_rate,
        )
        for i in range(3)
    ]
    unit, _, _ = pipe.embed_audio(samples, RunConfig())
    raw, _, _ = pipe.embed_audio(samples, RunConfig(), raw=True)
    assert torch.allclose(unit.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert raw.norm(dim=-1).min() > 2 and torch.allclose(F.normalize(raw, dim=-1), unit, atol=1e-6)


def test_model_normalises_the_bridge_output_before_the_mapper():
    from mats_core.model.pipeline import MATSModel

    class LLM:  # the least a LanguageModel needs for MATSModel.mapper
        hidden_size, template, device = 8, "{audio} {instruction}", "cpu"

        def trainable_parameters(self):
            return []

    torch.manual_seed(0)
    model = MATSModel(LLM(), 16, {"type": "mlp", "prefix_length": 2})
    seen = []
    model.mapper.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    model.assemble = lambda prefix, *a, **k: (prefix, None, None)
    z = 30 * torch.randn(4, 16)
    model.llm.generate = lambda emb, mask, **d: ["x"] * len(emb)
    model.generate(z, ["a"] * 4)
    assert torch.allclose(seen[0].norm(dim=-1), torch.ones(4), atol=1e-6)


# -- 1b. the published encode_audio path, written out by hand ------------------------------
def published_kmeans(bank, clusters, iters, seed):
    """k-means as the published code: seeded randperm init, `iters` rounds of nearest-by-L2 and
    mean update (an empty cluster keeps its centroid), then the final membership lists."""
    means = bank[torch.randperm(bank.shape[0], generator=torch.Generator().manual_seed(seed))[:clusters]]
    for _ in range(iters):
        dists = -((bank[:, None, :] - means[None, :, :]) ** 2).sum(dim=-1)
        buckets = dists.max(dim=-1).indices
        bins = torch.bincount(buckets, minlength=clusters)
        sums = torch.zeros(clusters, bank.shape[1], dtype=bank.dtype).scatter_add_(
            0, buckets[:, None].repeat(1, bank.shape[1]), bank
        )
        new = sums / bins.masked_fill(bins == 0, 1)[:, None]
        means = torch.where((bins == 0)[:, None], means, new)
    members = [[] for _ in range(clusters)]
    for row in bank:
        members[int(torch.norm(means - row, dim=1).argmin())].append(row)
    return means, members


def published_encode_audio(audio, means, members, k, lam, temperature, var, generator):
    """The published Santa on raw audio: nearest centroid (L2), pad a small cluster with its first
    entry, top-k by L2, noise on the retrieved rows, softmax(temperature * dot) with the raw
    audio, mix, and the connector's final normalise."""
    out = []
    for a in audio:
        c = int(torch.cdist(a[None], means)[0].argmin())
        cluster = torch.stack(members[c])
        if cluster.shape[0] < k:
            cluster = torch.cat([cluster, cluster[:1].repeat(k - cluster.shape[0], 1)])
        top = cluster[torch.cdist(a[None], cluster)[0].topk(k, largest=False).indices]
        noisy = F.normalize(
            F.normalize(top, dim=-1) + math.sqrt(var) * torch.randn(top.shape, generator=generator), dim=-1
        )
        w = torch.softmax((noisy @ a) * temperature, dim=-1)
        out.append(F.normalize(a * (1 - lam) + (w[:, None] * noisy).sum(0) * lam, dim=-1))
    return torch.stack(out)


@pytest.mark.parametrize("var", [0.0, 0.015])
def test_santa_on_raw_audio_equals_the_published_formula(var):
    from mats_core import build

    g = torch.Generator().manual_seed(1)
    centres = F.normalize(torch.randn(12, 24, generator=g), dim=-1)
    bank = F.normalize(
        centres[torch.randint(0, 12, (300,), generator=g)] + 0.3 * torch.randn(300, 24, generator=g), dim=-1
    )
    audio = 27.0 * F.normalize(
        centres[torch.randint(0, 12, (40,), generator=g)] + 0.4 * torch.randn(40, 24, generator=g), dim=-1
    )
    means, members = published_kmeans(bank, clusters=20, iters=10, seed=0)
    assert any(0 < len(m) < 8 for m in members)  # the padding path is exercised
    nearest = torch.cdist(audio, means).argmin(dim=1)
    assert all(len(members[int(c)]) > 0 for c in nearest)  # (the published code would crash otherwise)
    bridge = build(
        "bridge",
        "santa",
        k=8,
        lam=0.3,
        temperature=10.0,
        noise_variance=var,
        search="kmeans",
        clusters=20,
        kmeans_iters=10,
        normalize_audio=False,
        seed=0,
    )
    assert bridge.raw_input
    bridge.fit(bank)
    got = bridge.infer(audio, torch.Generator().manual_seed(5))
    want = published_encode_audio(audio, means, members, 8, 0.3, 10.0, var, torch.Generator().manual_seed(5))
    assert torch.allclose(got, want, atol=2e-5), (got - want).abs().max()
    unit = build("bridge", "santa", k=8, noise_variance=var, search="kmeans", clusters=20, seed=0)
    unit.fit(bank)
    assert not torch.allclose(unit.infer(audio, torch.Generator().manual_seed(5)), want, atol=1e-3)


# -- 7. the published mapper --------------------------------------------------------------
def test_published_mapper_parameter_count_at_the_paper_config():
    from mats_core.model.mapper import build_mapper

    paper = {"prefix_length": 40, "clip_length": 40, "num_layers": 8, "width": 1024, "heads": 8}
    with torch.device("meta"):
        published = build_mapper(1024, 4096, {"type": "published", **paper})
        default = build_mapper(1024, 4096, {"type": "transformer", **paper})
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(published) == 109_199_360 + 4_198_400  # released mapper + its Linear(1024 -> 4096)
    assert count(default) - count(published) == 8 * 3 * 1024  # the default's q/k/v biases


def test_mlp_mapper_hidden_width_defaults_to_clipcaps_and_can_be_set():
    from mats_core.model.mapper import build_mapper

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    clipcap = build_mapper(256, 192, {"type": "mlp", "prefix_length": 8})  # hidden 192 * 8 / 2 = 768
    narrow = build_mapper(256, 192, {"type": "mlp", "prefix_length": 8, "mlp_hidden": 512})
    assert count(clipcap) == 256 * 768 + 768 + 768 * 1536 + 1536
    assert count(narrow) == 256 * 512 + 512 + 512 * 1536 + 1536
    assert narrow(torch.randn(3, 256)).shape == (3, 8, 192)


def test_published_mapper_init_and_equivalence_with_the_default_blocks():
    from mats_core.model.mapper import build_mapper

    cfg = {"prefix_length": 300, "clip_length": 3, "num_layers": 2, "width": 32, "heads": 4}
    torch.manual_seed(0)
    pub = build_mapper(16, 24, {"type": "published", **cfg})
    default = build_mapper(16, 24, {"type": "transformer", **cfg})
    assert abs(pub.prefix_const.std().item() - 1.0) < 0.03 and default.prefix_const.std().item() < 0.05
    assert not any(n.endswith(("q.bias", "kv.bias")) for n, _ in pub.named_parameters())
    # the default's blocks with zero q/k/v biases and the published weights compute the same thing
    with torch.no_grad():
        default.to_clip.load_state_dict(pub.to_clip.state_dict())
        default.to_llm.load_state_dict(pub.to_llm.state_dict())
        default.prefix_const.copy_(pub.prefix_const)
        for mine, theirs in zip(default.blocks.layers, pub.blocks):
            mine.self_attn.in_proj_weight.copy_(torch.cat([theirs.q.weight, theirs.kv.weight]))
            mine.self_attn.in_proj_bias.zero_()
            mine.self_attn.out_proj.load_state_dict(theirs.out.state_dict())
            mine.linear1.load_state_dict(theirs.mlp[0].state_dict())
            mine.linear2.load_state_dict(theirs.mlp[3].state_dict())
            mine.norm1.load_state_dict(theirs.norm1.state_dict())
            mine.norm2.load_state_dict(theirs.norm2.state_dict())
    pub.eval(), default.eval()
    z = F.normalize(torch.randn(5, 16), dim=-1)
    assert torch.allclose(pub(z), default(z), atol=1e-5)
    assert pub(z).shape == (5, 300, 24)


# -- 3. the answer-token cap (published max_txt_len) ---------------------------------------
def _tiny_model(**llm_params):
    from mats_core import build
    from mats_core.model.pipeline import MATSModel

    lm = build("llm", "tiny", device="cpu", **llm_params)
    return lm, MATSModel(lm, 256, None)


def test_max_answer_tokens_caps_only_the_answer():
    answer = " ".join(["a dog barks and a car passes by"] * 8)
    instruction = "Describe the following audio in a caption."
    lm, free = _tiny_model()
    _, capped = _tiny_model(max_answer_tokens=7)
    prefix = torch.zeros(1, free.mapper_config.prefix_length, lm.hidden_size)
    _, mask_free, labels_free = free.assemble(prefix, [instruction], [answer])
    _, mask_cap, labels_cap = capped.assemble(prefix, [instruction], [answer])
    n_answer = len(lm.tokenize(" " + answer)) + 1  # + EOS
    assert n_answer > 7 and int((labels_free != -100).sum()) == n_answer
    assert int((labels_cap != -100).sum()) == 7
    assert int(mask_free.sum()) - int(mask_cap.sum()) == n_answer - 7  # the prompt is untouched
    # max_length caps the whole row: the same number would leave far fewer answer tokens
    _, whole = _tiny_model(max_length=int(mask_cap.sum()) - 3)
    assert int((whole.assemble(prefix, [instruction], [answer])[2] != -100).sum()) == 4


# -- 2. task tokens, in training and evaluation --------------------------------------------
def test_task_token_goes_before_the_instruction():
    lm, model = _tiny_model()
    instruction = "Identify the sounds in the audio clip, only display audio tags."
    _, after = model._prompt_ids(instruction, "[single event]")
    assert after == lm.tokenize(" [single event] " + instruction + "\nAnswer:")
    assert model._prompt_ids(instruction)[1] == lm.tokenize(" " + instruction + "\nAnswer:")
    prefix = torch.zeros(2, model.mapper_config.prefix_length, lm.hidden_size)
    emb, mask, labels = model.assemble(prefix, [instruction] * 2, ["dog", "dog"], ["[single event]", None])
    assert int(mask[0].sum()) > int(mask[1].sum()) and (labels[0] != -100).sum() == (labels[1] != -100).sum()


def test_corpus_record_task_token_and_trainer_mapping(tmp_path, monkeypatch):
    from fakes import HashEncoder

    from mats_core import build
    from mats_core.corpus import validate_record
    from mats_core.errors import MatsError
    from mats_core.model.pipeline import MATSModel
    from mats_core.train.trainer import TrainConfig, train

    with pytest.raises(MatsError, match="task_token"):
        validate_record({"text": "a", "instruction": "b", "answer": "c", "task_token": 3}, "corpus.jsonl:1")
    records = [
        validate_record(
            {
                "text": "a dog barks",
                "instruction": "Describe.",
                "answer": "a dog barks",
                "task_token": "[audio caption clotho]",
            },
            "x",
        ),
        validate_record({"text": "rain", "instruction": "Classify.", "answer": "rain", "task": "classification"}, "x"),
        validate_record({"text": "wind", "instruction": "What?", "answer": "wind", "task": "qa"}, "x"),
    ]
    seen = []
    real = MATSModel.loss
    monkeypatch.setattr(
        MATSModel, "loss", lambda self, z, i, a, t=None: (seen.append(dict(zip(a, t))), real(self, z, i, a, t))[1]
    )
    lm = build("llm", "tiny", device="cpu")
    train(
        HashEncoder(dim=16),
        lm,
        build("bridge", "noise"),
        records,
        tmp_path / "ck",
        TrainConfig(steps=2, batch_size=3, device="cpu", task_tokens={"classification": "[single event]"}),
        progress=False,
    )
    tokens = {k: v for step in seen for k, v in step.items()}
    assert tokens == {"a dog barks": "[audio caption clotho]", "rain": "[single event]", "wind": None}


@pytest.mark.skipif(not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built")
def test_evaluation_uses_the_task_token(tmp_path, monkeypatch):
    from mats_core.model.pipeline import MATSModel
    from mats_core.run.harness import Pipeline, RunConfig, evaluate

    seen = []
    real = MATSModel.generate
    monkeypatch.setattr(
        MATSModel,
        "generate",
        lambda self, z, i, task_tokens=None, **d: (
            seen.extend(task_tokens or [None] * len(i)),
            real(self, z, i, task_tokens, **d),
        )[1],
    )
    pipe = Pipeline.from_checkpoint(SHIPPED / "noise", device="cpu")
    cfg = RunConfig(
        limit=3, task_tokens={"tiny-classify": "[single event]"}, decoding={"preset": "greedy", "max_new_tokens": 4}
    )
    res = evaluate(pipe, SHIPPED / "noise", "noise", ["tiny-classify", "tiny-qa"], tmp_path / "run", cfg)
    assert seen == ["[single event]"] * 3 + [None] * 3
    assert res.config["task_tokens"] == {"tiny-classify": "[single event]"}
    assert res.execution["decoding_preset"] == "greedy"
    assert res.execution["decoding"] == {"num_beams": 1, "do_sample": False, "max_new_tokens": 4}


# -- 4. paper decoding ----------------------------------------------------------------------
def test_paper_decoding_preset_and_suites():
    from mats_core.config.suites import load_suite, suite_options
    from mats_core.errors import MatsError
    from mats_core.model.generation import resolve_decoding

    paper = resolve_decoding({"preset": "paper"})
    assert paper == {
        "num_beams": 4,
        "do_sample": False,
        "max_new_tokens": 200,
        "min_length": 1,
        "no_repeat_ngram_size": 2,
        "repetition_penalty": 2.0,
        "length_penalty": 1.0,
    }
    assert resolve_decoding({"preset": "paper", "max_new_tokens": 30})["max_new_tokens"] == 30
    with pytest.raises(MatsError, match="unknown preset 'papr'"):
        resolve_decoding({"preset": "papr"})
    root = Path(__file__).resolve().parents[1] / "benchmarks" / "suites"
    for name in ("paper-closed-ended.yaml", "paper-captioning.yaml"):
        suite = load_suite(root / name)
        assert suite.decoding == {"preset": "paper"}
        opts = suite_options(root / name)
        assert (
            "mats-santa" in opts.bridge and "mats-santa-exact" in opts.bridge and "mats-santa-published" in opts.bridge
        )
        assert opts.overrides["run"]["task_tokens"] and "task_token" not in str(opts.overrides.get("tasks", {}))
    tokens = suite_options(root / "paper-closed-ended.yaml").overrides["run"]["task_tokens"]
    assert tokens["esc50"] == "[single event]" and tokens["clotho-aqa"] == "[audio qa]"


# -- 6. the answer's token boundary with a LLaMA SentencePiece tokenizer ---------------------
TEMPLATE = "USER: <Speech>{audio}</Speech> {instruction}\nASSISTANT:"


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    spm = pytest.importorskip("sentencepiece")
    texts = [
        "USER: <Speech></Speech> Describe the following audio in a caption.\nASSISTANT: a dog barks and a car passes by.",
        "a man speaks while birds chirp in the distance",
        "Identify the sounds in the audio clip, only display audio tags.",
        "rain falls on a tin roof",
        "water runs and people talk",
        "the engine of a truck idles loudly",
    ] * 20
    prefix = tmp_path_factory.mktemp("sp") / "llama"
    # LLaMA's settings: BPE, byte fallback, a dummy prefix, whitespace kept as is
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_prefix=str(prefix),
        vocab_size=400,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        byte_fallback=True,
        add_dummy_prefix=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        minloglevel=2,
    )
    return str(prefix) + ".model"


@pytest.mark.parametrize("legacy", [True, False])
def test_answer_ids_continue_the_prompt_as_the_published_code(sp_model, legacy):
    import transformers

    if int(transformers.__version__.split(".")[0]) >= 5:  # CI's second venv
        pytest.skip(
            "transformers 5 has no SentencePiece-backed (slow) LlamaTokenizer: LlamaTokenizer(vocab_file=...) "
            "no longer reads the .model file, and the legacy flag is that slow tokenizer's behaviour"
        )
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    from mats_core.hf import HFCausalLM
    from mats_core.model.pipeline import MATSModel

    tok = LlamaTokenizer(vocab_file=sp_model, legacy=legacy)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    llm = HFCausalLM.from_model(LlamaForCausalLM(cfg), tok, TEMPLATE)
    model = MATSModel(llm, 8, {"type": "mlp", "prefix_length": 2})
    answer, instruction = "a dog barks and a car passes by.", "Describe the following audio in a caption."
    naive = tok.convert_ids_to_tokens(tok(" " + answer, add_special_tokens=False).input_ids)
    assert naive[0] == "▁" and naive[1] != "▁"  # " answer" alone starts with a lone "▁": what was supervised before
    _, _, labels = model.assemble(torch.zeros(1, 2, 16), [instruction], [answer])
    target = labels[labels != -100].tolist()
    published = tok(answer + "</s>", add_special_tokens=False).input_ids  # the published target ("answer" + end_sym)
    assert target == published == tok(answer, add_special_tokens=False).input_ids + [tok.eos_token_id]
    whole = tok("</Speech> " + instruction + "\nASSISTANT: " + answer, add_special_tokens=False).input_ids
    assert whole[-len(target) + 1 :] == target[:-1]  # the same boundary as one string
