"""Turn step outputs into what a page shows: evidence boxes as percentages of the page."""

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


def ordered_fields(output: dict | None) -> list[tuple[str, dict]]:
    """The fields of an extract_fields output in the order they were defined (vendor first),
    even after a round trip through PostgreSQL's jsonb, which sorts keys its own way."""
    fields = (output or {}).get("fields") or {}
    order = [name for name in (output or {}).get("order", []) if name in fields]
    return [(name, fields[name]) for name in order + [n for n in fields if n not in order]]


def annotate_pages(result: dict) -> dict:
    """Add `highlights` to each page of a prediction whose output has fields."""
    result["field_rows"] = ordered_fields(result.get("output"))
    fields = (result.get("output") or {}).get("fields") or {}
    for page in result.get("pages", []):
        page["highlights"] = highlights(fields, page["number"], page["width"], page["height"])
    return result
