"""Readable plain text from an e-mail's HTML body."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _HtmlToText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})
    # Block elements start on a new line; paragraph-like ones are set off by a blank line.
    # Breaks requested by nested/adjacent tags are merged, not added up.
    _LINE = frozenset(
        {
            "div", "tr", "li", "dt", "dd", "ul", "ol", "dl", "section", "article",
            "header", "footer", "address", "nav", "main", "aside", "figure", "form",
        }
    )  # fmt: skip
    _PARAGRAPH = frozenset(
        {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr"}
    )
    _CELL = frozenset({"td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pending = 0  # newlines owed before the next text
        self._skip_depth = 0
        self._pre_depth = 0

    def _request(self, newlines: int) -> None:
        self._pending = max(self._pending, newlines)

    def _flush(self) -> None:
        if self._pending and self.parts:
            self.parts.append("\n" * self._pending)
        self._pending = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif self._skip_depth:
            return
        elif tag == "br":
            self._flush()
            self.parts.append("\n")
        elif tag in self._PARAGRAPH:
            self._request(2)
            if tag == "pre":
                self._pre_depth += 1
        elif tag in self._LINE:
            self._request(1)
        elif tag in self._CELL:
            self._flush()
            self.parts.append("\t")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self._SKIP:  # <script/> has no content to skip
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag in self._PARAGRAPH:
            self._request(2)
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
        elif tag in self._LINE:
            self._request(1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre_depth:
            data = re.sub(r"\s+", " ", data)
            if not data.strip():
                if self.parts and not self._pending:
                    self.parts.append(" ")
                return
        self._flush()
        self.parts.append(data)

    def text(self) -> str:
        lines = []
        for line in "".join(self.parts).split("\n"):
            cells = [c.strip() for c in line.split("\t")]
            lines.append("\t".join(c for c in cells if c))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: drops scripts/styles/head, keeps block line breaks."""
    parser = _HtmlToText()
    parser.feed(html)
    parser.close()
    return parser.text()
