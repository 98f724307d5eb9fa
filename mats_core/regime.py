"""The retrieval regime of a memory bank: how often it holds captions close to a test clip's references.

Retrieval (the memory and Santa bridges) can only help when the bank holds a caption near the
clip's references; how often that happens is a property of the data, not of the method. These
are the text measures of ``mats-bench regime`` (no audio needed):

- captions are compared after :func:`normalize_caption` (lower case, punctuation stripped);
- *verbatim*: a reference equals a bank caption;
- *near*: verbatim, or the sentence BLEU-4 (:func:`sentence_bleu4`, unsmoothed, clipped n-gram counts, the
  closest reference length in the brevity penalty) of a bank caption against the clip's references
  is at least ``near_bleu`` (default :data:`NEAR_BLEU`). The bank captions scored are the
  :data:`CANDIDATES` with the largest TF-IDF cosine over word 1- to 4-grams to a reference, so a
  near match is found when it shares n-grams with a reference (BLEU-4 needs shared 4-grams anyway).

Public (plugins may use it; documented in docs/reference/api.md): :func:`normalize_caption`,
:func:`sentence_bleu4`, :func:`text_regime`, :func:`memory_only_bound`.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from typing import Any, Sequence

__all__ = [
    "NEAR_BLEU",
    "CANDIDATES",
    "normalize_caption",
    "sentence_bleu4",
    "text_regime",
    "memory_only_bound",
    "nearest_candidates",
]

NEAR_BLEU = 0.5  # BLEU-4 of the nearest bank caption against the clip's references, at or above: a near duplicate
CANDIDATES = 10  # bank captions per reference whose BLEU-4 is computed (those sharing the most n-grams)
_NOT_WORD = re.compile(r"[^a-z0-9\s]+")
_SPACE = re.compile(r"\s+")


def normalize_caption(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed: ``"A dog barks."`` -> ``"a dog barks"``."""
    return _SPACE.sub(" ", _NOT_WORD.sub(" ", str(text).lower())).strip()


def _ngrams(words: Sequence[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def sentence_bleu4(candidate: str, references: Sequence[str]) -> float:
    """Unsmoothed sentence BLEU-4 of ``candidate`` against ``references`` (all normalised first); a
    candidate of fewer than 4 words uses the n-gram orders it has. Equal texts score 1."""
    cand = normalize_caption(candidate).split()
    refs = [normalize_caption(r).split() for r in references]
    if not cand or not refs:
        return 0.0
    log_sum, orders = 0.0, min(4, len(cand))  # a caption under 4 words: the orders it has (else BLEU-4 is 0 by length)
    for n in range(1, orders + 1):
        counts = _ngrams(cand, n)
        best: Counter = Counter()
        for r in refs:
            best |= _ngrams(r, n)
        matched = sum(min(c, best[g]) for g, c in counts.items())
        if matched == 0:
            return 0.0
        log_sum += math.log(matched / sum(counts.values())) / orders
    closest = min((len(r) for r in refs), key=lambda length: (abs(length - len(cand)), length))
    brevity = 1.0 if len(cand) > closest else math.exp(1 - closest / len(cand))
    return brevity * math.exp(log_sum)


def _tfidf(texts: Sequence[str], vocab: dict, idf: dict | None = None) -> tuple[Any, dict]:
    """Unit TF-IDF rows as COO triplets over word 1- to 4-grams; ``vocab`` (n-gram -> column) grows."""
    bags = [Counter(g for n in range(1, 5) for g in _ngrams(t.split(), n)) for t in texts]
    if idf is None:
        df = Counter(g for b in bags for g in b)
        idf = {g: math.log((1 + len(bags)) / (1 + c)) + 1 for g, c in df.items()}
    rows, cols, vals = [], [], []
    for i, bag in enumerate(bags):
        weights = {g: c * idf[g] for g, c in bag.items() if g in idf}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        for g, w in weights.items():
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
            vals.append(w / norm)
    return (rows, cols, vals), idf


def nearest_candidates(
    queries: Sequence[str], bank: Sequence[str], k: int = CANDIDATES, chunk: int = 512
) -> list[list[int]]:
    """For each normalised query, the positions in ``bank`` (normalised) of the ``k`` captions with the
    largest TF-IDF cosine over word 1- to 4-grams (IDF from the bank)."""
    import torch

    vocab: dict = {}
    (br, bc, bv), idf = _tfidf(bank, vocab)
    (qr, qc, qv), _ = _tfidf(queries, vocab, idf)
    size = (len(vocab), len(bank))
    bank_t = torch.sparse_coo_tensor(
        torch.tensor([bc, br], dtype=torch.long).reshape(2, -1), torch.tensor(bv), size, check_invariants=False
    ).coalesce()
    k = min(k, len(bank))
    q_rows, q_cols, q_vals = torch.tensor(qr, dtype=torch.long), torch.tensor(qc, dtype=torch.long), torch.tensor(qv)
    out: list[list[int]] = []
    for a in range(0, len(queries), chunk):
        b = min(a + chunk, len(queries))
        keep = (q_rows >= a) & (q_rows < b)
        q = torch.sparse_coo_tensor(
            torch.stack([q_rows[keep] - a, q_cols[keep]]), q_vals[keep], (b - a, len(vocab)), check_invariants=False
        )
        with warnings.catch_warnings():  # torch: "sparse CSR support is in beta" (the product is exact)
            warnings.simplefilter("ignore", UserWarning)
            scores = torch.sparse.mm(q.coalesce(), bank_t).to_dense() if keep.any() else torch.zeros(b - a, len(bank))
        out += scores.topk(k, dim=1).indices.tolist()
    return out


def text_regime(
    *,
    bank: Sequence[str],
    references: Sequence[Sequence[str]],
    corpus: Sequence[str] | None = None,
    near_bleu: float = NEAR_BLEU,
    candidates: int = CANDIDATES,
) -> dict[str, Any]:
    """The text measures of the module docstring for a bank and the clips' reference lists; ``corpus``
    (the training texts the bank is drawn from) adds its twin share, length and vocabulary."""
    from mats_core.errors import MatsError

    bank_n = [normalize_caption(t) for t in bank]
    refs_n = [[normalize_caption(r) for r in rs] for rs in references if rs]
    if not bank_n or not refs_n:
        raise MatsError("regime: needs a non-empty memory bank and at least one clip with a reference caption")
    bank_set = set(bank_n)
    flat = [r for rs in refs_n for r in rs]
    near_of = nearest_candidates(flat, bank_n, candidates)
    ref_near, clip_near, clip_best, pos = [], [], [], 0
    for rs in refs_n:
        cands = {c for j in range(pos, pos + len(rs)) for c in near_of[j]}
        ref_near += [
            max(sentence_bleu4(bank_n[c], [r]) for c in near_of[j]) >= near_bleu
            for j, r in zip(range(pos, pos + len(rs)), rs)
        ]
        best = max(sentence_bleu4(bank_n[c], rs) for c in cands)
        clip_best.append(best)
        clip_near.append(best >= near_bleu)
        pos += len(rs)
    out: dict[str, Any] = {
        "bank_size": len(bank_n),
        "clips": len(refs_n),
        "references": len(flat),
        "verbatim_reference_share": _mean([r in bank_set for r in flat]),
        "verbatim_clip_share": _mean([any(r in bank_set for r in rs) for rs in refs_n]),
        "near_reference_share": _mean(ref_near),
        "near_clip_share": _mean(clip_near),
        "nearest_bleu4_mean": _mean(clip_best),
        "near_bleu": near_bleu,
        "candidates": candidates,
        "reference_words_mean": _mean([len(r.split()) for r in flat]),
        "bank_words_mean": _mean([len(t.split()) for t in bank_n]),
    }
    if corpus is not None:
        out.update(corpus_measures(corpus))
    return out


def corpus_measures(corpus: Sequence[str]) -> dict[str, Any]:
    """Of the training texts: how many, the share with a verbatim twin elsewhere in the set, words
    per caption and the vocabulary (all after :func:`normalize_caption`)."""
    texts = [normalize_caption(t) for t in corpus]
    counts = Counter(texts)
    return {
        "corpus_captions": len(texts),
        "corpus_unique": len(counts),
        "corpus_twin_share": _mean([counts[t] > 1 for t in texts]),
        "corpus_words_mean": _mean([len(t.split()) for t in texts]),
        "corpus_vocabulary": len({w for t in counts for w in t.split()}),
    }


def memory_only_bound(*, encoder: Any, bank: Sequence[str], references: Sequence[Sequence[str]], metric: Any) -> float:
    """The memory-only upper bound: CIDEr-D (``metric.compute(...)["cider"]``) of the bank caption nearest,
    in the encoder's text space, to the mean of each clip's reference embeddings. This is the number
    ``mats-bench tiny info`` reports as ``oracle_bank_cider``."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        b = F.normalize(encoder.embed_text(list(bank)).float(), dim=-1)
        flat = F.normalize(encoder.embed_text([r for rs in references for r in rs]).float(), dim=-1)
        means = torch.stack([part.mean(0) for part in flat.split([len(rs) for rs in references])])
        nearest = (F.normalize(means, dim=-1) @ b.T).argmax(1).tolist()
    return float(metric.compute([bank[i] for i in nearest], [list(rs) for rs in references])["cider"])


def _mean(values: Sequence[Any]) -> float:
    return float(sum(map(float, values)) / len(values)) if len(values) else float("nan")
