"""Reference oracle for Santa: a plain, per-query re-implementation of the PUBLISHED inference.

Used by tests and ``benchmarks/bench_santa.py`` to check the batched bridge, never by the
bridge itself. Written from the paper's description (notes/mats-paper.md §1.3), favouring
readability over speed:

1. k-means over the bank: ``clusters`` centroids initialised from bank rows picked by
   ``torch.randperm`` (CPU generator seeded with ``seed``); ``iters`` rounds of "assign each
   row to the L2-nearest centroid, move each centroid to its members' mean" (sums by
   scatter_add / counts, as published; an empty cluster keeps its centroid); then a final
   assignment. Each cluster stores its members in bank order.
2. For every query, one at a time: nearest centroid by L2 (``torch.cdist``); if the cluster has
   fewer than k members, pad it by repeating its first member; take the k L2-nearest members;
   add noise (normalize -> + N(0, var) -> normalize); weights softmax(temperature * dot);
   mix (1 - lam) * s + lam * sum_i w_i m_i; L2-normalise.

Differences from the published code, all deliberate: clusters are stacked once rather than at
every call; an empty cluster is never chosen (the published code would crash on it); the
audio is L2-normalised first unless ``normalize_audio`` is false (the published behaviour).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def reference_kmeans(
    bank: Tensor, clusters: int, iters: int = 10, seed: int = 0
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """(centroids [C, dim], members per cluster [n_c, dim], bank indices per cluster [n_c])."""
    g = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(bank.shape[0], generator=g)[:clusters].to(bank.device)
    centroids = bank[chosen].clone()
    for _ in range(iters):
        labels = torch.cdist(bank, centroids).argmin(dim=1)
        # new centroid = sum of its members / their count, via scatter_add as published
        sums = torch.zeros_like(centroids).scatter_add_(0, labels[:, None].expand_as(bank), bank)
        counts = torch.bincount(labels, minlength=clusters)
        means = sums / counts.clamp(min=1)[:, None]
        centroids = torch.where(counts[:, None] == 0, centroids, means)  # an empty cluster keeps its centroid
    return centroids, *clusters_of(bank, torch.cdist(bank, centroids).argmin(dim=1), clusters)


def clusters_of(bank: Tensor, labels: Tensor, clusters: int) -> tuple[list[Tensor], list[Tensor]]:
    """Members (in bank order) and their bank indices, per cluster."""
    indices = [torch.nonzero(labels == c).flatten() for c in range(clusters)]
    return [bank[i] for i in indices], indices


class ReferenceSanta:
    """Santa with k-means retrieval, one query at a time (the published algorithm)."""

    def __init__(
        self,
        k: int = 32,
        lam: float = 0.3,
        temperature: float = 10.0,
        noise_variance: float = 0.015,
        clusters: int = 100,
        iters: int = 10,
        normalize_audio: bool = True,
        seed: int = 0,
    ):
        self.k, self.lam, self.temperature = k, lam, temperature
        self.noise_variance, self.normalize_audio = noise_variance, normalize_audio
        self.clusters, self.iters, self.seed = clusters, iters, seed

    def fit(self, bank: Tensor) -> None:
        self.bank = F.normalize(bank.float(), dim=-1)
        self.centroids, self.members, self.member_ids = reference_kmeans(
            self.bank, self.clusters, self.iters, self.seed
        )
        self.empty = torch.tensor([len(ids) == 0 for ids in self.member_ids], device=self.bank.device)

    def use_clustering(self, centroids: Tensor, labels: Tensor) -> None:
        """Replace the k-means result (to compare retrieval alone when two k-means runs differ
        by float rounding, e.g. GPU atomics in the centroid sums)."""
        self.centroids = centroids.to(self.bank)
        self.members, self.member_ids = clusters_of(self.bank, labels.to(self.bank.device), len(centroids))
        self.empty = torch.tensor([len(ids) == 0 for ids in self.member_ids], device=self.bank.device)

    def retrieve(self, s: Tensor) -> Tensor:
        """Bank indices [k] of the retrieved rows for one query vector ``s`` [dim]."""
        distances = torch.cdist(s[None], self.centroids)[0].masked_fill(self.empty, math.inf)
        c = int(distances.argmin())
        members, ids = self.members[c], self.member_ids[c]
        if len(members) < self.k:  # pad with the cluster's first member
            pad = self.k - len(members)
            members = torch.cat([members, members[:1].repeat(pad, 1)])
            ids = torch.cat([ids, ids[:1].repeat(pad)])
        nearest = torch.cdist(s[None], members)[0].topk(self.k, largest=False).indices
        return ids[nearest]

    def infer(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        outputs = []
        for z in audio.float():
            s = F.normalize(z, dim=-1) if self.normalize_audio else z
            m = self.bank[self.retrieve(s)]
            if self.noise_variance > 0:
                where = generator.device if generator is not None else m.device
                noise = torch.randn(m.shape, generator=generator, device=where).to(m.device) * math.sqrt(
                    self.noise_variance
                )
                m = F.normalize(F.normalize(m, dim=-1) + noise, dim=-1)
            weights = torch.softmax(self.temperature * (m @ s), dim=0)
            text = (weights[:, None] * m).sum(dim=0)
            outputs.append(F.normalize((1 - self.lam) * s + self.lam * text, dim=-1))
        return torch.stack(outputs)
