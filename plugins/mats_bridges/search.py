"""Memory-bank retrieval for Santa: exact top-k, the published k-means scheme, and faiss.

Every index keeps the (L2-normalised) bank as ``rows`` in its own order and answers
``search(queries [B, dim], k) -> (scores [B, k], positions [B, k])``: the dot products and the
positions into ``rows`` of the retrieved entries. All paths are batched: no Python loop runs
per query. Because bank rows are unit vectors, ranking by L2 distance (the published code)
and by dot product (what we compute) gives the same order.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mats_core import MatsError

# Largest score matrix (elements) materialised at once: 2**25 floats = 128 MiB in fp32.
# Banks of millions of rows are scanned in chunks of this size and the top-k merged.
SCORE_BLOCK = 2**25
# faiss: above this many rows use an IVF index (approximate) instead of a flat one.
FAISS_IVF_MIN_ROWS = 1_000_000
FAISS_NPROBE = 32


def topk_dot(queries: Tensor, rows: Tensor, k: int, offset: int = 0) -> tuple[Tensor, Tensor]:
    """(scores, indices + ``offset``) of the ``k`` rows with the largest dot product, per query.

    One matmul + topk when the [B, N] score matrix fits in ``SCORE_BLOCK`` elements;
    otherwise the bank is scanned in chunks and the running top-k merged.
    """
    n = rows.shape[0]
    chunk = max(k, SCORE_BLOCK // max(1, queries.shape[0]))
    if chunk >= n:
        val, idx = queries.matmul(rows.T).topk(k, dim=1)
        return val, idx + offset
    best_val = best_idx = None
    for start in range(0, n, chunk):
        scores = queries.matmul(rows[start : start + chunk].T)
        val, idx = scores.topk(min(k, scores.shape[1]), dim=1)
        idx += start + offset
        if best_val is not None:
            val, pos = torch.cat([best_val, val], dim=1).topk(k, dim=1)
            idx = torch.cat([best_idx, idx], dim=1).gather(1, pos)
        best_val, best_idx = val, idx
    return best_val, best_idx


class ExactIndex:
    """Top-k by cosine over the whole bank (the paper's "without K-means" ablation)."""

    kind = "exact"

    def fit(self, bank: Tensor) -> None:
        self.rows = bank

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        self.rows = self.rows.to(device=device, dtype=dtype)

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        return topk_dot(queries, self.rows, k)


def nearest_centroid(x: Tensor, centroids: Tensor, valid: Tensor | None = None) -> Tensor:
    """Index of the L2-nearest centroid per row of ``x`` (chunked; ``valid`` masks centroids).

    argmin_c |x - c|^2 = argmin_c (|c|^2 - 2 <x, c>): one addmm per chunk, ~2.5x faster on
    CPU than ``torch.cdist``, which also takes square roots the argmin does not need.
    """
    out = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    sq = centroids.square().sum(dim=1)
    if valid is not None:
        sq = sq.masked_fill(~valid, math.inf)
    chunk = max(1, SCORE_BLOCK // max(1, centroids.shape[0]))
    for start in range(0, x.shape[0], chunk):
        out[start : start + chunk] = torch.addmm(sq, x[start : start + chunk], centroids.T, alpha=-2).argmin(dim=1)
    return out


def kmeans(bank: Tensor, clusters: int, iters: int, seed: int) -> tuple[Tensor, Tensor]:
    """Euclidean k-means as published: (centroids [C, dim], labels [N]).

    Centroids start at ``clusters`` bank rows chosen by ``torch.randperm`` on a CPU generator
    seeded with ``seed`` (so the init does not depend on the device); each iteration assigns
    rows to the nearest centroid and moves every non-empty cluster's centroid to its mean
    (an empty cluster keeps its old centroid). Labels are a final assignment to the final
    centroids, so a cluster may end up empty.
    """
    g = torch.Generator().manual_seed(seed)
    init = torch.randperm(bank.shape[0], generator=g)[:clusters].to(bank.device)
    centroids = bank[init].clone()
    for _ in range(iters):
        labels = nearest_centroid(bank, centroids)
        counts = torch.bincount(labels, minlength=clusters)
        sums = torch.zeros_like(centroids).index_add_(0, labels, bank)
        means = sums / counts.clamp(min=1).unsqueeze(1).to(bank.dtype)
        centroids = torch.where((counts > 0).unsqueeze(1), means, centroids)
    return centroids, nearest_centroid(bank, centroids)


class KMeansIndex:
    """The published retrieval: nearest k-means centroid, then the k L2-nearest members of
    that cluster; a cluster with fewer than k members is padded with its first member
    (lowest bank index), as the published code does.

    ``fit`` sorts the bank by cluster (stable, so members keep bank order) so that each
    cluster is a contiguous slice of ``rows``. ``search`` groups the batch by cluster and runs
    one matmul + topk per *distinct cluster in the batch* (at most ``clusters`` iterations,
    independent of the batch size). A padded [B, max_cluster, dim] gather would need
    B x max_cluster x dim floats (gigabytes for 50k-row banks), so it is avoided.

    Deviation: the published code crashes when a query's nearest centroid has no members
    (possible after the final assignment); here empty clusters are never chosen.
    """

    kind = "kmeans"

    def __init__(self, clusters: int, iters: int, seed: int):
        self.clusters, self.iters, self.seed = clusters, iters, seed

    def fit(self, bank: Tensor) -> None:
        self.centroids, labels = kmeans(bank, self.clusters, self.iters, self.seed)
        order = torch.sort(labels, stable=True).indices
        self.order = order  # rows[i] == bank[order[i]]
        self.rows = bank[order]
        self.labels = labels
        counts = torch.bincount(labels, minlength=self.clusters)
        self.valid = counts > 0
        self.counts = counts.tolist()
        self.offsets = [0] + torch.cumsum(counts, 0).tolist()

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        self.rows = self.rows.to(device=device, dtype=dtype)
        self.centroids = self.centroids.to(device=device, dtype=dtype)
        self.valid = self.valid.to(device)

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        nearest = nearest_centroid(queries, self.centroids, self.valid)
        qorder = torch.sort(nearest, stable=True).indices
        sorted_q = queries[qorder]
        present, per_cluster = torch.unique_consecutive(nearest[qorder], return_counts=True)
        found = torch.empty(queries.shape[0], k, dtype=torch.long, device=queries.device)
        scores = torch.empty(queries.shape[0], k, dtype=queries.dtype, device=queries.device)
        qa = 0
        for c, nq in zip(present.tolist(), per_cluster.tolist()):
            ma, n = self.offsets[c], self.counts[c]
            q = sorted_q[qa : qa + nq]
            kk = min(k, n)
            scores[qa : qa + nq, :kk], found[qa : qa + nq, :kk] = topk_dot(q, self.rows[ma : ma + n], kk, offset=ma)
            if kk < k:  # pad with the cluster's first member, the copies ranked beside it as published
                self._pad(scores[qa : qa + nq], found[qa : qa + nq], kk, ma)
            qa += nq
        out_scores, out_found = torch.empty_like(scores), torch.empty_like(found)
        out_scores[qorder], out_found[qorder] = scores, found
        return out_scores, out_found

    @staticmethod
    def _pad(scores: Tensor, found: Tensor, kk: int, first: int) -> None:
        """Fill columns kk.. with the cluster's first member (``first``) and re-sort, in place, so
        that its copies sit next to it (a stable sort on equal scores), where the published
        top-k by distance puts them; the noise drawn per position then lands as published."""
        own = scores[:, :kk].gather(1, (found[:, :kk] == first).to(torch.uint8).argmax(dim=1, keepdim=True))
        found[:, kk:] = first
        scores[:, kk:] = own
        ranked, order = scores.sort(dim=1, descending=True, stable=True)
        scores.copy_(ranked)
        found.copy_(found.gather(1, order))


class FaissIndex:
    """Inner-product search with faiss (optional dependency) for banks of millions of rows.

    A flat index (exact) below ``FAISS_IVF_MIN_ROWS`` rows; above, an IVF index with
    sqrt(N) lists and ``FAISS_NPROBE`` probes (approximate, much faster). faiss runs on
    the CPU: queries on another device are copied there and the indices copied back.
    """

    kind = "faiss"

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, bank: Tensor) -> None:
        try:
            import faiss
        except ImportError:
            raise MatsError(
                "bridge search='faiss' needs the faiss package: pip install 'mats-bench[faiss]' "
                "(or use search='exact' or 'kmeans')"
            ) from None
        self.rows = bank
        data = bank.detach().to("cpu", torch.float32).contiguous().numpy()
        n, dim = data.shape
        if n >= FAISS_IVF_MIN_ROWS:
            nlist = int(math.sqrt(n))
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = self.seed
            # train the coarse quantizer on a seeded sample of 64 rows per list (faiss' own
            # guidance is 39..256): training on all 5M rows would take far longer than search
            sample = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))[: 64 * nlist]
            index.train(data[sample.sort().values.numpy()])
            index.nprobe = FAISS_NPROBE
            self.description = f"IVF{nlist},Flat (inner product, nprobe {FAISS_NPROBE})"
        else:
            index = faiss.IndexFlatIP(dim)
            self.description = "Flat (inner product, exact)"
        index.add(data)
        self.index = index

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        self.rows = self.rows.to(device=device, dtype=dtype)

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        q = queries.detach().to("cpu", torch.float32).contiguous().numpy()
        dots, found = self.index.search(q, k)
        val, idx = torch.from_numpy(dots), torch.from_numpy(found)
        missing = idx < 0  # IVF may find fewer than k candidates in the probed lists
        if bool(missing.any()):
            if bool(missing[:, 0].any()):
                raise MatsError("faiss found no neighbour for some queries; the IVF index is too sparse for this bank")
            idx = torch.where(missing, idx[:, :1].expand_as(idx), idx)
            val = torch.where(missing, val[:, :1].expand_as(val), val)
        return val.to(queries.device, queries.dtype), idx.to(queries.device)


def make_index(search: str, clusters: int, iters: int, seed: int) -> ExactIndex | KMeansIndex | FaissIndex:
    if search == "exact":
        return ExactIndex()
    if search == "kmeans":
        return KMeansIndex(clusters, iters, seed)
    if search == "faiss":
        return FaissIndex(seed)
    raise MatsError(f"unknown search '{search}'; choose exact, kmeans or faiss")
