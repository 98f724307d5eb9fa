"""Model assembly, text-only training, exact resume, and evaluation end to end on small fakes."""

import json

import pytest
import torch
from fakes import CORPUS, HashEncoder, make_tiny_gpt2
from safetensors.torch import load_file

from mats_core import build
from mats_core.hf import HFCausalLM
from mats_core.model.pipeline import IGNORE, MATSModel
from mats_core.train import trainer as trainer_mod
from mats_core.train.trainer import TrainConfig, train

TEMPLATE = "{audio} {instruction}\nAnswer:"


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    texts = [r["text"] + " " + r["instruction"] + " " + r["answer"] for r in CORPUS]
    return make_tiny_gpt2(tmp_path_factory.mktemp("gpt2"), texts)


def make_llm(lm_dir):
    return HFCausalLM(lm_dir, template=TEMPLATE, lora={"r": 4, "alpha": 8, "target_modules": ["c_attn"]})


def test_assemble_masks_everything_but_the_answer(lm_dir):
    llm = make_llm(lm_dir)
    model = MATSModel(llm, 16, {"type": "mlp", "prefix_length": 3})
    prefix = torch.randn(2, 3, llm.hidden_size)
    emb, mask, labels = model.assemble(prefix, ["Describe.", "What do you hear now?"], ["a dog", "bell"])
    for i, ans in enumerate(["a dog", "bell"]):
        target = llm.tokenize(" " + ans) + [llm.eos_token_id]
        got = labels[i][labels[i] != IGNORE].tolist()
        assert got == target
    # the prefix sits right after the (empty) text before {audio}: rows are right-padded
    assert torch.allclose(emb[0, :3], prefix[0])
    emb, mask, labels = model.assemble(prefix, ["Describe.", "What do you hear now?"])
    assert labels is None and mask[0, 0] == 0 and mask[:, -1].all()  # left-padded for generation


def _train(lm_dir, out, steps, bridge="noise", **kw):
    cfg = TrainConfig(
        steps=steps,
        batch_size=8,
        lr=kw.pop("lr", 1e-2),
        warmup=2,
        checkpoint_every=5,
        log_every=1,
        seed=3,
        device="cpu",
        **kw.pop("settings", {}),
    )
    spec = {
        "encoder": {"name": "hash", "params": {}},
        "llm": {"name": "x", "params": {}},
        "bridge": {"name": bridge, "params": {"noise_variance": 0.01}},
        "corpus": {"name": "fake", "params": {}},
    }
    torch.manual_seed(0)  # LoRA A is initialised from the global RNG when the LLM is built
    br = build("bridge", bridge, noise_variance=0.01) if bridge == "noise" else build("bridge", bridge)
    return train(
        HashEncoder(),
        make_llm(lm_dir),
        br,
        CORPUS,
        out,
        cfg,
        mapper={"type": "transformer", "prefix_length": 2, "clip_length": 2, "num_layers": 1, "width": 32, "heads": 2},
        spec=spec,
        progress=False,
        **kw,
    )


def test_training_lowers_the_loss_and_writes_a_checkpoint(lm_dir, tmp_path):
    out = _train(lm_dir, tmp_path / "ck", steps=40)
    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    first = sum(r["loss"] for r in log[:5]) / 5
    last = sum(r["loss"] for r in log[-5:]) / 5
    assert last < first * 0.8, (first, last)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["step"] == 40 and cfg["format"] == "mats-bench/checkpoint"
    assert (out / "mapper.safetensors").exists() and (out / "adapter.safetensors").exists()


def test_resume_gives_the_same_checkpoint(lm_dir, tmp_path, monkeypatch):
    full = _train(lm_dir, tmp_path / "full", steps=12)
    real_save = trainer_mod.save_state

    def crash_after_first(out, step, **state):
        real_save(out, step, **state)
        if step == 10:  # inside the second checkpoint's write: the first one (step 5) stands
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(trainer_mod, "save_state", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        _train(lm_dir, tmp_path / "part", steps=12)
    monkeypatch.setattr(trainer_mod, "save_state", real_save)
    _train(lm_dir, tmp_path / "part", steps=12, resume=True)
    for name in ("mapper.safetensors", "adapter.safetensors"):
        a, b = load_file(full / name), load_file(tmp_path / "part" / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)


def test_prefix_only_warmup_holds_the_lora_still_and_the_mapper_has_its_own_rate(lm_dir, tmp_path):
    """llm_frozen_steps: the LLM's LoRA stays at its init while the mapper learns, then both move;
    mapper_lr is the mapper's rate; on_checkpoint sees every checkpoint."""
    seen = {}

    def snapshot(step, out):
        seen[step] = (load_file(out / "mapper.safetensors"), load_file(out / "adapter.safetensors"))

    out = _train(
        lm_dir,
        tmp_path / "ck",
        steps=15,
        settings={"llm_frozen_steps": 10, "mapper_lr": 3e-2, "keep_checkpoints": True},
        on_checkpoint=snapshot,
    )
    assert sorted(seen) == [5, 10, 15]
    kept = sorted(int(d.name) for d in (out / "steps").iterdir())
    assert kept == [5, 10, 15] and not list((out / "steps" / "5").glob("trainer_state*"))
    assert json.loads((out / "steps" / "5" / "config.json").read_text())["step"] == 5
    for name, tensors in seen[5][0].items():  # the kept step-5 weights are the step-5 checkpoint's
        assert torch.equal(load_file(out / "steps" / "5" / "mapper.safetensors")[name], tensors)
    torch.manual_seed(0)
    init = make_llm(lm_dir).adapter_state_dict()
    lora_b = [k for k in init if "lora_B" in k]
    assert lora_b and all(torch.equal(seen[10][1][k], init[k]) for k in init)  # frozen through step 10
    assert any(not torch.equal(seen[15][1][k], init[k]) for k in lora_b)  # learning after it
    assert any(not torch.equal(seen[5][0][k], seen[10][0][k]) for k in seen[5][0])  # the mapper learnt meanwhile
    groups, starts = trainer_mod._param_groups(
        MATSModel(make_llm(lm_dir), 16, {"type": "mlp", "prefix_length": 2}),
        TrainConfig(lr=1e-3, mapper_lr=5e-3, llm_frozen_steps=7),
    )
    assert [g["lr"] for g in groups] == [5e-3, 5e-3, 1e-3, 1e-3] and starts == [0, 0, 7, 7]
    factor = trainer_mod._cosine(2, 20, start=7)
    assert factor(6) == 0.0 and factor(8) == 0.5 and factor(9) == 1.0 and factor(20) == 0.0


def test_init_from_starts_from_another_runs_weights_with_a_fresh_optimiser(lm_dir, tmp_path):
    """train.init_from (a recipe's second phase): step 0 holds the source's mapper and adapter,
    the optimiser starts fresh, the run's own config names its source; weights of another shape fail by name."""
    first = _train(lm_dir, tmp_path / "phase1", steps=10)
    second = _train(lm_dir, tmp_path / "phase2", steps=5, settings={"init_from": str(first), "keep_checkpoints": True})
    assert json.loads((second / "config.json").read_text())["train"]["init_from"] == str(first)
    scratch = _train(lm_dir, tmp_path / "scratch", steps=5)
    log2 = [json.loads(l) for l in (second / "train_log.jsonl").read_text().splitlines()]
    log0 = [json.loads(l) for l in (scratch / "train_log.jsonl").read_text().splitlines()]
    assert log2[0]["loss"] < log0[0]["loss"] - 0.5, (
        log2[0],
        log0[0],
    )  # it starts where phase 1 ended, not from scratch
    assert [r["lr"] for r in log2] == [r["lr"] for r in log0]  # its own warm-up and schedule: a fresh optimiser
    still = _train(lm_dir, tmp_path / "still", steps=1, lr=1e-12, settings={"init_from": str(first)})
    for name in ("mapper.safetensors", "adapter.safetensors"):  # one step at a negligible rate: phase 1's weights
        a, b = load_file(first / name), load_file(still / name)
        assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), name
    with pytest.raises(trainer_mod.MatsError, match="init_from .*do not fit"):
        cfg = TrainConfig(steps=2, batch_size=4, device="cpu", init_from=str(first))
        train(
            HashEncoder(),
            make_llm(lm_dir),
            build("bridge", "none"),
            CORPUS,
            tmp_path / "bad",
            cfg,
            mapper={"type": "mlp", "prefix_length": 2},
            progress=False,
        )


def test_default_schedule_is_transformers_cosine(lm_dir):
    from transformers import get_cosine_schedule_with_warmup

    ref = get_cosine_schedule_with_warmup(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 5, 40)
    ours = trainer_mod._cosine(5, 40)
    assert [ref.lr_lambdas[0](s) for s in range(45)] == [ours(s) for s in range(45)]
    groups, _ = trainer_mod._param_groups(
        MATSModel(make_llm(lm_dir), 16, {"type": "mlp", "prefix_length": 2}), TrainConfig()
    )
    assert len(groups) == 2  # one rate: the groups of older checkpoints, which still resume
