"""mkdocs hook: show string annotations as types in the API reference.

Modules with ``from __future__ import annotations`` may still quote a type that is imported
only for type checking (``embed_audio(waveforms: "Tensor") -> "Tensor"``); mkdocstrings then
renders ``'Tensor'`` as a string literal. Here a quoted name right after ``:``, ``->``, ``[``
or ``,`` in a rendered signature becomes a plain name; string *defaults* (after ``=``) keep
their quotes.
"""

from __future__ import annotations

import re

QUOTED_TYPE = re.compile(
    r'(<span class="[po]">(?::|-&gt;|\[|,)</span>\s*)'
    r"<span class=\"s[12]\">(?:'|&#39;|\")([A-Za-z_][\w.]*(?:\[[\w., |]*\])?(?: \| [\w.]+)*)(?:'|&#39;|\")</span>"
)


def unquote_annotations(page_html: str) -> str:
    return QUOTED_TYPE.sub(lambda m: f'{m.group(1)}<span class="n">{m.group(2)}</span>', page_html)


def on_page_content(html_text, page, config, files):  # noqa: ARG001 - the mkdocs hook signature
    return unquote_annotations(html_text) if page.file.src_path.startswith("reference/") else html_text
