"""Santa (MATS, ICML 2025): pull each audio embedding toward the caption manifold by mixing
it with the most similar noisy caption embeddings of a memory bank.

    s  = normalize(z)                      (raw z when normalize_audio is false, as the code)
    m~ = normalize(m + N(0, retrieval_noise_variance))   for the k retrieved bank rows m
    w  = softmax(temperature * <s, m~_i>)  (temperature multiplies, as in the paper's code)
    out = normalize((1 - lam) * s + lam * sum_i w_i m~_i)

``memory`` is the same bridge with lam = 1 (the audio term dropped).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mats_bridges._ops import check_bank, check_embeddings, gaussian, noise_injection, normalize
from mats_bridges.search import make_index
from mats_core import MatsError

SEARCHES = ("exact", "kmeans", "faiss")
# Queries searched per step; bounds the work tensors of one step for huge batches.
QUERY_BLOCK = 4096
# Queries whose noisy retrieved rows ([step, k, dim]) are materialised at once: cache-sized
# on CPU (32 * 32 * 1024 * 4 B = 4 MiB measured ~2x faster than one big tensor), large on GPU.
NOISE_STEP = {"cpu": 32}
NOISE_STEP_DEFAULT = 1024


def mix(s: Tensor, retrieved: Tensor, lam: float, temperature: float) -> Tensor:
    """out = normalize((1-lam) s + lam sum_i softmax(temperature <s, m_i>)_i m_i); s [B, d], retrieved [B, k, d]."""
    weights = torch.softmax(temperature * torch.einsum("bd,bkd->bk", s, retrieved), dim=1)
    text = torch.einsum("bk,bkd->bd", weights, retrieved)
    return normalize((1.0 - lam) * s + lam * text)


class SantaBridge:
    """Training: noise injection (as ``noise``). Inference: the Santa formula above.

    ``fit`` L2-normalises and keeps the bank (float32 or wider), building the search index
    once (k-means runs here). ``infer`` moves the index to the query's device on first use,
    computes in the wider of the bank's and the query's dtype, and returns the query's dtype.
    ``clusters`` larger than the bank is an error rather than a silent clamp, because it
    would change the published algorithm the user asked for.
    """

    def __init__(
        self,
        k: int = 32,
        lam: float = 0.3,
        temperature: float = 10.0,
        noise_variance: float = 0.015,
        retrieval_noise_variance: float | None = None,
        search: str = "exact",
        clusters: int = 100,
        kmeans_iters: int = 10,
        normalize_audio: bool = True,
        seed: int = 0,
        name: str = "santa",
        pairs_with: str = "noise",
    ):
        self.name = name
        _require(name, "pairs_with", pairs_with, pairs_with in ("clean", "noise"), "'clean' or 'noise'")
        self.pairs_with = pairs_with  # optional bridge attribute: the checkpoint of a set it pairs with
        _require(name, "k", k, isinstance(k, int) and k >= 1, "an integer >= 1")
        _require(name, "lam", lam, _finite(lam) and 0.0 <= lam <= 1.0, "a number in [0, 1]")
        _require(name, "temperature", temperature, _finite(temperature) and temperature > 0, "a number > 0")
        _require(
            name, "noise_variance", noise_variance, _finite(noise_variance) and noise_variance >= 0, "a number >= 0"
        )
        if retrieval_noise_variance is None:
            retrieval_noise_variance = noise_variance
        _require(
            name,
            "retrieval_noise_variance",
            retrieval_noise_variance,
            _finite(retrieval_noise_variance) and retrieval_noise_variance >= 0,
            "a number >= 0 or None",
        )
        _require(name, "search", search, search in SEARCHES, "one of " + ", ".join(SEARCHES))
        _require(name, "clusters", clusters, isinstance(clusters, int) and clusters >= 1, "an integer >= 1")
        _require(
            name, "kmeans_iters", kmeans_iters, isinstance(kmeans_iters, int) and kmeans_iters >= 1, "an integer >= 1"
        )
        self.k, self.lam, self.temperature = k, float(lam), float(temperature)
        self.noise_variance = float(noise_variance)
        self.retrieval_noise_variance = float(retrieval_noise_variance)
        self.search, self.clusters, self.kmeans_iters = search, clusters, kmeans_iters
        self.normalize_audio, self.seed = bool(normalize_audio), int(seed)
        self.index = None
        self.bank_size: int | None = None
        self.dim: int | None = None

    # shown next to the row under a run's table; retrieval noise comes from the checkpoint
    # (results.json: bridge.effective)
    key_params = ("k", "lam", "temperature", "search")

    @property
    def raw_input(self) -> bool:
        """GapBridge capability: with normalize_audio false the core hands ``infer`` the raw
        encoder output, so the published mix of the unnormalised audio vector really happens."""
        return not self.normalize_audio

    # -- GapBridge ----------------------------------------------------------------------
    def fit(self, memory: Tensor) -> None:
        """Validate the caption-embedding bank [N, dim] and build the search index."""
        bank = check_bank(memory, self.name)
        n, dim = bank.shape
        if self.k > n:
            raise MatsError(
                f"bridge '{self.name}': k={self.k} is larger than the memory bank ({n} rows); "
                f"set k <= {n} or fit on more captions"
            )
        if self.search == "kmeans" and self.clusters > n:
            raise MatsError(
                f"bridge '{self.name}': clusters={self.clusters} is larger than the memory bank ({n} rows); "
                f"set clusters <= {n} (the paper uses 100 for ~5k captions) or search='exact'"
            )
        bank = normalize(bank.detach().to(torch.promote_types(bank.dtype, torch.float32)))
        index = make_index(self.search, self.clusters, self.kmeans_iters, self.seed)
        index.fit(bank)
        self.index, self.bank_size, self.dim = index, n, dim

    def train(self, text: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_embeddings(text, f"{self.name}.train(text)")
        return noise_injection(text, self.noise_variance, generator)

    def infer(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.index is None:
            raise MatsError(
                f"bridge '{self.name}': infer() was called before fit(); "
                "call bridge.fit(memory) with the caption embeddings of the training corpus first"
            )
        check_embeddings(audio, f"{self.name}.infer(audio)", self.dim)
        work = torch.promote_types(self.index.rows.dtype, audio.dtype)
        if self.index.rows.device != audio.device or self.index.rows.dtype != work:
            self.index.to(audio.device, work)  # once: the index then stays where the queries are
        z = audio.detach().to(work)
        if z.shape[0] == 0:
            return audio.detach().clone()
        out = [self._infer_block(z[i : i + QUERY_BLOCK], generator) for i in range(0, z.shape[0], QUERY_BLOCK)]
        return torch.cat(out).to(audio.dtype)

    def _infer_block(self, z: Tensor, generator: torch.Generator | None) -> Tensor:
        s = normalize(z) if self.normalize_audio else z
        scores, found = self.index.search(s, self.k)  # [b, k]: <s, m_i> and positions into index.rows
        rows = self.index.rows
        if self.retrieval_noise_variance == 0:
            # Noise-free: the weights come straight from the search scores, and the weighted sum
            # of bank rows is one embedding_bag (no [b, k, dim] copy of the retrieved rows).
            weights = torch.softmax(self.temperature * scores, dim=1)
            text = F.embedding_bag(found, rows, per_sample_weights=weights, mode="sum")
            return normalize((1.0 - self.lam) * s + self.lam * text)
        std = math.sqrt(self.retrieval_noise_variance)
        step = NOISE_STEP.get(s.device.type, NOISE_STEP_DEFAULT)
        out = []
        for a in range(0, s.shape[0], step):
            retrieved = rows[found[a : a + step]]  # unit rows, so normalize(m + e) needs no pre-normalisation
            retrieved.add_(gaussian(tuple(retrieved.shape), retrieved, generator), alpha=std)
            retrieved.div_(torch.linalg.vector_norm(retrieved, dim=-1, keepdim=True).clamp_min_(1e-12))
            out.append(mix(s[a : a + step], retrieved, self.lam, self.temperature))
        return torch.cat(out)

    # -- reporting ----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Everything that determines the output, for results.json."""
        cfg: dict[str, Any] = {
            "name": self.name,
            "k": self.k,
            "lam": self.lam,
            "temperature": self.temperature,
            "noise_variance": self.noise_variance,
            "retrieval_noise_variance": self.retrieval_noise_variance,
            "search": self.search,
            "normalize_audio": self.normalize_audio,
            "seed": self.seed,
            "bank_size": self.bank_size,
        }
        if self.search == "kmeans":
            cfg |= {"clusters": self.clusters, "kmeans_iters": self.kmeans_iters}
        if self.search == "faiss" and self.index is not None:
            cfg["faiss_index"] = self.index.description
        if self.pairs_with != "noise":
            cfg["pairs_with"] = self.pairs_with
        return cfg

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k not in ("name", "bank_size"))
        return f"SantaBridge({params}, name={self.name!r})"


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _require(bridge: str, param: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise MatsError(f"bridge '{bridge}': param '{param}' must be {expected}, got {value!r}")
