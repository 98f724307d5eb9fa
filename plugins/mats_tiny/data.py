"""Splits of the tiny world: scenes, text records and evaluation samples.

Every split draws its scenes from its own seed range, so no scene (audio or text) is
shared between splits:

* ``clap-pairs``: audio + captions, used only to train the tiny CLAP (the stand-in for a
  CLAP pretrained elsewhere);
* ``text-train``: TEXT ONLY, the MATS training corpus (and the tiny LM's pretraining text);
  a few class pairs (:data:`HELDOUT_PAIRS`) never occur in it, to measure compositional
  generalisation;
* ``val`` / ``test``: audio with 5 reference captions, labels and questions; a share of
  their mixtures uses the held-out pairs on purpose (``Sample.meta["heldout"]``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from mats_tiny import text as T
from mats_tiny.world import BACKGROUNDS, CLASSES, COUNTABLE, PITCHED, REPEATEDLY, SNR_DB, Scene, Source, render
from mats_core import MatsError

SPLITS = ("clap-pairs", "text-train", "val", "test")
SIZES = {"clap-pairs": 4000, "text-train": 20000, "val": 200, "test": 300}
_SPLIT_ID = {name: i + 1 for i, name in enumerate(SPLITS)}
HELDOUT_PAIRS = (("bark", "bell"), ("siren", "bird"), ("drum", "rain"), ("clap", "alarm"))
HELDOUT_SHARE = 0.2  # of val/test mixtures forced onto a held-out pair
TASKS = ("caption", "classification", "qa")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise MatsError(f"split: unknown split {split!r}; splits are {', '.join(SPLITS)}")


def scene_seed(split: str, index: int, seed: int = 0) -> int:
    """Seed of the ``index``-th scene of ``split``: disjoint ranges per (seed, split)."""
    if not 0 <= index < 10**7:
        raise MatsError(f"index must be in [0, 1e7), got {index}")
    return (seed * 16 + _SPLIT_ID[split]) * 10**7 + index


def is_heldout(classes) -> bool:
    cs = set(classes)
    return any(a in cs and b in cs for a, b in HELDOUT_PAIRS)


def sample_scene(split: str, index: int, seed: int = 0) -> Scene:
    """Draw one scene's structure from its seed (the audio's variation comes at render)."""
    s = scene_seed(split, index, seed)
    rng = np.random.default_rng([s, 0])
    k = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    if k >= 2 and split in ("val", "test") and rng.random() < HELDOUT_SHARE:
        pair = list(HELDOUT_PAIRS[int(rng.integers(len(HELDOUT_PAIRS)))])
        rest = [c for c in CLASSES if c not in pair]
        classes = pair + list(rng.choice(rest, k - 2, replace=False))
        classes = [classes[i] for i in rng.permutation(k)]
    else:
        while True:
            classes = list(rng.choice(CLASSES, k, replace=False))
            if split != "text-train" or not is_heldout(classes):
                break
    sources = []
    for c in classes:
        count = int(rng.choice([1, 2, 3, REPEATEDLY], p=[0.3, 0.3, 0.2, 0.2])) if c in COUNTABLE else None
        loud = str(rng.choice(["quiet", "normal", "loud"], p=[0.25, 0.5, 0.25]))
        pitch = rng.choice(["none", "low", "high"], p=[0.4, 0.3, 0.3]) if c in PITCHED else "none"
        sources.append(Source(str(c), count, loud, None if pitch == "none" else str(pitch)))
    overlap = k == 2 and bool(rng.random() < 0.4)
    background = None
    if rng.random() < 0.35:
        options = [b for b in BACKGROUNDS if b not in classes]
        background = str(options[int(rng.integers(len(options)))])
    snr = round(float(rng.uniform(*SNR_DB)), 1)
    return Scene(tuple(sources), overlap=overlap, background=background, snr_db=snr, seed=s)


@lru_cache(maxsize=16)
def _scenes(split: str, n: int, seed: int) -> tuple[Scene, ...]:
    return tuple(sample_scene(split, i, seed) for i in range(n))


def make_scenes(split: str, n: int | None = None, seed: int = 0) -> list[Scene]:
    """The first ``n`` scenes of ``split`` (default: the split's size, :data:`SIZES`)."""
    _check_split(split)
    return list(_scenes(split, SIZES[split] if n is None else int(n), seed))


def text_record(scene: Scene) -> dict[str, str]:
    """One training record {text, instruction, answer, task} from a scene (text only)."""
    rng = np.random.default_rng([scene.seed, 3])
    single = len(scene.sources) == 1
    task = str(rng.choice(TASKS, p=[0.4, 0.3, 0.3] if single else [0.55, 0.0, 0.45]))
    caps = T.captions(scene, k=2)
    text = caps[0]
    if task == "caption":
        return {"text": text, "instruction": T.pick(rng, T.CAPTION_PROMPTS),
                "answer": caps[int(rng.integers(2))], "task": task}
    if task == "classification":
        return {"text": text, "instruction": T.pick(rng, T.CLASSIFY_PROMPTS), "answer": T.label(scene), "task": task}
    _, question, answer = _question(scene, rng)
    return {"text": text, "instruction": question, "answer": answer, "task": task}


def _question(scene: Scene, rng: np.random.Generator) -> tuple[str, str, str]:
    """One question of a uniformly drawn kind (presence / count / order / overlap / loudness)."""
    absent = [c for c in CLASSES if c not in scene.classes]
    qs = T.questions(scene, rng, absent=str(absent[int(rng.integers(len(absent)))]))
    kinds = sorted({q[0] for q in qs})
    kind = kinds[int(rng.integers(len(kinds)))]
    pool = [q for q in qs if q[0] == kind]
    return pool[int(rng.integers(len(pool)))]


def text_records(split: str = "text-train", n: int | None = None, seed: int = 0) -> list[dict[str, str]]:
    """``n`` training records, one per scene of ``split`` (default the split's size)."""
    return [text_record(s) for s in make_scenes(split, n, seed)]


def rendered_samples(task: str, split: str = "test", n: int | None = None, seed: int = 0) -> list:
    """Evaluation samples of ``task`` (caption | classification | qa) with rendered audio.

    caption: 5 references; classification: single-source clips, ``label`` and ``labels``
    (the class set); qa: one question per clip, ``references == [answer]``. ``n`` caps the
    number of samples returned (audio is rendered only for those).

    The samples are those of :func:`mats_tiny.tasks.lazy_samples` (defined once, there), with
    every clip rendered now: for callers that want arrays, not audio rendered on first access."""
    from mats_tiny.tasks import lazy_samples  # tasks imports this module: a local import

    if task not in TASKS:
        raise MatsError(f"task: unknown task {task!r}; tasks are {', '.join(TASKS)}")
    samples = lazy_samples(task, split=split, n=n, seed=seed)
    for s in samples:
        s.audio  # noqa: B018 - renders the clip and keeps it
    return samples


def fingerprint(seed: int = 0, n: int = 16) -> str:
    """sha256 over the first ``n`` clips and captions of every split and ``4 n`` text records:
    a cheap check that a machine regenerates the recorded world bit for bit (float maths may
    differ across CPU instruction sets, so compare it on the machine that built)."""
    from mats_tiny.world import content_hash

    scenes = [s for split in SPLITS for s in make_scenes(split, n, seed)]
    texts = [c for s in scenes for c in T.captions(s)]
    texts += [f"{r['task']}\t{r['text']}\t{r['instruction']}\t{r['answer']}" for r in text_records(n=4 * n, seed=seed)]
    return content_hash((render(s) for s in scenes), texts)
