"""Redact: find personal and payment data and black it out, in the text and in the pages.

Besides the redacted text, the step makes copies a person can share: for a PDF, every page
rendered to a picture with black boxes over the matches and reassembled into a PDF with
no text layer (nothing to copy back out); for a picture, the picture with the OCR lines'
matching parts blacked out. The output never contains a matched value, only a masked
preview.

By role: ``detectors`` (what counts as an e-mail, phone, IBAN or card number, strict on
purpose so that dates, amounts and order numbers stay readable; find_matches),
``patterns`` (a person's own patterns: checked, compiled, searched with a time bound),
``text`` (replacing matches, masked previews), ``lines`` (where a match is on an OCR
line), ``images`` (black boxes on page pictures), ``pdf`` (the image-only PDF) and
``step`` (RedactStep, registered when this package is imported).
"""

from automations.steps.redact.detectors import (
    ALL_KINDS,
    BUILTIN_KINDS,
    Match,
    card_is_valid,
    find_matches,
    iban_is_valid,
    luhn_is_valid,
    phone_is_valid,
)
from automations.steps.redact.patterns import compile_patterns
from automations.steps.redact.pdf import redacted_pdf
from automations.steps.redact.step import RedactStep
from automations.steps.redact.text import mask_preview, redact_text, replacement_for

__all__ = [
    "ALL_KINDS",
    "BUILTIN_KINDS",
    "Match",
    "RedactStep",
    "card_is_valid",
    "compile_patterns",
    "find_matches",
    "iban_is_valid",
    "luhn_is_valid",
    "mask_preview",
    "phone_is_valid",
    "redact_text",
    "redacted_pdf",
    "replacement_for",
]
