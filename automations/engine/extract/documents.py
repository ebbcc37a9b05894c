"""Word documents and plain text files: one page of text each."""

from __future__ import annotations

import os
import re

from automations.engine.extract.pages import ExtractionError, normalize_newlines
from automations.engine.filetypes import (
    DEFAULT_LIMITS,
    MSG_DOCX_DAMAGED,
    FileRejected,
    InputLimits,
    check_zip,
)


def docx_text(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> str:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        # The same bounds as the upload's inspection, on what the members really unpack
        # to: python-docx reads every part whole and lxml builds every element.
        check_zip(path, limits)
    except FileRejected as exc:
        raise ExtractionError(str(exc)) from exc
    try:
        document = docx.Document(os.fspath(path))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise ExtractionError(MSG_DOCX_DAMAGED) from exc

    def blocks(container) -> list[str]:  # Document or table cell, in document order
        out: list[str] = []
        for block in container.iter_inner_content():
            if isinstance(block, Paragraph):
                out.append(block.text)
            elif isinstance(block, Table):
                for row in block.rows:
                    cells: list[str] = []
                    seen: set[int] = set()
                    for cell in row.cells:
                        # A merged cell is returned once per grid column it spans.
                        if id(cell._tc) in seen:
                            continue
                        seen.add(id(cell._tc))
                        cells.append(" ".join(t.strip() for t in blocks(cell) if t.strip()))
                    out.append("\t".join(cells).rstrip("\t"))
        return out

    out = blocks(document)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def read_text(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    return normalize_newlines(text)
