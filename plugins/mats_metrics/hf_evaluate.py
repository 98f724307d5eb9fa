"""``hf-evaluate``: any Hugging Face ``evaluate`` metric as a mats-bench metric.

``path`` is a local metric directory (``my_metric/my_metric.py``, e.g. a copy of a folder of
huggingface/evaluate's ``metrics/``) or a ``.py`` file, which works offline; or a Hub name
(``bleu``, ``rouge``, ``user/metric``), which needs the network once (evaluate caches the
script). Loading a metric RUNS ITS PYTHON CODE: load only metrics you trust.

Results are flattened to ``{name: float | None}`` as mats-bench reports them: numeric scalars
are kept; per-sample lists named in ``average`` are averaged (e.g. BERTScore's ``f1``); any
other value (a list, a string) is left out and :attr:`HFEvaluateMetric.notes` says so.
``evaluate`` (with ``datasets``, ``pandas``, ``pyarrow``) is an optional dependency:
``pip install 'mats-bench[evaluate]'``; it is imported only when the metric is built.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from mats_core import MatsError
from mats_metrics._inputs import MetricInputError, check_pairing, reference_lists, str_list

INSTALL = "pip install 'mats-bench[evaluate]'"


def load_module(path: str, config_name: str | None = None, revision: str | None = None) -> Any:
    """``evaluate.load`` with errors that say what to do (missing package, missing script, offline)."""
    try:
        import evaluate
    except ImportError as exc:
        raise MatsError(
            f"metric 'hf-evaluate' needs the 'evaluate' package ({exc}); install it with  {INSTALL}"
        ) from None
    local = Path(path).expanduser()
    if not local.exists() and (path.endswith(".py") or path.startswith((".", "/", "~"))):
        raise MatsError(
            f"metric 'hf-evaluate': {local} does not exist; pass path=<a metric directory holding "
            f"<name>/<name>.py, or that .py file>"
        )
    try:
        return evaluate.load(
            str(local) if local.exists() else path, config_name=config_name, revision=revision, keep_in_memory=True
        )
    except FileNotFoundError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
        why = " (HF_HUB_OFFLINE is set)" if offline else ""
        raise MatsError(
            f"metric 'hf-evaluate': cannot load {path!r}{why}: {exc} Pass path=<a local metric directory> "
            f"(e.g. a copy of huggingface/evaluate's metrics/{Path(path).name}), or load it by name once online"
        ) from None


class HFEvaluateMetric:
    """``compute(predictions: list[str], references)`` -> the HF metric's numeric results.

    ``references``: ``as_given`` passes what the task gives (lists of references for caption
    / QA tasks, one label string for classification); ``first`` passes each item's first
    reference (for single-reference metrics such as ``exact_match``). ``compute_args`` go to
    the HF metric's ``compute`` (e.g. ``{"ignore_case": true}``); the task's own context
    (``labels``, ``encoder``) is not passed on. ``prefix`` is prepended to every result name.
    """

    name = "hf-evaluate"

    def __init__(
        self,
        path: str,
        config_name: str | None = None,
        revision: str | None = None,
        references: Literal["as_given", "first"] = "as_given",
        compute_args: dict[str, Any] | None = None,
        average: list[str] | None = None,
        prefix: str = "",
    ) -> None:
        self.path, self.references, self.prefix = path, references, prefix
        self.compute_args = dict(compute_args or {})
        self.average = list(average or [])
        self.module = load_module(path, config_name, revision)
        self.module_name = getattr(self.module, "name", Path(path).stem)
        self._notes: dict[str, str] = {}

    @property
    def notes(self) -> dict[str, str]:
        return dict(self._notes)

    def compute(self, predictions: Sequence[str], references: Sequence[Any], **context: Any) -> dict[str, float | None]:
        preds = str_list(predictions, "predictions", self.name)
        if self.references == "first":
            refs: list[Any] = [r[0] for r in reference_lists(references, self.name)]
        elif isinstance(references, (str, bytes)) or not isinstance(references, Sequence):
            raise MetricInputError(f"{self.name} metric: references must be a list, got {type(references).__name__}")
        else:
            refs = list(references)
        check_pairing(preds, refs, self.name)
        try:
            raw = self.module.compute(predictions=preds, references=refs, **self.compute_args)
        except (ValueError, TypeError, KeyError) as exc:
            raise MatsError(
                f"hf-evaluate metric {self.module_name!r} ({self.path}) failed: {type(exc).__name__}: {exc}. "
                "Check references= (as_given or first) and compute_args against the metric's inputs"
            ) from None
        return self._flatten(raw or {}, len(preds))

    def _flatten(self, raw: dict[str, Any], n: int) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        self._notes = {}
        missing = [k for k in self.average if k not in raw]
        if missing:
            raise MatsError(
                f"hf-evaluate metric {self.module_name!r}: average= names {missing}, which it does not "
                f"return; it returns {sorted(raw)}"
            )
        for key, value in raw.items():
            name = f"{self.prefix}{key}"
            if getattr(value, "ndim", 0) >= 1 and hasattr(value, "tolist"):  # numpy / torch arrays
                value = value.tolist()
            if key in self.average:
                if not _numbers(value) or len(value) != n:
                    raise MatsError(
                        f"hf-evaluate metric {self.module_name!r}: average= names {key!r}, which is not "
                        f"a list of {n} per-sample numbers"
                    )
                value = sum(float(v) for v in value) / n
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                value = float(value)
                out[name] = value if math.isfinite(value) else None
                if out[name] is None:
                    self._notes[name] = f"the metric returned {value}"
            elif hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch 0-d scalars
                out[name] = float(value.item())
            else:
                hint = "; name it in average= to report its mean" if _numbers(value) and len(value) == n else ""
                self._notes[name] = f"not reported: a {type(value).__name__}, not a number{hint}"
        return out


def _numbers(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value
    )
