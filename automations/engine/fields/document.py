"""A document as lines and visual rows, with a way back from any span to its evidence.

Pages from a text layer only have text; pages from OCR also have lines with boxes. Both
become :class:`Line` objects holding their offsets in the page text, so a value found in a
line can always be reported as (page, start, end) and, for OCR, a box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from automations.engine.fields.model import Evidence, PageText

__all__ = ["Document", "Line", "Segment"]


@dataclass(frozen=True)
class Segment:
    """Where one OCR line sits inside the page text."""

    start: int
    end: int
    box: tuple[int, int, int, int]
    confidence: float


@dataclass
class Line:
    index: int  # position in Document.lines
    page: int  # page number
    start: int  # offset of the line in its page's text
    text: str
    segments: list[Segment] = field(default_factory=list)
    row: int = 0  # visual row (lines of one row share it)

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        return _union([s.box for s in self.segments])

    def x_of(self, offset: int) -> float:
        """Horizontal position of character ``offset`` (relative to the line), 0..1 of the
        page width for OCR lines, of the line length otherwise."""
        absolute = self.start + offset
        for seg in self.segments:
            if seg.start <= absolute <= seg.end and seg.end > seg.start:
                share = (absolute - seg.start) / (seg.end - seg.start)
                return seg.box[0] + share * (seg.box[2] - seg.box[0])
        return offset / max(len(self.text), 1)

    def confidence(self, start: int = 0, end: int | None = None) -> float | None:
        """Mean OCR confidence of the characters in [start, end) (None: not OCR)."""
        end = len(self.text) if end is None else end
        lo, hi = self.start + start, self.start + end
        weighted, chars = 0.0, 0
        for seg in self.segments:
            overlap = min(hi, seg.end) - max(lo, seg.start)
            if overlap > 0:
                weighted += seg.confidence * overlap
                chars += overlap
        return weighted / chars if chars else None


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


class Document:
    def __init__(self, pages: list[PageText]) -> None:
        self.pages = {p.number: p for p in pages}
        self.lines: list[Line] = []
        self.is_ocr = any(p.lines for p in pages)
        row = 0
        for page in pages:
            page_lines = self._page_lines(page)
            row = self._assign_rows(page_lines, row)
            for line in page_lines:
                line.index = len(self.lines)
                self.lines.append(line)
        self.rows: dict[int, list[Line]] = {}
        for line in self.lines:
            self.rows.setdefault(line.row, []).append(line)
        for members in self.rows.values():
            members.sort(key=lambda ln: ln.x_of(0))

    @staticmethod
    def _page_lines(page: PageText) -> list[Line]:
        text = page.text or ""
        segments: list[Segment] = []
        cursor = 0
        for ocr_line in page.lines:
            if not ocr_line.text:
                continue
            found = text.find(ocr_line.text, cursor)
            if found < 0:
                found = text.find(ocr_line.text)
            if found < 0:
                continue
            end = found + len(ocr_line.text)
            x0, y0, x1, y1 = ocr_line.box
            segments.append(Segment(found, end, (x0, y0, x1, y1), ocr_line.confidence))
            cursor = end
        lines: list[Line] = []
        offset = 0
        for raw in text.split("\n"):
            if raw.strip():
                start, stop = offset, offset + len(raw)
                own = [s for s in segments if s.start < stop and s.end > start]
                lines.append(Line(0, page.number, start, raw, own))
            offset += len(raw) + 1
        return lines

    @staticmethod
    def _assign_rows(lines: list[Line], first_row: int) -> int:
        """Give lines on the same visual row one row number; returns the next free one.

        OCR engines may cut a row in pieces ("TOTAL" on the left, "9.00" far right, read
        in different blocks); rows put them back together by vertical overlap.
        """
        boxed = [ln for ln in lines if ln.box is not None]
        if len(boxed) != len(lines):
            for i, line in enumerate(lines):
                line.row = first_row + i
            return first_row + len(lines)
        order = sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2)  # type: ignore[index]
        row = first_row - 1
        current: list[Line] = []
        for line in order:
            box = line.box
            assert box is not None
            center, height = (box[1] + box[3]) / 2, max(box[3] - box[1], 1)
            if current:
                top = min(ln.box[1] for ln in current)  # type: ignore[index]
                bottom = max(ln.box[3] for ln in current)  # type: ignore[index]
                row_center, row_height = (top + bottom) / 2, max(bottom - top, 1)
                overlaps_x = any(
                    ln.box[0] < box[2] and box[0] < ln.box[2]  # type: ignore[index]
                    for ln in current
                )
                if abs(center - row_center) <= 0.45 * min(height, row_height) and not overlaps_x:
                    current.append(line)
                    line.row = row
                    continue
            row += 1
            current = [line]
            line.row = row
        # Keep reading order: renumber rows by first appearance in the text.
        mapping: dict[int, int] = {}
        for line in lines:
            mapping.setdefault(line.row, first_row + len(mapping))
        for line in lines:
            line.row = mapping[line.row]
        return first_row + len(mapping)

    # ------------------------------------------------------------------ navigation

    def row_of(self, line: Line) -> list[Line]:
        return self.rows[line.row]

    def right_of(self, line: Line) -> list[Line]:
        """Other lines of the same visual row that start right of ``line``."""
        if line.box is None:
            return []
        return [ln for ln in self.row_of(line) if ln is not line and ln.x_of(0) > line.x_of(0)]

    def rows_after(self, line: Line, count: int) -> list[list[Line]]:
        """The next ``count`` rows after ``line``'s row on the same page."""
        out: list[list[Line]] = []
        row = line.row + 1
        while len(out) < count and row in self.rows:
            members = self.rows[row]
            if members[0].page != line.page:
                break
            out.append(members)
            row += 1
        return out

    def page_text(self, number: int) -> str:
        return self.pages[number].text

    @property
    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines)

    # ------------------------------------------------------------------ evidence

    def evidence(self, line: Line, start: int, end: int) -> Evidence:
        """Evidence for characters [start, end) of ``line``."""
        lo, hi = line.start + start, line.start + end
        boxes = [s.box for s in line.segments if s.start < hi and s.end > lo]
        return Evidence(
            page=line.page,
            start=lo,
            end=hi,
            text=self.pages[line.page].text[lo:hi],
            box=_union(boxes),
        )

    def evidence_lines(self, lines: list[Line]) -> Evidence:
        """Evidence spanning whole lines (they must be on one page)."""
        first, last = lines[0], lines[-1]
        same_page = [ln for ln in lines if ln.page == first.page]
        last = same_page[-1] if last.page != first.page else last
        lo, hi = min(ln.start for ln in same_page), max(ln.end for ln in same_page)
        boxes = [s.box for ln in same_page for s in ln.segments]
        return Evidence(
            page=first.page,
            start=lo,
            end=hi,
            text=self.pages[first.page].text[lo:hi],
            box=_union(boxes),
        )
