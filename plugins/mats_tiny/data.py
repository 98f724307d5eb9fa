"""Splits of the tiny world: scenes, text records and the questions of the evaluation samples
(built in :mod:`mats_tiny.tasks`).

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

from mats_core import MatsError
from mats_tiny import text as T
from mats_tiny.world import BACKGROUNDS, CLASSES, COUNTABLE, PITCHED, REPEATEDLY, SNR_DB, Scene, Source, render

SPLITS = ("clap-pairs", "text-train", "val", "test")
SIZES = {"clap-pairs": 5000, "text-train": 20000, "val": 200, "test": 300}
_SPLIT_ID = {name: i + 1 for i, name in enumerate(SPLITS)}
# Compositions never in the training text: class pairs, and class + attribute value pairs.
HELDOUT_PAIRS = (
    ("bark", "bell"),
    ("siren", "bird"),
    ("drum", "rain"),
    ("clap", "alarm"),
    ("meow", "piano"),
    ("train", "cough"),
    ("kettle", "whistle"),
    ("saw", "waves"),
)
HELDOUT_ATTRS = (
    ("bird", "pitch", "low"),
    ("bell", "distance", "far"),
    ("siren", "loudness", "quiet"),
    ("piano", "loudness", "loud"),
    ("bark", "pitch", "high"),
    ("engine", "distance", "near"),
    ("speech", "loudness", "loud"),
    ("clock", "distance", "far"),
)
HELDOUT_SHARE = 0.3  # of val/test scenes forced onto a held-out composition
ZIPF = 1.1  # class frequency in the training text ~ 1 / rank ** ZIPF
TASKS = ("caption", "classification", "qa")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise MatsError(f"split: unknown split {split!r}; splits are {', '.join(SPLITS)}")


def scene_seed(split: str, index: int, seed: int = 0) -> int:
    """Seed of the ``index``-th scene of ``split``: disjoint ranges per (seed, split)."""
    if not 0 <= index < 10**7:
        raise MatsError(f"index must be in [0, 1e7), got {index}")
    return (seed * 16 + _SPLIT_ID[split]) * 10**7 + index


def split_of(scene: Scene) -> tuple[str, int]:
    """(split, world seed) a scene was drawn from: the inverse of :func:`scene_seed`."""
    block = scene.seed // 10**7
    return SPLITS[block % 16 - 1], block // 16


@lru_cache(maxsize=8)
def class_weights(split: str, seed: int = 0) -> np.ndarray:
    """Probability of each class (in :data:`CLASSES` order) as a scene's source: Zipf-like in
    the training text (a head of common classes and a tail seen in few records; the rank
    order is a seeded shuffle, so head and tail mix families), uniform elsewhere (a CLAP
    trained on broad data, and test sets that cover the tail)."""
    if split != "text-train":
        return np.full(len(CLASSES), 1.0 / len(CLASSES))
    rank = np.random.default_rng([seed, 7]).permutation(len(CLASSES))
    w = 1.0 / (rank + 1.0) ** ZIPF
    return w / w.sum()


def heldout_parts(scene: Scene) -> list[str]:
    """The held-out compositions a scene contains ("bark+bell", "bird:pitch=low", ...)."""
    cs = set(scene.classes)
    out = [f"{a}+{b}" for a, b in HELDOUT_PAIRS if a in cs and b in cs]
    out += [f"{c}:{k}={v}" for c, k, v in HELDOUT_ATTRS for s in scene.sources if s.cls == c and getattr(s, k) == v]
    return out


def is_heldout(scene_or_classes) -> bool:
    if isinstance(scene_or_classes, Scene):
        return bool(heldout_parts(scene_or_classes))
    cs = set(scene_or_classes)
    return any(a in cs and b in cs for a, b in HELDOUT_PAIRS)


def _source(c: str, rng: np.random.Generator, forced: tuple[str, str] | None = None) -> Source:
    count = tempo = None
    if c in COUNTABLE:
        count = int(rng.choice([1, 2, 3, REPEATEDLY]))
        if count == REPEATEDLY:
            tempo = [None, "slow", "fast"][int(rng.integers(3))]
    attrs = {
        "loudness": str(rng.choice(["quiet", "normal", "loud"], p=[0.3, 0.4, 0.3])),
        "pitch": [None, "low", "high"][int(rng.integers(3))] if c in PITCHED else None,
        "distance": [None, None, "near", "far"][int(rng.integers(4))],
    }
    if forced:
        attrs[forced[0]] = forced[1]
    return Source(c, count, tempo=tempo, **attrs)


def _forced(split: str, k: int, rng: np.random.Generator) -> tuple[list[str], dict]:
    """Classes (and one attribute) that put a val/test scene on a held-out composition."""
    if k >= 2 and rng.random() < 0.5:
        pair = list(HELDOUT_PAIRS[int(rng.integers(len(HELDOUT_PAIRS)))])
        rest = [c for c in CLASSES if c not in pair]
        return pair + [str(c) for c in rng.choice(rest, k - 2, replace=False)], {}
    c, attr, value = HELDOUT_ATTRS[int(rng.integers(len(HELDOUT_ATTRS)))]
    rest = [x for x in CLASSES if x != c]
    return [c, *(str(x) for x in rng.choice(rest, k - 1, replace=False))], {c: (attr, value)}


def sample_scene(split: str, index: int, seed: int = 0) -> Scene:
    """Draw one scene's structure from its seed (the audio's variation comes at render).
    Training text never holds a held-out composition; a share of val/test is forced onto one."""
    s = scene_seed(split, index, seed)
    rng = np.random.default_rng([s, 0])
    k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    weights = class_weights(split, seed)
    forced = split in ("val", "test") and rng.random() < HELDOUT_SHARE
    for _ in range(1000):
        if forced:
            classes, force = _forced(split, k, rng)
            classes = [classes[i] for i in rng.permutation(k)]
        else:
            classes, force = [str(c) for c in rng.choice(CLASSES, k, replace=False, p=weights)], {}
        overlap = k == 2 and bool(rng.random() < 0.5)
        background = None
        if rng.random() < 0.4:
            options = [b for b, recipe in BACKGROUNDS.items() if recipe not in classes]
            background = str(options[int(rng.integers(len(options)))])
        scene = Scene(
            tuple(_source(c, rng, force.get(c)) for c in classes),
            overlap=overlap,
            background=background,
            snr_db=round(float(rng.uniform(*SNR_DB)), 1),
            seed=s,
        )
        if split != "text-train" or not heldout_parts(scene):
            return scene
    raise RuntimeError(f"scene {s}: no scene without a held-out composition in 1000 draws")


@lru_cache(maxsize=16)
def _scenes(split: str, n: int, seed: int) -> tuple[Scene, ...]:
    return tuple(sample_scene(split, i, seed) for i in range(n))


def make_scenes(split: str, n: int | None = None, seed: int = 0) -> list[Scene]:
    """The first ``n`` scenes of ``split`` (default: the split's size, :data:`SIZES`)."""
    _check_split(split)
    return list(_scenes(split, SIZES[split] if n is None else int(n), seed))


def text_record(scene: Scene) -> dict[str, str]:
    """One training record {text, instruction, answer, task} from a scene (text only). A
    question's text is a caption that states every attribute (its answer is in the text)."""
    rng = np.random.default_rng([scene.seed, 3])
    single = len(scene.sources) == 1
    task = str(rng.choice(TASKS, p=[0.4, 0.3, 0.3] if single else [0.55, 0.0, 0.45]))
    if task == "qa":
        _, question, answer = _question(scene, rng)
        return {"text": T.captions(scene, k=1, omit=0.0)[0], "instruction": question, "answer": answer, "task": task}
    caps = T.captions(scene, k=2)
    if task == "caption":
        return {
            "text": caps[0],
            "instruction": T.pick(rng, T.CAPTION_PROMPTS),
            "answer": caps[int(rng.integers(2))],
            "task": task,
        }
    return {"text": caps[0], "instruction": T.pick(rng, T.CLASSIFY_PROMPTS), "answer": T.label(scene), "task": task}


def _question(scene: Scene, rng: np.random.Generator) -> tuple[str, str, str]:
    """One question of a uniformly drawn kind (:data:`mats_tiny.text.QUESTION_KINDS`). The
    absent class of a "no" presence question follows the split's class frequencies, so that
    "yes" and "no" are equally likely for every class, head or tail."""
    weights = class_weights(*split_of(scene))
    absent = [i for i, c in enumerate(CLASSES) if c not in scene.classes]
    p = weights[absent] / weights[absent].sum()
    qs = T.questions(scene, rng, absent=CLASSES[int(rng.choice(absent, p=p))])
    kinds = sorted({q[0] for q in qs})
    kind = kinds[int(rng.integers(len(kinds)))]
    pool = [q for q in qs if q[0] == kind]
    return pool[int(rng.integers(len(pool)))]


def text_records(split: str = "text-train", n: int | None = None, seed: int = 0) -> list[dict[str, str]]:
    """``n`` training records, one per scene of ``split`` (default the split's size)."""
    return [text_record(s) for s in make_scenes(split, n, seed)]


def fingerprint(seed: int = 0, n: int = 16) -> str:
    """sha256 over the first ``n`` clips and captions of every split and ``4 n`` text records:
    a cheap check that a machine regenerates the recorded world bit for bit (float maths may
    differ across CPU instruction sets, so compare it on the machine that built)."""
    from mats_tiny.world import content_hash

    scenes = [s for split in SPLITS for s in make_scenes(split, n, seed)]
    texts = [c for s in scenes for c in T.captions(s)]
    texts += [f"{r['task']}\t{r['text']}\t{r['instruction']}\t{r['answer']}" for r in text_records(n=4 * n, seed=seed)]
    return content_hash((render(s) for s in scenes), texts)
