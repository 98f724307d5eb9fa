"""The run's typed settings and their checks: decoding settings, device names, seeds, resamples,
override kinds per command and config diffs (hints and error lines: :mod:`mats_core.registry.hints`).

:class:`DecodingConfig`;
:class:`RunConfig` (also ``mats_core.run.harness.RunConfig``) lives here so it is checked before torch loads.
Everything here runs before any model loads, so a typo costs a second, not a model load.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mats_core.errors import MatsError
from mats_core.registry.hints import closest, format_errors

# What ``--set KIND.key=value`` may name, per command. Train-only kinds on ``run`` get their own message.
RUN_KINDS = ("encoder", "llm", "bridge", "task", "run", "decoding", "audio_lm")
TRAIN_KINDS = ("encoder", "llm", "bridge", "corpus", "mapper", "train")
SEED_MAX = 2**32 - 1  # seeds feed numpy and torch generators (with offsets): 32 bits, checked before any model loads
MAX_RESAMPLES = 100_000  # bootstrap resamples: the counts matrix holds resamples x samples floats (8 bytes each)
Crop = Literal["center", "random", "chunks"]  # how a clip longer than the encoder's window is read (model.audio)
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_resamples(resamples: int, flag: str = "--resamples") -> int:
    """A bootstrap resample count within 0..MAX_RESAMPLES (memory: 8 bytes x resamples x samples)."""
    if not 0 <= int(resamples) <= MAX_RESAMPLES:
        raise MatsError(
            f"{flag} {resamples}: must be 0 (no intervals) to {MAX_RESAMPLES:,}; the bootstrap holds resamples x samples "
            "counts in memory (8 bytes each), and intervals settle long before (1000 is the default)"
        )
    return int(resamples)


# Named decoding settings: ``--set decoding.preset=paper`` (or ``decoding: {preset: paper}`` in a
# suite); keys given next to ``preset`` win over the preset's. ``paper`` is the published MATS
# evaluation (configs/eval/decode_*.yaml with the base config's ``generate`` block, both commits).
DECODING_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "num_beams": 4,
        "do_sample": False,
        "max_new_tokens": 200,
        "min_length": 1,
        "no_repeat_ngram_size": 2,
        "repetition_penalty": 2.0,
        "length_penalty": 1.0,
    },
    "greedy": {"num_beams": 1, "do_sample": False},
}


class DecodingConfig(BaseModel):
    """The ``generate`` settings a run may pass (``--set decoding.*``, a suite's ``decoding``)."""

    model_config = ConfigDict(extra="forbid")
    max_new_tokens: int | None = Field(None, ge=1)
    min_new_tokens: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=1)
    min_length: int | None = Field(None, ge=0)
    do_sample: bool | None = None
    num_beams: int | None = Field(None, ge=1)
    num_beam_groups: int | None = Field(None, ge=1)
    diversity_penalty: float | None = Field(None, ge=0)
    temperature: float | None = Field(None, gt=0)
    top_k: int | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    typical_p: float | None = Field(None, gt=0, le=1)
    repetition_penalty: float | None = Field(None, gt=0)
    length_penalty: float | None = None
    no_repeat_ngram_size: int | None = Field(None, ge=0)
    early_stopping: bool | Literal["never"] | None = None
    use_cache: bool | None = None
    cache_implementation: str | None = None
    preset: str | None = None  # a named setting of DECODING_PRESETS; keys given beside it win

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in DECODING_PRESETS:
            raise ValueError(f"unknown preset {value!r}; known: {', '.join(DECODING_PRESETS)}")
        return value


def check_decoding(decoding: dict[str, Any], prefix: str = "decoding.") -> dict[str, Any]:
    """The given decoding settings, validated (only the keys given: defaults stay the model's)."""
    if not isinstance(decoding, dict):
        raise MatsError(f"{prefix.rstrip('.')}: expected a mapping of generate settings, got {decoding!r}")
    try:
        DecodingConfig.model_validate(decoding)
    except ValidationError as exc:
        raise MatsError(format_errors(exc, prefix, DecodingConfig.model_fields, noun="setting")) from None
    return dict(decoding)


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int | float | None = None  # N samples per task, or a fraction (0, 1) of each task's samples
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = 32
    seed: int = Field(0, ge=0, le=SEED_MAX)
    memory_size: int = Field(5172, ge=1)  # the paper's bank: 0.1% of its training texts
    bridge_block: int = Field(256, ge=1)
    crop: Crop = "center"
    decoding: dict[str, Any] = Field(default_factory=dict)
    device: str = "auto"
    predict_only: bool = False  # write predictions; score later with `mats-bench score`
    task_tokens: dict[str, str] = Field(default_factory=dict)  # task -> token before the instruction (published MATS)
    control: Literal["silence", "shuffled"] | None = (
        None  # no-audio control: replace each sample's audio (mats_core.run.controls)
    )
    resamples: int = Field(
        1000, ge=0, le=MAX_RESAMPLES
    )  # bootstrap resamples of the 95% intervals (0: none); not in the config
    # DIAGNOSIS ONLY (mats_core.run.oracle): a share of the test clips' references / new captions of their scenes in the bank
    oracle_bank: float = Field(0.0, ge=0, le=1)
    oracle_paraphrase: float = Field(0.0, ge=0, le=1)

    def recorded(self) -> dict[str, Any]:
        """The settings a run's config records: not device nor batch size (neither changes results;
        the batch used is in ``execution``), nor the intervals' resamples, and task_tokens / control
        only when set (older runs resume)."""
        skip = {"device", "batch_size", "resamples"} | (set() if self.task_tokens else {"task_tokens"})
        skip |= {k for k in ("oracle_bank", "oracle_paraphrase") if not getattr(self, k)}  # recorded only when set
        return self.model_dump(exclude=skip | ({"control"} if self.control is None else set()))

    @field_validator("limit")
    @classmethod
    def _count_or_fraction(cls, v: int | float | None) -> int | float | None:
        from pydantic_core import PydanticCustomError

        if v is None or (isinstance(v, int) and v >= 1) or (isinstance(v, float) and 0 < v < 1):
            return v
        if isinstance(v, float) and v >= 1 and v == int(v):
            return int(v)
        raise PydanticCustomError("limit", "Input should be greater than or equal to 1, or a fraction between 0 and 1")

    @field_validator("decoding")
    @classmethod
    def _typed_decoding(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_decoding(value)  # kept as given (only the keys set), so config fingerprints stay


def check_device(device: str, flag: str = "--device") -> None:
    """``auto | cpu | cuda[:N] | mps``; CUDA only where it is available (torch is imported only then)."""
    if not isinstance(device, str) or not DEVICE.match(device):
        hint = (
            "; did you mean 'cuda'?"
            if str(device).lower() in ("gpu", "nvidia", "cuda0")
            else closest(device, ["auto", "cpu", "cuda", "mps"])
        )
        raise MatsError(f"{flag} {device!r}: not a device{hint or '.'} Devices are auto, cpu, cuda, cuda:N, mps")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise MatsError(f"{flag} {device}: CUDA is not available on this machine; use --device cpu (or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise MatsError(f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def check_kinds(overrides: dict[str, Any], command: str) -> None:
    """Every ``--set`` kind must be one that ``command`` reads."""
    allowed = RUN_KINDS if command == "run" else TRAIN_KINDS
    for kind in overrides:
        if kind in allowed:
            continue
        if command == "run" and kind in TRAIN_KINDS:
            raise MatsError(
                f"--set {kind}.*: '{kind}' is a training setting (mats-bench train --set {kind}.*); "
                "a run reads it from the checkpoint"
            )
        if command == "train" and kind in RUN_KINDS:
            raise MatsError(
                f"--set {kind}.*: '{kind}' is an evaluation setting (mats-bench run --set {kind}.*), not read by train"
            )
        raise MatsError(
            f"--set {kind}.*: unknown kind '{kind}'{closest(kind, allowed) or ';'} mats-bench {command} reads "
            f"{', '.join(allowed)}"
        )


def split_task_params(
    shared: dict[str, Any],
    tasks: Iterable[str],
    registry: str | None,
    per_task: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Task name -> the params it gets: ``shared`` keys (``--set task.*``) go to every task that
    takes them, and a key no task takes is an error (closest match named); ``per_task`` (a
    suite's ``tasks:``) reaches only its own task, under ``shared``. Each task's params are validated here."""
    from mats_core.registry.presets import accepted_params, resolved_params

    tasks = list(tasks)
    per_task = per_task or {}
    out: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for name in tasks:
        mine = accepted_params("task", name, shared, registry)
        taken |= set(mine)
        out[name] = {**per_task.get(name, {}), **mine}  # the command line wins, as everywhere
        resolved_params("task", name, registry, **out[name])  # bounds and types, before anything loads
    internal = {"data_root"}  # the harness offers it to every task; tasks without data ignore it
    stray = [k for k in shared if k not in taken and k not in internal]
    if stray:
        known = {k for name in tasks for k in resolved_params("task", name, registry)["params"]}
        raise MatsError(
            f"--set task.{stray[0]}: no task of this run ({', '.join(tasks)}) takes '{stray[0]}'"
            f"{closest(stray[0], known) or '.'} Their params: {', '.join(sorted(known)) or '(none)'}"
        )
    return out


def config_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """``a.b: old -> new`` for every leaf that differs between two JSON-like configs."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{sub}: (absent) -> {_short(new[key])}")
            elif key not in new:
                out.append(f"{sub}: {_short(old[key])} -> (absent)")
            else:
                out += config_diff(old[key], new[key], sub)
        return out
    if _plain(old) == _plain(new):
        return []
    return [f"{path or '(config)'}: {_short(old)} -> {_short(new)}"]


def _plain(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, sort_keys=True, default=str))  # tuples and lists, paths and strings alike


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
