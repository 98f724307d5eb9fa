"""Conformance check of a :class:`~mats_core.LanguageModel`, public as ``mats_core.testing.check_llm``:
the template, tokenize / embed shapes, a differentiable loss through a soft prefix, batched generation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mats_core.interfaces import LanguageModel
from mats_core.testing.asserts import _call, _conforms, _positive_int, _require, _tensor
from mats_core.testing.optional import check_optional


def check_llm(
    llm: Any, prefix_len: int = 4, decoding: Mapping[str, Any] | None = None, padding_invariance: bool = False
) -> None:
    """Template, tokenize / embed shapes, a differentiable loss through a soft prefix, and
    left-padded batched generation (``decoding`` defaults to ``max_new_tokens=4``).

    ``padding_invariance=True`` also requires greedy output of a prompt to be the same alone
    and left-padded in a batch (off by default: near-tied logits of random models may flip).
    """
    import torch

    decoding = dict(decoding or {"max_new_tokens": 4})
    _conforms(llm, LanguageModel)
    hidden = _positive_int("llm.hidden_size", llm.hidden_size)
    _check_template(llm.template)
    short, long = _check_tokenize(llm)
    from mats_core.capabilities import llm_device

    device = llm_device(llm)

    def embed(ids: list[list[int]]) -> Any:
        out = _call("llm.embed", llm.embed, torch.tensor(ids, device=device))
        return _tensor("llm.embed", out, (len(ids), len(ids[0]), hidden))

    embed([short, short[::-1]])
    long_emb = embed([long]).detach()
    _check_loss(llm, long_emb, long, prefix_len)
    _check_trainable(llm)
    with torch.no_grad():
        _check_generate(llm, embed([short]), long_emb, decoding=decoding, padding_invariance=padding_invariance)
    check_optional("llm", llm)


def _check_template(template: Any) -> None:
    """The prompt template places the prefix once and the instruction."""
    _require(isinstance(template, str), f"llm.template must be a string, got {type(template).__name__}")
    _require(
        template.count("{audio}") == 1,
        f"llm.template must contain '{{audio}}' exactly once (where the prefix goes), got {template!r}",
    )
    _require("{instruction}" in template, f"llm.template must contain '{{instruction}}', got {template!r}")


def _check_tokenize(llm: Any) -> tuple[list[int], list[int]]:
    """Token ids of a short and a long text (python ints, non-empty); ``tokenize('')`` is a list too."""
    short = _call("llm.tokenize", llm.tokenize, "a dog barks")
    long = _call("llm.tokenize", llm.tokenize, "what is making the sound in this recording")
    for ids in (short, long):
        _require(
            isinstance(ids, list) and ids,
            f"llm.tokenize must return a non-empty list of ints, got {type(ids).__name__} {ids!r:.80}",
        )
        _require(
            all(isinstance(i, int) and not isinstance(i, bool) for i in ids),
            f"llm.tokenize must return python ints, got {[type(i).__name__ for i in ids][:3]}",
        )
    _require(isinstance(_call("llm.tokenize('')", llm.tokenize, ""), list), "llm.tokenize('') must return a list")
    return short, long


def _check_trainable(llm: Any) -> None:
    """``trainable_parameters`` is a list of tensors that require grad; their gradients are cleared."""
    import torch

    params = _call("llm.trainable_parameters", llm.trainable_parameters)
    _require(isinstance(params, list), f"llm.trainable_parameters must return a list, got {type(params).__name__}")
    for i, p in enumerate(params):
        _require(
            isinstance(p, torch.Tensor) and p.requires_grad,
            f"llm.trainable_parameters()[{i}] is not a tensor that requires grad",
        )
        p.grad = None  # leave no gradients from this check behind


def _check_generate(llm: Any, x: Any, y: Any, *, decoding: dict[str, Any], padding_invariance: bool) -> None:
    """``generate`` on the two embedded prompts ``x`` and ``y`` as one left-padded batch of 2 (and,
    with ``padding_invariance``, the shorter alone must get the answer it got in the batch)."""
    import torch

    a, b = sorted((x, y), key=lambda e: e.shape[1])
    pad, hidden = b.shape[1] - a.shape[1], b.shape[-1]
    batch = torch.cat([torch.cat([a.new_zeros(1, pad, hidden), a], dim=1), b])
    mask = torch.ones(2, batch.shape[1], dtype=torch.long, device=batch.device)
    mask[0, :pad] = 0
    texts = _call("llm.generate", llm.generate, batch, mask, **decoding)
    ok = isinstance(texts, list) and len(texts) == 2 and all(isinstance(t, str) for t in texts)
    _require(ok, f"llm.generate must return a list of 2 strings for a batch of 2, got {texts!r:.120}")
    if padding_invariance:
        alone = _call("llm.generate", llm.generate, a, torch.ones_like(mask[:1, pad:]), **decoding)
        _require(
            alone == texts[:1],
            f"llm.generate depends on left padding: alone {alone[0]!r}, left-padded in a "
            f"batch {texts[0]!r}; honour attention_mask (and position ids)",
        )


def _check_loss(llm: Any, emb: Any, ids: list[int], prefix_len: int) -> None:
    """The loss of ``ids`` after a random soft prefix must be a finite scalar that back-propagates to the prefix."""
    import torch

    prefix = (torch.randn(1, prefix_len, emb.shape[-1], device=emb.device) * emb.float().std()).to(emb.dtype)
    prefix.requires_grad_(True)
    labels = torch.tensor([[-100] * prefix_len + ids], device=emb.device)
    mask = torch.ones(labels.shape, dtype=torch.long, device=emb.device)
    loss = _tensor("llm.loss", _call("llm.loss", llm.loss, torch.cat([prefix, emb], dim=1), mask, labels), ())
    _require(
        loss.requires_grad, "llm.loss returned a tensor without grad: it must stay differentiable w.r.t. inputs_embeds"
    )
    _call("llm.loss(...).backward()", loss.backward)
    _require(
        prefix.grad is not None and bool(prefix.grad.abs().sum() > 0),
        "no gradient reached the prefix in inputs_embeds through llm.loss",
    )
    _require(bool(torch.isfinite(prefix.grad).all()), "the gradient of llm.loss w.r.t. inputs_embeds is not finite")
