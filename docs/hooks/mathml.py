"""mkdocs hook: typeset the pages' maths at build time, as MathML.

``pymdownx.arithmatex`` (generic mode) wraps each formula in ``<span class="arithmatex">\\(..\\)</span>``
or ``<div class="arithmatex">\\[..\\]</div>`` and leaves it to a JavaScript renderer. This hook
converts those to MathML with ``latex2mathml`` instead, so the site shows typeset maths with
no script and no network at view time (browsers render MathML natively). A formula that
fails to convert stops the build: raw TeX on a page is a bug.
"""

from __future__ import annotations

import html
import re

MATH = re.compile(r'<(span|div) class="arithmatex">\s*\\([\[(])(.*?)\\[\])]\s*</\1>', re.S)


def to_mathml(page_html: str) -> str:
    """``page_html`` with every arithmatex formula replaced by its MathML."""
    from latex2mathml.converter import convert

    def one(m: re.Match) -> str:
        tex = html.unescape(m.group(3)).strip()
        display = "block" if m.group(2) == "[" else "inline"
        try:
            return convert(tex, display=display)
        except Exception as exc:  # noqa: BLE001 - any converter failure is a broken page
            raise ValueError(f"cannot typeset {tex!r}: {exc}") from exc

    return MATH.sub(one, page_html)


def on_page_content(html_text, page, config, files):  # noqa: ARG001 - the mkdocs hook signature
    if 'class="arithmatex"' not in html_text:
        return html_text
    try:
        return to_mathml(html_text)
    except ValueError as exc:
        raise ValueError(f"{page.file.src_path}: {exc}") from None
