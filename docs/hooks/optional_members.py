"""The "Required and optional members" table of docs/reference/api.md, rendered from the one source:
the protocols of ``mats_core.interfaces`` (the required members) and ``mats_core.capabilities.OPTIONAL``
(the optional ones). The page holds the rendered table between the markers below, so it reads the
same on GitHub and on the site; tests/test_public_api.py fails when the two disagree, and
``python docs/hooks/optional_members.py`` rewrites the page.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from mats_core import interfaces
from mats_core.capabilities import OPTIONAL

PAGE = Path(__file__).resolve().parents[1] / "reference" / "api.md"
BEGIN = "<!-- optional-members: rendered from mats_core.capabilities.OPTIONAL by docs/hooks/optional_members.py -->"
END = "<!-- /optional-members -->"
PROTOCOLS = {
    "encoder": interfaces.AlignmentEncoder,
    "bridge": interfaces.GapBridge,
    "llm": interfaces.LanguageModel,
    "task": interfaces.Task,
    "metric": interfaces.Metric,
    "corpus": interfaces.Corpus,
    "audio_lm": interfaces.AudioLanguageModel,
}
SINCE = {"audio_lm": "v1.2"}  # kinds added after v1


def required(protocol: type) -> str:
    """``dim``, ``embed_audio(waveforms)``, ...: the protocol's attributes, then its methods."""
    names = [f"`{a}`" for a in protocol.__dict__.get("__annotations__", {})]
    for name, fn in protocol.__dict__.items():
        if name.startswith("_") or not callable(fn):
            continue
        params = list(inspect.signature(fn).parameters.values())[1:]  # not self
        shown = [f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name for p in params]
        names.append(f"`{name}({', '.join(shown)})`")
    return ", ".join(names)


def default(value: Any) -> str:
    return "absent" if value is None else f"`{value!r}`"


def render(optional: dict[str, dict[str, tuple[Any, str]]] = OPTIONAL) -> str:
    """The Markdown table: one row per optional member, the kind's required members on its first row."""
    lines = [
        "| kind | required (v1) | optional member | default when absent | what the core does with it |",
        "|---|---|---|---|---|",
    ]
    for kind, protocol in PROTOCOLS.items():
        label = f"{kind} ({SINCE[kind]})" if kind in SINCE else kind
        members = optional.get(kind, {})
        if not members:
            lines.append(f"| {label} | {required(protocol)} | — | | |")
        for i, (name, (value, what)) in enumerate(members.items()):
            head = f"| {label} | {required(protocol)} |" if i == 0 else "|  |  |"
            lines.append(f"{head} `{name}` | {default(value)} | {what} |")
    return "\n".join(lines)


def page_table(text: str) -> str:
    """The table the page holds between the markers."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def update(page: Path = PAGE) -> None:
    text = page.read_text()
    before, rest = text.split(BEGIN, 1)
    page.write_text(f"{before}{BEGIN}\n{render()}\n{END}{rest.split(END, 1)[1]}")


if __name__ == "__main__":
    update()
