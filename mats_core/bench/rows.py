"""The rows of a comparison table, one checkpoint set at a time: each bridge, the no-audio
controls, the reference rows (the CLAP zero-shot classifier, MATS-Audio trained on audio
embeddings) and the audio-supervised LMs. Each row is a run directory with its results.json,
evaluated (or resumed) here and loaded back as a :class:`mats_core.report.compare.Row`; ``about``
says what each row is, for the table's footer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mats_core.bench.pairing import paired_checkpoint, short_name
from mats_core.bench.prechecks import RunInputs
from mats_core.bench.rundir import key_bridge_params, write_reference_row


@dataclass(frozen=True, kw_only=True)
class RowPlan:
    """Which rows every checkpoint set gives. ``single``: one bridge and nothing else, written
    into the output directory itself (no comparison)."""

    bridges: list[str]
    controls: list[str]
    reference: bool
    audio_lms: list[str]
    single: bool

    def count(self, ckpts: dict[str, Path]) -> int:
        """How many rows a set gives (MATS-Audio only when it has an ``audio`` checkpoint)."""
        mats_audio = self.reference and "audio" in ckpts
        return len(self.bridges) + len(self.controls) + mats_audio + len(self.audio_lms)


@dataclass(kw_only=True)
class SetRows:
    """One checkpoint set's rows, in table order; rank 0 alone scores the rows that are not sharded."""

    pipe: Any
    inputs: RunInputs
    plan: RowPlan
    progress: Any
    main: bool
    kinds: dict
    about: dict = field(default_factory=dict)  # row -> what it is (checkpoint, key params), for the table's footer

    def rows(self, ckpts: dict[str, Path], output: Path) -> list:
        return [
            *self.bridge_rows(ckpts, output),
            *self.control_rows(ckpts, output),
            *self.reference_rows(ckpts, output),
            *self.audio_lm_rows(output),
        ]

    def evaluate(self, ck: Path, bridge: str, out: Path, label: str, params: dict, cfg: Any = None):
        from mats_core.run.harness import evaluate

        return evaluate(
            self.pipe,
            ck,
            bridge,
            self.inputs.tasks,
            out,
            cfg or self.inputs.cfg,
            bridge_params=params,
            overwrite=self.inputs.overwrite,
            on_progress=self.progress.update(label),
            task_params=self.inputs.task_params,
        )

    def bridge_rows(self, ckpts: dict[str, Path], output: Path) -> list:
        """A row per bridge, each with the checkpoint of the set it pairs with."""
        from mats_core.report.compare import load_row

        rows = []
        params = self.inputs.overrides.get("bridge", {})
        for b in self.plan.bridges:
            out = output if self.plan.single else output / b
            ck = paired_checkpoint(ckpts, b, params, self.inputs.registry)
            res = self.evaluate(ck, b, out, b, params)
            audio_stats = (res.model_extra or {}).get("bridge_statistics") or {}
            name = f"{b} (unpaired-audio stats)" if audio_stats.get("kind") == "unpaired-audio" else b
            rows.append(load_row(name, out, f"{short_name(ck)} · bridge {b}"))
            self.about[name] = {
                "checkpoint": short_name(ck),
                "params": key_bridge_params(b, self.inputs.registry, params),
            }
        return rows

    def control_rows(self, ckpts: dict[str, Path], output: Path) -> list:
        """The no-audio controls: same checkpoint (noise) and prompt, bridge noise, audio replaced."""
        from mats_core.report.compare import load_row
        from mats_core.run.controls import LABELS, control_dir

        rows = []
        for c in self.plan.controls:
            ck = ckpts["noise"]  # there: run_comparison checked it before any model loaded
            out = control_dir(output, c)
            self.evaluate(ck, "noise", out, LABELS[c], {}, self.inputs.cfg.model_copy(update={"control": c}))
            rows.append(load_row(LABELS[c], out, f"{short_name(ck)} · bridge noise · audio: {c}"))
            self.about[LABELS[c]] = {"checkpoint": short_name(ck), "what": f"no-audio control: {c}", "params": {}}
        return rows

    def reference_rows(self, ckpts: dict[str, Path], output: Path) -> list:
        """CLAP zero-shot, and MATS-Audio when the set has an ``audio`` checkpoint."""
        from mats_core.report.compare import load_row

        if not self.plan.reference:
            return []
        rows = self.zero_shot_rows(output)
        if "audio" in ckpts:
            self.evaluate(ckpts["audio"], "none", output / "mats-audio", "mats-audio", {})
            rows.append(load_row("mats-audio", output / "mats-audio", f"{short_name(ckpts['audio'])} · bridge none"))
            self.about["mats-audio"] = {
                "checkpoint": short_name(ckpts["audio"]),
                "what": "trained on audio embeddings",
                "params": {},
            }
        return rows

    def zero_shot_rows(self, output: Path) -> list:
        """The encoder alone on the classification tasks (audio vs label-text cosine, no LLM), on
        rank 0, written to ``output/clap-zero-shot``; no row when no task is classification."""
        from mats_core.report.compare import Row
        from mats_core.run.reference_row import score_zero_shot

        cfg = self.inputs.cfg
        tasks = [t for t in self.inputs.tasks if self.main and self.kinds[t] == "classification"]
        scored = {t: score_zero_shot(self.pipe, t, cfg, self.inputs.task_params.get(t, {})) for t in tasks}
        zs = {t: z.metrics for t, z in scored.items() if z is not None}
        if not zs:
            return []
        n = {t: int(v.get("n") or 0) for t, v in zs.items()}  # the task's own count of what it scored
        self.about["clap-zero-shot"] = {"what": "the encoder alone: audio vs label-text cosine, no LLM"}
        write_reference_row(
            output / "clap-zero-shot",
            "clap-zero-shot",
            zs,
            {"encoder": self.pipe.spec["encoder"], "tasks": list(zs), "run": cfg.recorded()},
            cfg.seed,
            n,
            scored=scored,
            resamples=cfg.resamples,
        )
        return [Row("clap-zero-shot", zs, samples=n, limit=cfg.limit, source="encoder: audio vs label-text cosine")]

    def audio_lm_rows(self, output: Path) -> list:
        """One row per audio-supervised model (``mats_core.run.audio_lm``), scored with the run's encoder."""
        from mats_core.report.compare import load_row
        from mats_core.run.audio_lm import ROW_PREFIX, evaluate_audio_lm, row_label

        rows = []
        for name in self.plan.audio_lms if self.main else []:  # one process generates an audio LM's row
            out = output / f"{ROW_PREFIX}{name}"
            res = evaluate_audio_lm(
                name,
                self.inputs.tasks,
                out,
                self.inputs.cfg,
                registry=self.inputs.registry,
                params=self.inputs.overrides.get("audio_lm", {}),
                overwrite=self.inputs.overwrite,
                task_params=self.inputs.task_params,
                encoder=self.pipe.encoder,
                encoder_spec=self.pipe.spec["encoder"],
                on_progress=self.progress.update(name),
            )
            label = row_label(name, res.config["audio_lm"]["supervision"])
            rows.append(load_row(label, out, f"audio_lm {name}"))
            self.about[label] = {
                "what": f"audio_lm {name}: its own audio encoder and LLM, trained on audio (none of our encoder, bridge or mapper)"
            }
        return rows
