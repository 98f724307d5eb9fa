"""The embedded world's tiny language model: a GPT-2-architecture causal LM trained here.

Why it exists: the offline default needs an LLM that already speaks the world's language
(its captions, class labels and QA answers) and the MATS prompt format, so a mapper trained
on text alone has something meaningful to steer. It is small enough (a few million params,
float16 on disk) to ship in the package and to train on two CPU cores in minutes. The
shipped files are regenerated, byte for byte, by

    python -m mats_tiny.lm --out plugins/mats_tiny/weights/lm --threads 1

Inference goes through the project's one HF wrapper (``mats_core.hf.HFCausalLM``); this
module trains the model and points the wrapper at its files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch

from mats_core import MatsError

SHIPPED_DIR = Path(__file__).resolve().parent / "weights" / "lm"
TEMPLATE = "{audio} {instruction}\nAnswer:"  # what the MATS model feeds the LM
PRETRAIN_PROMPT = "{instruction}\nAnswer: {answer}"  # the same format without the audio prefix
BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
# The loader's default adapter. The shipped MATS checkpoints use r 16 / alpha 64 on every linear
# layer (c_attn, c_proj, c_fc), stored in their config.json: with this one the models decoded too
# little of their own input (benchmarks/tiny_checkpoints.sh, RESULTS.md issue 16).
DEFAULT_LORA: dict[str, Any] = {"r": 8, "alpha": 32, "dropout": 0.0, "target_modules": ["c_attn"]}


@dataclass(frozen=True)
class Recipe:
    """Sizes and optimisation settings; ``FULL`` builds the shipped model, ``QUICK`` a smoke test."""

    vocab_size: int
    n_embd: int
    n_layer: int
    n_head: int
    n_positions: int
    dropout: float
    steps: int
    batch_size: int
    lr: float
    warmup: float  # fraction of steps
    weight_decay: float
    max_train_docs: int | None  # cap on training documents (QUICK only)


# FULL: ~1.1 epochs of the 28k text-train documents; about 3 minutes on two free CPU cores.
FULL = Recipe(
    vocab_size=3000,
    n_embd=192,
    n_layer=4,
    n_head=4,
    n_positions=128,
    dropout=0.0,
    steps=1000,
    batch_size=32,
    lr=2e-3,
    warmup=0.05,
    weight_decay=0.01,
    max_train_docs=None,
)
QUICK = Recipe(
    vocab_size=600,
    n_embd=64,
    n_layer=2,
    n_head=2,
    n_positions=128,
    dropout=0.0,
    steps=40,
    batch_size=16,
    lr=3e-3,
    warmup=0.1,
    weight_decay=0.0,
    max_train_docs=2000,
)


# -- text --------------------------------------------------------------------------------
def documents(records: Iterable[dict[str, Any]]) -> list[str]:
    """Pretraining documents: every caption and every rendered instruction-answer pair.

    Exact duplicates are dropped (order kept) so that a caption shared by several QA records
    is not over-weighted.
    """
    docs: dict[str, None] = {}
    for i, rec in enumerate(records):
        missing = [k for k in ("text", "instruction", "answer") if k not in rec]
        if missing:
            raise MatsError(f"record {i} lacks {missing}; records need keys text, instruction, answer")
        if str(rec["text"]).strip():
            docs.setdefault(str(rec["text"]).strip(), None)
        if str(rec["instruction"]).strip() and str(rec["answer"]).strip():
            docs.setdefault(
                PRETRAIN_PROMPT.format(instruction=str(rec["instruction"]).strip(), answer=str(rec["answer"]).strip()),
                None,
            )
    return list(docs)


def train_tokenizer(texts: Sequence[str], vocab_size: int, max_length: int = 128):
    """A byte-level BPE (no unknown tokens) wrapped as a ``PreTrainedTokenizerFast``.

    ``add_prefix_space`` makes a word at the start of a document tokenize like the same word
    after a space, which is how instructions follow the audio prefix in ``TEMPLATE``. The
    post-processor prepends ``<|bos|>`` (Llama-style), so the HF wrapper sees ``add_bos`` and
    starts MATS prompts with it, as every pretraining document starts.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=max_length,
        model_input_names=["input_ids", "attention_mask"],
    )


def save_tokenizer(tokenizer, out: Path) -> None:
    """``save_pretrained``, then make ``tokenizer_config.json`` load the same in transformers 4.x and 5.x.

    transformers 5 records the class ``TokenizersBackend``, which 4.x (still used with the laion
    extra) cannot resolve; ``PreTrainedTokenizerFast`` reads the same ``tokenizer.json`` in both.
    4.x also resets the pre-tokenizer's ``add_prefix_space`` unless the config states it.
    """
    tokenizer.save_pretrained(out)
    tok_path = out / "tokenizer.json"  # 4.x may have written the reset value: state it in both files
    tok_json = json.loads(tok_path.read_text())
    if (tok_json.get("pre_tokenizer") or {}).get("type") == "ByteLevel":
        tok_json["pre_tokenizer"]["add_prefix_space"] = True
        tok_path.write_text(json.dumps(tok_json, indent=2, ensure_ascii=False))
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.update(tokenizer_class="PreTrainedTokenizerFast", add_prefix_space=True)
    path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def encode(tokenizer, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """``<bos> text <eos>`` ids (the tokenizer adds bos), truncated to ``max_len`` keeping the eos."""
    return [ids[: max_len - 1] + [tokenizer.eos_token_id] for ids in tokenizer(list(texts))["input_ids"]]


def length_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """One epoch of shuffled batches of similar length (little padding, still random).

    Documents are shuffled, cut into pools of 50 batches, sorted by length inside a pool and
    batched; the batches are shuffled again.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    pool = 50 * batch_size
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: lengths[j])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _pad(seqs: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


# -- evaluation --------------------------------------------------------------------------
def _nll(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(summed next-token negative log-likelihood, number of predicted tokens)."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = labels[:, 1:]
    total = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return total, int((target != -100).sum())


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], batch_size: int = 64) -> float:
    """Token-level perplexity of ``<bos> text <eos>`` (every token after bos is predicted).

    ``model`` is any causal LM taking ``input_ids`` (a plain or peft-wrapped HF model).
    """
    if not texts:
        raise MatsError("perplexity needs at least one text")
    was_training = model.training
    model.eval()
    seqs = sorted(encode(tokenizer, texts, getattr(model.config, "n_positions", 1024)), key=len)
    total, count = 0.0, 0
    for i in range(0, len(seqs), batch_size):
        nll, n = _nll(model, *_pad(seqs[i : i + batch_size], tokenizer.pad_token_id))
        total, count = total + nll.item(), count + n
    model.train(was_training)
    return math.exp(total / count)


def unigram_perplexity(train_seqs: Sequence[list[int]], eval_seqs: Sequence[list[int]], vocab_size: int) -> float:
    """Perplexity of an add-one unigram model fitted on the training tokens: the floor to beat."""
    counts = torch.ones(vocab_size, dtype=torch.float64)
    for s in train_seqs:
        counts += torch.bincount(torch.tensor(s[1:]), minlength=vocab_size).double()
    logp = (counts / counts.sum()).log()
    targets = torch.tensor([t for s in eval_seqs for t in s[1:]])
    return math.exp(-logp[targets].mean().item())


# -- training ----------------------------------------------------------------------------
def _split(
    records: Sequence[dict[str, Any]],
    val_records: Sequence[dict[str, Any]] | None,
    recipe: Recipe,
    gen: torch.Generator,
) -> tuple[list[str], list[str]]:
    """(training documents, validation documents); without ``val_records`` 5% are held out."""
    train_docs = documents(records)
    if val_records is not None:
        val_docs = documents(val_records)
    else:
        perm = torch.randperm(len(train_docs), generator=gen).tolist()
        n_val = max(1, len(train_docs) // 20)
        val_docs = [train_docs[i] for i in sorted(perm[:n_val])]
        train_docs = [train_docs[i] for i in sorted(perm[n_val:])]
    if recipe.max_train_docs is not None and len(train_docs) > recipe.max_train_docs:
        keep = torch.randperm(len(train_docs), generator=gen)[: recipe.max_train_docs].sort().values.tolist()
        train_docs = [train_docs[i] for i in keep]
    if len(train_docs) < 2 or not val_docs:
        raise MatsError(
            f"need at least 2 training documents and 1 validation document "
            f"(got {len(train_docs)} and {len(val_docs)}); pass more records"
        )
    return train_docs, val_docs


def train_lm(
    records: Sequence[dict[str, Any]],
    out_dir: str | os.PathLike,
    quick: bool = False,
    seed: int = 0,
    steps: int | None = None,
    val_records: Sequence[dict[str, Any]] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the tokenizer and the LM on ``records``; save both to ``out_dir``.

    Validation uses ``val_records`` when given, else a held-out 5% of the documents. Weights
    are stored as float16 safetensors (loaders cast back to float32). Deterministic under
    ``seed`` on a given machine and thread count. ``progress`` shows a progress bar. Returns
    ``{val_perplexity, unigram_perplexity, params, steps, seconds, ...}``.
    """
    from transformers import GPT2Config, GPT2LMHeadModel, get_cosine_schedule_with_warmup
    from transformers.utils import logging as hf_logging

    start = time.perf_counter()
    recipe = QUICK if quick else FULL
    n_steps = recipe.steps if steps is None else int(steps)
    if n_steps < 1:
        raise MatsError(f"steps must be >= 1, got {steps}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    train_docs, val_docs = _split(records, val_records, recipe, gen)
    tokenizer = train_tokenizer(train_docs, recipe.vocab_size, recipe.n_positions)
    train_seqs = encode(tokenizer, train_docs, recipe.n_positions)
    val_seqs = encode(tokenizer, val_docs, recipe.n_positions)

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=recipe.n_positions,
        n_embd=recipe.n_embd,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        n_inner=4 * recipe.n_embd,
        resid_pdrop=recipe.dropout,
        embd_pdrop=recipe.dropout,
        attn_pdrop=recipe.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = GPT2LMHeadModel(config)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.98),
    )
    sched = get_cosine_schedule_with_warmup(opt, max(1, int(recipe.warmup * n_steps)), n_steps)

    model.train()
    batches: list[list[int]] = []
    lengths = [len(x) for x in train_seqs]
    last_loss = float("nan")
    with _progress(progress, n_steps) as advance:
        for _ in range(n_steps):
            if not batches:
                batches = length_batches(lengths, recipe.batch_size, gen)
            nll, n = _nll(model, *_pad([train_seqs[i] for i in batches.pop()], tokenizer.pad_token_id))
            loss = nll / n
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            last_loss = loss.item()
            advance(last_loss)

    # Ship float16; measure what is shipped (rounded weights, evaluated in float32).
    model = model.half().float()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    val_ppl = perplexity(model, tokenizer, val_docs)
    seen = set(train_docs)
    unseen = [d for d in val_docs if d not in seen]  # e.g. "Can you hear wind?\nAnswer: no" recurs
    unseen_ppl = perplexity(model, tokenizer, unseen) if unseen else float("nan")
    uni_ppl = unigram_perplexity(train_seqs, val_seqs, len(tokenizer))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()  # the per-shard bar of save_pretrained is noise here
    model.half().save_pretrained(out)
    save_tokenizer(tokenizer, out)
    metrics = {
        "val_perplexity": round(val_ppl, 4),
        "val_perplexity_unseen": round(unseen_ppl, 4),
        "unigram_perplexity": round(uni_ppl, 4),
        "train_loss_last": round(last_loss, 4),
        "params": sum(p.numel() for p in model.parameters()),
        "steps": n_steps,
        "seconds": round(time.perf_counter() - start, 2),
        "train_documents": len(train_docs),
        "val_documents": len(val_docs),
        "val_documents_unseen": len(unseen),
        "vocab_size": len(tokenizer),
        "seed": seed,
        "recipe": "quick" if quick else "full",
        "torch_threads": torch.get_num_threads(),
    }
    (out / "training.json").write_text(json.dumps({"metrics": metrics, "recipe": asdict(recipe)}, indent=2) + "\n")
    return metrics


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[float], None]]:
    """A rich progress bar showing the running loss, or a no-op."""
    if not enabled:
        yield lambda loss: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("tiny LM"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("train", total=total, loss=float("nan"))
        yield lambda loss: bar.update(task, advance=1, loss=loss)


# -- loading -----------------------------------------------------------------------------
def load_tiny_lm(
    weights: str | None = None,
    lora: dict | None = DEFAULT_LORA,
    device: str = "cpu",
    template: str = TEMPLATE,
    max_length: int | None = None,
    generation: dict | None = None,
    max_answer_tokens: int | None = None,
):
    """The tiny LM behind the project's one HF wrapper (float32, MATS template, LoRA on c_attn).

    ``weights``: a directory written by :func:`train_lm` (default: the shipped one); other
    ``max_length``, ``max_answer_tokens`` and ``generation`` go to ``mats_core.hf.HFCausalLM`` (named here, so an
    unknown param is refused before anything loads).
    """
    from mats_core.hf import HFCausalLM

    path = Path(weights) if weights else SHIPPED_DIR
    if not (path / "config.json").is_file():
        raise MatsError(
            f"tiny LM weights not found in {path} (no config.json); regenerate them with "
            f"`python -m mats_tiny.lm --out {path}`"
        )
    return HFCausalLM(
        model=str(path),
        template=template,
        lora=lora,
        device=device,
        dtype="float32",
        max_length=max_length,
        generation=generation,
        max_answer_tokens=max_answer_tokens,
    )


# -- command line ------------------------------------------------------------------------
def _records(split: str) -> list[dict[str, Any]]:
    from mats_tiny.data import text_records

    return text_records(split=split)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m mats_tiny.lm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for the model and tokenizer files")
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test model (seconds)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the world's text is fixed)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's step count")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (bitwise reproducibility holds for a fixed count)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never wait on the hub
    if args.threads:
        torch.set_num_threads(args.threads)
    metrics = train_lm(
        _records("text-train"),
        args.out,
        quick=args.quick,
        seed=args.seed,
        steps=args.steps,
        val_records=_records("val"),
        progress=True,
    )
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
