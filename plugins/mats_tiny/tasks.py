"""Benchmark tasks and the training corpus of the tiny world.

The tasks score the rows of samples.jsonl ({id, prediction, references, label, error}),
so a finished run can be re-scored from disk. A row with an error counts as a wrong
answer (an empty prediction), never silently dropped: otherwise a crashing model would
look better than one that answers badly.

Cheap by design, because every ``mats-bench run`` builds the tasks once per bridge row:
samples render their audio on first access (``--limit 10`` renders 10 clips), the metrics
are built once per process (the caption metric starts a METEOR JVM), and the corpus text is
generated once per (split, size, seed) and cached as JSONL under ``MATS_CACHE``.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mats_core import MatsError, Sample
from mats_core.io import atomic_write_text, cache_root
from mats_core.scoring import MetricTask
from mats_tiny import data
from mats_tiny import text as T
from mats_tiny.world import CLASSES, SAMPLE_RATE, Scene, render

METRIC = {"caption": "caption", "classification": "classification", "qa": "qa"}


class LazySample(Sample):
    """A :class:`~mats_core.Sample` whose ``audio`` is rendered from its scene on first access
    (and then kept). Everything else (id, prompt, references, label, meta) is set at once."""

    def __init__(self, scene: Scene, **fields: Any):
        self._scene, self._audio = scene, None
        super().__init__(audio=None, **fields)

    @property
    def audio(self) -> np.ndarray:
        if self._audio is None:
            self._audio = render(self._scene)
        return self._audio

    @audio.setter
    def audio(self, value: np.ndarray | None) -> None:
        self._audio = value

    @property
    def rendered(self) -> bool:
        return self._audio is not None

    @property
    def audio_fingerprint(self) -> str:
        """What decides the waveform (the scene and the renderer's code): the core's audio cache
        keys the clip by it, so a clip embedded before is never rendered again."""
        scene = json.dumps(self._scene.to_dict(), sort_keys=True)
        return hashlib.sha256(f"{_renderer_version()}\n{scene}".encode()).hexdigest()


def lazy_samples(kind: str, split: str = "test", n: int | None = None, seed: int = 0) -> list[LazySample]:
    """The tiny world's evaluation samples (ids, prompts, references, labels, meta), each clip
    rendered on first access so ``--limit N`` renders N clips; :func:`rendered_samples` is the
    rendered form."""
    if kind not in METRIC:
        raise MatsError(f"kind: unknown task kind {kind!r}; kinds are {', '.join(METRIC)}")
    out: list[LazySample] = []
    for i, scene in enumerate(data.make_scenes(split, seed=seed)):
        if n is not None and len(out) >= n:
            break
        if kind == "classification" and len(scene.sources) != 1:
            continue
        parts = data.heldout_parts(scene)
        meta = {
            "scene": scene.to_dict(),
            "classes": list(scene.classes),
            "heldout": bool(parts),
            "heldout_parts": parts,
            "sources": len(scene.sources),
        }
        if kind == "caption":
            refs, instruction, label = T.captions(scene, k=5), T.TEST_PROMPT["caption"], None
        elif kind == "classification":
            refs, instruction, label = [], T.TEST_PROMPT["classification"], T.label(scene)
        else:
            qkind, instruction, answer = data._question(scene, np.random.default_rng([scene.seed, 4]))
            refs, label, meta["question_kind"] = [answer], None, qkind
        out.append(
            LazySample(
                scene,
                id=f"tiny-{split}-{i:05d}",
                instruction=instruction,
                sample_rate=SAMPLE_RATE,
                references=refs,
                label=label,
                labels=list(CLASSES) if kind == "classification" else [],
                meta=meta,
            )
        )
    return out


def paraphrase(scene: Scene, avoid: Sequence[str], seed: int = 0) -> str:
    """A grammar caption of ``scene`` that is none of ``avoid`` (deterministic in scene and ``seed``)."""
    rng = np.random.default_rng([scene.seed, 7, seed])
    for _ in range(500):
        c = T.caption(scene, rng)
        if c not in avoid:
            return c
    raise MatsError(f"scene {scene.seed}: the caption grammar wrote no caption outside its {len(avoid)} references")


def rendered_samples(kind: str, split: str = "test", n: int | None = None, seed: int = 0) -> list[LazySample]:
    """:func:`lazy_samples` with every clip rendered now: for callers that want arrays, not audio
    rendered on first access."""
    samples = lazy_samples(kind, split=split, n=n, seed=seed)
    for s in samples:
        s.audio  # noqa: B018 - renders the clip and keeps it
    return samples


class TinyTask(MetricTask):
    """One task over a split's rendered clips (``kind``: caption | classification | qa).

    ``label_prompt`` (classification) is the zero-shot reference's prompt: it writes each class
    the way the tiny CLAP's training captions do (:class:`mats_tiny.text.LabelPrompt`)."""

    def __init__(self, name: str, kind: str, split: str = "test", limit: int | None = None, seed: int = 0):
        if kind not in METRIC:
            raise MatsError(f"kind: unknown task kind {kind!r}; kinds are {', '.join(METRIC)}")
        self.name, self.kind, self.split, self.limit, self.seed = name, kind, split, limit, seed
        if kind == "classification":
            self.label_prompt = T.LABEL_PROMPT

    def samples(self, split: str | None = None) -> list[LazySample]:
        return lazy_samples(self.kind, split=split or self.split, n=self.limit, seed=self.seed)

    @property
    def metric_name(self) -> str:
        return METRIC[self.kind]

    score_labels = CLASSES  # classification's label set (mats_core.scoring.MetricTask)

    def paraphrases(self, sample: LazySample, seed: int = 0) -> str:
        """Optional task capability (the coverage dial, ``run.oracle_paraphrase``): a new caption of the
        sample's scene from the caption grammar, not one of its references (another annotator's words)."""
        return paraphrase(sample._scene, sample.references, seed)

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        """The metric's scores; for qa also ``accuracy_<kind>`` and ``n_<kind>`` per question
        kind (presence, source, count, ...), read from the sample ids (no audio is rendered)."""
        rows = list(predictions)
        out = super().score(rows, **context)
        if self.kind != "qa" or not rows:
            return out
        kinds = {s.id: s.meta["question_kind"] for s in lazy_samples("qa", split=self.split, seed=self.seed)}
        for kind in T.QUESTION_KINDS:
            subset = [r for r in rows if kinds.get(r.get("id")) == kind]
            if subset:
                out[f"accuracy_{kind}"] = super().score(subset, **context)["accuracy"]
                out[f"n_{kind}"] = float(len(subset))
        return out


class TinyCorpus:
    """Training text of the tiny world: {text, instruction, answer, task} records.

    Generating the 20k records of ``text-train`` takes about 20 s on a busy 2-core CPU, and
    every ``train`` / ``run`` process needs them, so they are cached per (split, size, seed)
    and per version of the generator's source (a changed grammar never reads a stale file)."""

    name = "tiny"

    def __init__(self, split: str = "text-train", n: int | None = None, seed: int = 0):
        self.split, self.n, self.seed = split, n, seed

    def records(self) -> Iterable[dict[str, str]]:
        path = corpus_cache_path(self.split, self.n, self.seed)
        if path.is_file():
            try:
                return [json.loads(line) for line in path.read_text(encoding="ascii").split("\n") if line]
            except (OSError, ValueError):  # a damaged cache file is regenerated, never trusted
                path.unlink(missing_ok=True)
        records = data.text_records(self.split, n=self.n, seed=self.seed)
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records), encoding="ascii")
        return records


def write_corpus(output: Path, *, split: str = "text-train", n: int | None = None, seed: int = 0) -> int:
    """The tiny corpus as a JSONL file any ``--corpus FILE`` reads; returns the records written."""
    if split not in data.SPLITS:
        raise MatsError(f"--split {split}: use {', '.join(data.SPLITS)}")
    records = list(TinyCorpus(split=split, n=n, seed=seed).records())
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, "".join(json.dumps(r) + "\n" for r in records), encoding="ascii")
    return len(records)


def corpus_cache_path(split: str, n: int | None, seed: int) -> Path:
    """``<MATS_CACHE>/tiny/text-<split>-n<size>-seed<seed>-<source hash>.jsonl``."""
    data._check_split(split)
    size = data.SIZES[split] if n is None else int(n)
    return cache_root("tiny") / f"text-{split}-n{size}-seed{seed}-{_generator_version()}.jsonl"


@lru_cache(maxsize=1)
def _renderer_version() -> str:
    """Hash of the modules whose code decides a scene's waveform (world.render and its recipes)."""
    return _source_hash("world.py", "sources.py")


def _generator_version() -> str:
    """Hash of the modules whose code decides the text (a grammar edit invalidates the cache)."""
    return _source_hash("world.py", "sources.py", "text.py", "data.py")


def _source_hash(*modules: str) -> str:
    """12 hex digits of the source of these modules of this package, in order."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(__file__).with_name(module).read_bytes())
    return digest.hexdigest()[:12]
