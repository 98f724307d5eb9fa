"""The built-in gap bridges (plugins/mats_bridges): formulas checked by hand, the batched
k-means search against the published per-query algorithm, parameter and bank validation."""

import math
import sys

import pytest
import torch
import torch.nn.functional as F

import mats_bridges.santa as santa_mod
import mats_bridges.search as search_mod
from mats_bridges._reference import ReferenceSanta, reference_kmeans
from mats_core import GapBridge, MatsError, build


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def clustered(n, dim, topics, spread=0.3, seed=0):
    """Unit vectors around ``topics`` random centres: k-means has real structure to find."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(topics, dim, generator=g), dim=-1)
    picks = torch.randint(0, topics, (n,), generator=g)
    return F.normalize(centres[picks] + spread / math.sqrt(dim) * torch.randn(n, dim, generator=g), dim=-1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def santa_by_hand(z, bank, k, lam, temperature, normalize_audio=True):
    """The DESIGN.md formula with no retrieval noise, one query at a time, exact top-k by cosine."""
    bank = F.normalize(bank, dim=-1)
    rows = []
    for zi in z:
        s = F.normalize(zi, dim=0) if normalize_audio else zi
        top = (bank @ F.normalize(zi, dim=0)).topk(k).indices
        m = bank[top]
        w = torch.softmax(temperature * (m @ s), dim=0)
        rows.append(F.normalize((1 - lam) * s + lam * (w[:, None] * m).sum(0), dim=0))
    return torch.stack(rows)


# -- registration -------------------------------------------------------------------------
def test_all_bridges_registered_and_conform():
    from mats_core.registry.plugins import get_host

    entries = get_host().entries["bridge"]
    assert {n: entries[n].plugin for n in ("none", "noise", "santa", "memory")} == dict.fromkeys(
        ("none", "noise", "santa", "memory"), "mats_bridges"
    )
    for name in ("none", "noise", "santa", "memory"):
        bridge = build("bridge", name)  # the shipped presets
        assert isinstance(bridge, GapBridge)
        assert bridge.config()["name"] == name


def test_conformance_with_core_checker():
    testing = pytest.importorskip("mats_core.testing")
    bank = clustered(200, 24, topics=10)
    for name, params in [
        ("none", {}),
        ("noise", {}),
        ("santa", {}),
        ("memory", {}),
        ("santa", {"search": "kmeans", "clusters": 8, "k": 8}),
        ("santa", {"search": "faiss", "k": 8}),
    ]:
        if params.get("search") == "faiss":
            pytest.importorskip("faiss")
        testing.check_bridge(build("bridge", name, **params), bank=bank)


def test_config_records_resolved_params():
    cfg = build("bridge", "santa", k=7, noise_variance=0.02).config()
    assert cfg["k"] == 7 and cfg["retrieval_noise_variance"] == 0.02 and cfg["lam"] == 0.3
    assert cfg["temperature"] == 10.0 and cfg["normalize_audio"] is True and cfg["bank_size"] is None
    assert build("bridge", "memory").config()["lam"] == 1.0
    assert build("bridge", "noise", noise_variance=0.1).config() == {"name": "noise", "noise_variance": 0.1}


# -- none / noise -----------------------------------------------------------------------
def test_none_is_identity():
    x = unit(5, 16)
    bridge = build("bridge", "none")
    bridge.fit(torch.full((3, 2), float("nan")))  # the bank is ignored
    assert torch.equal(bridge.train(x, gen()), x) and torch.equal(bridge.infer(x, gen()), x)


@pytest.mark.parametrize("variance", [0.015, 0.004])
def test_noise_train_has_the_configured_variance(variance):
    # normalize(x + N(0, var I)) in d dims has cos(x, out) ~= 1 / sqrt(1 + d var) (0.247 for the
    # paper's 0.015 at 1024-d); a std instead of a variance would give 0.089.
    d, n = 1024, 4000
    x = torch.zeros(n, d)
    x[:, 0] = 1
    out = build("bridge", "noise", noise_variance=variance).train(x, gen(3))
    assert torch.allclose(out.norm(dim=1), torch.ones(n), atol=1e-5)
    assert out[:, 0].mean().item() == pytest.approx(1 / math.sqrt(1 + d * variance), rel=0.02)
    # the noise is isotropic: the orthogonal components have equal spread and zero mean
    per_dim = out[:, 1:].var(dim=0)
    assert per_dim.std() / per_dim.mean() < 0.1 and out[:, 1:].mean().abs().max() < 0.01


def test_noise_is_seeded_and_identity_at_inference():
    x = unit(6, 32)
    bridge = build("bridge", "noise")
    a, b, c = bridge.train(x, gen(1)), bridge.train(x, gen(1)), bridge.train(x, gen(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(bridge.infer(x, gen(1)), x)
    assert torch.allclose(build("bridge", "noise", noise_variance=0).train(2 * x, gen()), x, atol=1e-6)


# -- santa formula -------------------------------------------------------------------------
@pytest.mark.parametrize("k,lam,temperature", [(1, 0.3, 10.0), (5, 0.5, 1.0), (16, 0.3, 10.0), (40, 0.9, 0.5)])
def test_santa_exact_matches_formula(k, lam, temperature):
    bank, z = unit(300, 48, seed=1), unit(20, 48, seed=2)
    bridge = build("bridge", "santa", k=k, lam=lam, temperature=temperature, retrieval_noise_variance=0)
    bridge.fit(bank)
    expected = santa_by_hand(z, bank, k, lam, temperature)
    assert torch.allclose(bridge.infer(z, gen()), expected, atol=1e-5)
    # the noisy path's mixing code with negligible noise gives the same result
    tiny = build("bridge", "santa", k=k, lam=lam, temperature=temperature, retrieval_noise_variance=1e-14)
    tiny.fit(bank)
    assert torch.allclose(tiny.infer(z, gen()), expected, atol=1e-5)


def test_santa_unnormalised_bank_is_normalised():
    bank, z = unit(100, 16, seed=1), unit(4, 16, seed=2)
    scaled = bank * torch.linspace(0.5, 3, 100)[:, None]
    a, b = (build("bridge", "santa", k=8, retrieval_noise_variance=0) for _ in range(2))
    a.fit(bank), b.fit(scaled)
    assert torch.allclose(a.infer(z, gen()), b.infer(z, gen()), atol=1e-6)


def test_lam_one_is_the_memory_bridge_and_lam_zero_the_input():
    bank, z = clustered(400, 32, topics=12), unit(10, 32, seed=5)
    for search in ("exact", "kmeans"):
        santa = build("bridge", "santa", lam=1.0, k=12, search=search, clusters=10)
        memory = build("bridge", "memory", k=12, search=search, clusters=10)
        santa.fit(bank), memory.fit(bank)
        assert torch.equal(santa.infer(z, gen(4)), memory.infer(z, gen(4)))
        zero = build("bridge", "santa", lam=0.0, k=12, search=search, clusters=10)
        zero.fit(bank)
        assert torch.allclose(zero.infer(3 * z, gen(4)), z, atol=1e-6)


def test_memory_params_are_santas_without_lam():
    import inspect

    from mats_core.registry.plugins import get_host
    from mats_core.registry.presets import resolved_params

    santa, memory = (inspect.signature(get_host().get("bridge", n).factory).parameters for n in ("santa", "memory"))
    assert list(memory) == [n for n in santa if n != "lam"]
    assert all(memory[n].annotation == santa[n].annotation and memory[n].default == santa[n].default for n in memory)
    santa_defaults = resolved_params("bridge", "santa")["params"]
    assert resolved_params("bridge", "memory")["params"] == {k: v for k, v in santa_defaults.items() if k != "lam"}
    with pytest.raises(MatsError, match="bridge 'memory': unknown param 'lam'"):
        build("bridge", "memory", lam=0.5)
    with pytest.raises(MatsError, match="bridge 'memory': param 'k': Input should be greater than or equal to 1"):
        build("bridge", "memory", k=0)


def test_normalize_audio_false_mixes_the_raw_vector():
    bank, z = unit(200, 32, seed=1), 30 * unit(6, 32, seed=2)  # published audio norms are ~32
    raw = build("bridge", "santa", k=8, normalize_audio=False, retrieval_noise_variance=0)
    raw.fit(bank)
    out = raw.infer(z, gen())
    assert torch.allclose(out, santa_by_hand(z, bank, 8, 0.3, 10.0, normalize_audio=False), atol=1e-5)
    # with a norm-30 audio term the text part barely moves the result; normalised, it does
    unit_out = build("bridge", "santa", k=8, retrieval_noise_variance=0)
    unit_out.fit(bank)
    zn = F.normalize(z, dim=-1)
    moved_raw = 1 - (out * zn).sum(1)
    moved_unit = 1 - (unit_out.infer(z, gen()) * zn).sum(1)
    assert bool((moved_raw < 0.01 * moved_unit).all()), (moved_raw, moved_unit)


def test_santa_noise_is_seeded():
    bank, z = unit(100, 16, seed=1), unit(5, 16, seed=2)
    bridge = build("bridge", "santa", k=8)
    bridge.fit(bank)
    a, b, c = bridge.infer(z, gen(1)), bridge.infer(z, gen(1)), bridge.infer(z, gen(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.allclose(a.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.equal(bridge.train(z, gen(1)), build("bridge", "noise").train(z, gen(1)))


def test_dtype_is_kept_and_float64_is_computed_in_float64():
    bank, z = unit(100, 16, seed=1), unit(5, 16, seed=2)
    bridge = build("bridge", "santa", k=8, retrieval_noise_variance=0)
    bridge.fit(bank)
    assert bridge.infer(z.half(), gen()).dtype == torch.float16
    out64 = bridge.infer(z.double(), gen())
    assert out64.dtype == torch.float64
    assert torch.allclose(out64, santa_by_hand(z.double(), bank.double(), 8, 0.3, 10.0), atol=1e-12)
    assert bridge.infer(z[:0], gen()).shape == (0, 16)


# -- k-means search vs the published per-query algorithm -----------------------------------
@pytest.mark.parametrize(
    "n,clusters,k,normalize_audio", [(600, 12, 16, True), (400, 20, 32, True), (500, 10, 8, False)]
)
def test_batched_kmeans_equals_reference_loop(n, clusters, k, normalize_audio):
    # (400, 20, 32): ~20 members per cluster < k, so the padding path runs for most queries
    bank = clustered(n, 40, topics=15, seed=n)
    z = F.normalize(bank[:50] + 0.2 * unit(50, 40, seed=9), dim=-1)
    if not normalize_audio:
        z = z * 25
    bridge = build(
        "bridge",
        "santa",
        search="kmeans",
        clusters=clusters,
        k=k,
        kmeans_iters=10,
        seed=3,
        retrieval_noise_variance=0,
        normalize_audio=normalize_audio,
    )
    bridge.fit(bank)
    ref = ReferenceSanta(k=k, clusters=clusters, iters=10, seed=3, noise_variance=0, normalize_audio=normalize_audio)
    ref.fit(bank)
    assert torch.allclose(bridge.index.centroids, ref.centroids, atol=1e-6)
    labels = torch.empty(n, dtype=torch.long)
    for c, ids in enumerate(ref.member_ids):
        labels[ids] = c
    assert torch.equal(bridge.index.labels, labels)
    assert torch.allclose(bridge.infer(z, gen()), ref.infer(z), atol=1e-5)
    # retrieved multisets equal the reference's, padding included
    s = F.normalize(z, dim=-1) if normalize_audio else z
    _, found = bridge.index.search(s, k)
    ours = bridge.index.order[found].sort(dim=1).values
    theirs = torch.stack([ref.retrieve(si).sort().values for si in s])
    assert torch.equal(ours, theirs)
    if n == 400:  # the padding case really ran: some query's cluster had fewer than k members
        assert any(len(ref.member_ids[int(c)]) < k for c in bridge.index.labels[bridge.index.order[found[:, 0]]])


def test_kmeans_with_empty_clusters():
    # 3 distinct rows repeated: duplicate initial centroids leave clusters empty for good
    bank = unit(3, 8, seed=4).repeat_interleave(10, dim=0)
    bridge = build("bridge", "santa", search="kmeans", clusters=6, k=4, retrieval_noise_variance=0)
    bridge.fit(bank)
    assert not bool(bridge.index.valid.all())
    ref = ReferenceSanta(k=4, clusters=6, noise_variance=0)
    ref.fit(bank)
    z = unit(12, 8, seed=6)
    assert torch.allclose(bridge.infer(z, gen()), ref.infer(z), atol=1e-6)


def test_reference_kmeans_is_seeded():
    bank = clustered(300, 16, topics=8)
    a, b, c = (reference_kmeans(bank, 8, seed=s)[0] for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_chunked_search_paths_agree(monkeypatch):
    bank, z = clustered(300, 24, topics=9), unit(33, 24, seed=8)
    exact, km = (
        build("bridge", "santa", k=10, search=s, clusters=9, retrieval_noise_variance=0) for s in ("exact", "kmeans")
    )
    exact.fit(bank), km.fit(bank)
    want_exact, want_km = exact.infer(z, gen()), km.infer(z, gen())
    monkeypatch.setattr(search_mod, "SCORE_BLOCK", 256)  # bank scanned in 256 // 33 = 7-row chunks
    monkeypatch.setattr(santa_mod, "QUERY_BLOCK", 7)
    exact2, km2 = (
        build("bridge", "santa", k=10, search=s, clusters=9, retrieval_noise_variance=0) for s in ("exact", "kmeans")
    )
    exact2.fit(bank), km2.fit(bank)
    assert torch.allclose(exact2.infer(z, gen()), want_exact, atol=1e-6)
    assert torch.equal(km2.index.labels, km.index.labels)
    assert torch.allclose(km2.infer(z, gen()), want_km, atol=1e-6)


# -- faiss ----------------------------------------------------------------------------------
def test_faiss_agrees_with_exact():
    pytest.importorskip("faiss")
    bank, z = unit(2000, 64, seed=1), unit(50, 64, seed=2)
    exact, fs = (build("bridge", "santa", k=16, search=s, retrieval_noise_variance=0) for s in ("exact", "faiss"))
    exact.fit(bank), fs.fit(bank)
    _, a = exact.index.search(z, 16)
    _, b = fs.index.search(z, 16)
    recall = sum(len(set(x.tolist()) & set(y.tolist())) for x, y in zip(a, b)) / a.numel()
    assert recall == 1.0
    assert torch.allclose(exact.infer(z, gen()), fs.infer(z, gen()), atol=1e-5)
    assert fs.config()["faiss_index"].startswith("Flat")


def test_faiss_ivf_for_large_banks(monkeypatch):
    pytest.importorskip("faiss")
    monkeypatch.setattr(search_mod, "FAISS_IVF_MIN_ROWS", 1000)  # the IVF branch without a 1M-row bank
    bank = clustered(3000, 32, topics=40)
    z = F.normalize(bank[:40] + 0.1 * unit(40, 32, seed=3), dim=-1)
    exact, ivf = (build("bridge", "santa", k=8, search=s, retrieval_noise_variance=0) for s in ("exact", "faiss"))
    exact.fit(bank), ivf.fit(bank)
    assert ivf.config()["faiss_index"].startswith("IVF54,Flat")
    _, a = exact.index.search(z, 8)
    _, b = ivf.index.search(z, 8)
    assert (a.unsqueeze(2) == b.unsqueeze(1)).any(dim=2).float().mean() > 0.9
    assert torch.allclose(ivf.infer(z, gen()).norm(dim=1), torch.ones(40), atol=1e-5)


def test_faiss_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    bridge = build("bridge", "santa", search="faiss", k=2)
    with pytest.raises(MatsError, match=r"pip install 'mats-bench\[faiss\]'"):
        bridge.fit(unit(10, 8))


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params,message",
    [
        ({"lam": 1.5}, "param 'lam': Input should be less than or equal to 1"),
        ({"lam": -0.1}, "param 'lam': Input should be greater than or equal to 0"),
        ({"temperature": 0}, "param 'temperature': Input should be greater than 0"),
        ({"temperature": -2.0}, "param 'temperature': Input should be greater than 0"),
        ({"k": 0}, "param 'k': Input should be greater than or equal to 1"),
        ({"noise_variance": float("nan")}, "param 'noise_variance': Input should be a finite number"),
        ({"search": "annoy"}, "param 'search': Input should be 'exact', 'kmeans' or 'faiss'"),
        ({"clusters": 0}, "param 'clusters'"),
        ({"lambda": 0.3}, "unknown param 'lambda'"),
    ],
)
def test_bad_params_name_the_field(params, message):
    with pytest.raises(MatsError, match="bridge 'santa'") as err:
        build("bridge", "santa", **params)
    assert message in str(err.value)


def test_direct_construction_validates_too():
    from mats_bridges.santa import SantaBridge

    with pytest.raises(MatsError, match="param 'lam' must be a number in \\[0, 1\\], got 2"):
        SantaBridge(lam=2)
    with pytest.raises(MatsError, match="param 'search' must be one of exact, kmeans, faiss"):
        SantaBridge(search="flat")


@pytest.mark.parametrize(
    "bank,message",
    [
        (unit(10, 8), "k=32 is larger than the memory bank (10 rows); set k <= 10"),
        (
            torch.tensor([[1.0, 0.0], [float("nan"), 1.0]]).repeat(20, 1),
            "NaN/inf values in 20 of 40 rows (first: row 1)",
        ),
        (unit(50, 8)[0], "must be 2-D [N, dim]"),
        (torch.zeros(0, 8), "is empty"),
        (torch.zeros(40, 8), "40 all-zero rows"),
        (torch.ones(40, 8, dtype=torch.long), "must be floating point"),
        ([[1.0, 0.0]] * 40, "must be a torch.Tensor"),
    ],
)
def test_bad_banks_fail_at_fit(bank, message):
    with pytest.raises(MatsError, match="bridge 'santa': memory bank|bridge 'santa': k=") as err:
        build("bridge", "santa").fit(bank)
    assert message in str(err.value)


def test_clusters_larger_than_bank_and_infer_before_fit():
    with pytest.raises(MatsError, match=r"clusters=100 is larger than the memory bank \(60 rows\); set clusters <= 60"):
        build("bridge", "santa", search="kmeans", k=4).fit(unit(60, 8))
    with pytest.raises(MatsError, match=r"bridge 'memory': infer\(\) was called before fit\(\)"):
        build("bridge", "memory").infer(unit(2, 8), gen())
    bridge = build("bridge", "santa", k=4)
    bridge.fit(unit(60, 8))
    with pytest.raises(MatsError, match="embeddings have dim 16 but the memory bank has dim 8"):
        bridge.infer(unit(2, 16), gen())
    with pytest.raises(MatsError, match=r"expected shape \[batch, dim\], got \(8,\)"):
        bridge.infer(unit(8), gen())


# -- CUDA -------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("search", ["exact", "kmeans"])
def test_cuda_matches_cpu(search):
    bank, z = clustered(800, 32, topics=10), unit(40, 32, seed=3)
    cpu = build("bridge", "santa", search=search, clusters=10, k=8, retrieval_noise_variance=0)
    cpu.fit(bank)
    gpu = build("bridge", "santa", search=search, clusters=10, k=8, retrieval_noise_variance=0)
    gpu.fit(bank.cuda())
    out = gpu.infer(z.cuda(), torch.Generator("cuda").manual_seed(0))
    assert out.device.type == "cuda"
    assert torch.allclose(out.cpu(), cpu.infer(z, gen()), atol=1e-5)
    noisy = build("bridge", "santa", search=search, clusters=10, k=8)
    noisy.fit(bank)  # fitted on CPU, queried on CUDA with a CPU generator: seeded all the same
    first = noisy.infer(z.cuda(), gen(5))
    assert first.device.type == "cuda" and torch.equal(first, noisy.infer(z.cuda(), gen(5)))


def test_audio_statistics_reach_a_bridge_when_the_llm_has_no_device():
    """`device` is an optional LLM member: the `shift` bridge's audio pre-pass must not need it."""
    from types import SimpleNamespace

    from mats_core.run.bridge_stats import fit_audio

    audio = unit(6, 8, seed=1)

    class Pipe:
        llm = SimpleNamespace(hidden_size=4, template="{audio}{instruction}")  # the v1 members only, no device

        def embed_audio(self, samples, cfg):
            return audio[: len(samples)], list(range(len(samples))), []

    bridge = build("bridge", "shift")
    assert fit_audio(Pipe(), bridge, list(range(6)), SimpleNamespace(bridge_block=4)) == 6
    bridge.fit(unit(10, 8, seed=2))
    assert torch.isfinite(bridge.infer(audio, gen())).all()
