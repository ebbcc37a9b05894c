"""A picture's pages (every TIFF frame), each read by OCR."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

from PIL import Image, ImageOps, UnidentifiedImageError

from automations.engine.extract.pages import ExtractionError, PageResult, ocr_page
from automations.engine.filetypes import (
    DEFAULT_LIMITS,
    MSG_IMAGE_DAMAGED,
    MSG_IMAGE_TOO_LARGE,
    InputLimits,
    set_image_pixel_limit,
)
from catalog.runtime.ocr import OcrEngine


def iter_image(
    path: str | os.PathLike[str],
    ocr: OcrEngine,
    start: int,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Iterator[PageResult]:
    set_image_pixel_limit(limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ExtractionError(MSG_IMAGE_TOO_LARGE) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ExtractionError(MSG_IMAGE_DAMAGED) from exc
    try:
        frames = getattr(img, "n_frames", 1)
        for index in range(start - 1, frames):
            try:
                img.seek(index)
                with warnings.catch_warnings():
                    # The same pixel limit as the upload's inspection (a TIFF page
                    # past it was refused there); never decode more than that.
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    img.load()
                    # Phone photos are stored sideways with an EXIF rotation flag.
                    frame = ImageOps.exif_transpose(img.copy())
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ExtractionError(MSG_IMAGE_TOO_LARGE) from exc
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ExtractionError(MSG_IMAGE_DAMAGED) from exc
            yield ocr_page(index + 1, frame, ocr)
    finally:
        img.close()
