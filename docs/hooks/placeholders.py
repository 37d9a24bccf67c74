"""MkDocs hook: show ``<placeholder>`` text literally instead of passing it on as HTML.

Help texts of the click commands (rendered by ``mkdocs-click`` on the command-line page) name
files as ``<OUT_H5 stem>.run/`` or ``<video>-<NNN>.<ext>``; Markdown would pass those on as
HTML tags, and a browser hides them — ``<video>`` even swallows the rest of the page. A
Markdown preprocessor that runs after mkdocs-click's escapes them outside code. The pages
themselves use no raw HTML, so nothing else changes. Click's marker for a flag without a
default (``Sentinel.UNSET``) is shown as an empty default.
"""

from __future__ import annotations

import re
from typing import Any

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

_TAG = re.compile(r"<(?=[A-Za-z_/][^<>\n]*>)")
_CODE_SPAN = re.compile(r"(`+).+?\1", flags=re.S)  # a code span may run over a line break
_FENCE = re.compile(r"^\s*(```|~~~)")
_UNSET = "`Sentinel.UNSET`"


def escape(text: str) -> str:
    """``text`` (Markdown without fenced code) with every tag-like ``<`` outside code spans turned into ``&lt;``."""
    parts, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        parts += [_TAG.sub("&lt;", text[last:span.start()]), span.group()]
        last = span.end()
    parts.append(_TAG.sub("&lt;", text[last:]))
    return "".join(parts).replace(_UNSET, "")


class _EscapePlaceholders(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        prose: list[str] = []  # the lines since the last fence, escaped together
        fenced = False
        for line in lines:
            if _FENCE.match(line):
                if not fenced:
                    out += escape("\n".join(prose)).split("\n") if prose else []
                    prose = []
                fenced = not fenced
                out.append(line)
            elif fenced:
                out.append(line)
            else:
                prose.append(line)
        out += escape("\n".join(prose)).split("\n") if prose else []
        return out


class _Extension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 - Python-Markdown's name
        # after mkdocs-click (141), before the fenced code blocks and raw HTML are taken out
        md.preprocessors.register(_EscapePlaceholders(md), "dfembed_placeholders", 100)


def on_config(config: Any, **kwargs: Any) -> Any:
    """Add the preprocessor to the site's Markdown extensions."""
    config.markdown_extensions.append(_Extension())
    return config
