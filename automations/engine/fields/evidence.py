"""Where a field's evidence lies on a page, as boxes in percent of the page, for the boxes a
page's picture shows over the values found (the document page and the playground)."""

from __future__ import annotations


def highlights(fields: dict, page_number: int, width: int | None, height: int | None) -> list:
    """One box per field whose evidence lies on this page and has a box (OCR pages)."""
    if not width or not height:
        return []
    boxes = []
    for name, found in (fields or {}).items():
        evidence = found.get("evidence") or {}
        box = evidence.get("box")
        if not box or evidence.get("page") != page_number:
            continue
        x0, y0, x1, y1 = box
        boxes.append(
            {
                "name": name,
                "value": found.get("value"),
                "left": round(100 * x0 / width, 2),
                "top": round(100 * y0 / height, 2),
                "width": round(100 * (x1 - x0) / width, 2),
                "height": round(100 * (y1 - y0) / height, 2),
            }
        )
    return boxes
