"""Summarize: pick the document's most representative sentences (extractive, no generation).

Sentences are embedded and scored by degree centrality, as in LexRank: the mean cosine
similarity to every other sentence. A sentence that says what many others say is central;
the top N are returned in document order, so the summary reads as the document does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from automations.engine.fields import PageText
from automations.engine.steps import StepContext, StepFailed, StepOutcome, register
from automations.steps._common import (
    MODEL_PROPERTY,
    ValidatingStep,
    get_embedder,
    script_warning,
)

# Centrality is quadratic in sentences; past this many the first ones stand for the rest.
MAX_SENTENCES = 1000
MIN_WORDS = 3  # shorter fragments (headings, "Page 2") are kept only if nothing else is

# Words that end with a full stop without ending a sentence (compared lower-case, without
# the final dot).
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt vs etc e.g i.e eg ie inc ltd co corp llc plc no nr nos
    fig figs approx dept est jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed
    thu fri sat sun p pp vol vols ch sec art para ca cf al ref tel ph min max avg incl excl
    resp gen col lt sgt capt gov rev hon u.s u.k a.m p.m
    """.split()
)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])")
_PARAGRAPH = re.compile(r"\n\s*\n")
_HYPHENATED = re.compile(r"(\w)-\n(?=[a-z])")


@dataclass
class Sentence:
    text: str
    page: int


@register
class SummarizeStep(ValidatingStep):
    name: ClassVar[str] = "summarize"
    kind: ClassVar[str] = "understand"
    label: ClassVar[str] = "Summarize"
    description: ClassVar[str] = (
        "Picks the few sentences that best represent the whole document, in their order."
    )
    output_hints: ClassVar[list[str]] = ["summary", "model"]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "sentences": {"type": "integer", "minimum": 1, "maximum": 20, "default": 3},
            "model": MODEL_PROPERTY,
        },
        "additionalProperties": False,
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        config = self.validate(config)
        sentences = split_pages(context.pages)
        if not sentences:
            raise StepFailed("There is no text to summarize.")
        warnings = []
        if len(sentences) > MAX_SENTENCES:
            warnings.append(
                f"The document has {len(sentences)} sentences; the summary is taken from "
                f"the first {MAX_SENTENCES}."
            )
            sentences = sentences[:MAX_SENTENCES]
        embedder = get_embedder(context, config["model"])
        scores = centrality(embedder.encode([s.text for s in sentences]))
        chosen = sorted(np.argsort(-scores, kind="stable")[: config["sentences"]])
        picked = [
            {
                "text": sentences[i].text,
                "page": sentences[i].page,
                "score": round(float(scores[i]), 4),
            }
            for i in chosen
        ]
        warning = script_warning(" ".join(s.text for s in sentences), embedder.name, "summarize")
        if warning:
            warnings.append(warning)
        return StepOutcome(
            output={
                "summary": " ".join(p["text"] for p in picked),
                "sentences": picked,
                "model": embedder.name,
            },
            warnings=warnings,
        )


def centrality(vectors: np.ndarray) -> np.ndarray:
    """Mean cosine similarity of each (normalised) row to all the other rows."""
    n = len(vectors)
    if n < 2:
        return np.ones(n, dtype=np.float32)
    similarity = vectors @ vectors.T
    return (similarity.sum(axis=1) - np.diag(similarity)) / (n - 1)


def split_pages(pages: list[PageText]) -> list[Sentence]:
    """Sentences of all pages, in order, without repeats (running headers, footers).

    Fragments under ``MIN_WORDS`` words are dropped unless the document has nothing else.
    """
    all_sentences: list[Sentence] = []
    seen: set[str] = set()
    for page in pages:
        for text in split_sentences(page.text or ""):
            key = " ".join(text.lower().split())
            if key not in seen:
                seen.add(key)
                all_sentences.append(Sentence(text, page.number))
    full = [s for s in all_sentences if len(s.text.split()) >= MIN_WORDS]
    return full or all_sentences


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, joining the line breaks of OCR and PDF text.

    Blank lines end a paragraph (and a sentence); single line breaks are spaces, and a
    word hyphenated across lines is joined back.
    """
    text = _HYPHENATED.sub(r"\1", text.replace("\r", ""))
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        flat = " ".join(paragraph.split())
        if flat:
            sentences.extend(_split_paragraph(flat))
    return sentences


def _split_paragraph(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for boundary in _BOUNDARY.finditer(text):
        if _is_abbreviation(text[start : boundary.start() + 1]):
            continue
        out.append(text[start : boundary.end()].strip())
        start = boundary.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _is_abbreviation(before: str) -> bool:
    """Whether the last word of ``before`` (ending in its punctuation) is an abbreviation
    or an initial ("J. Smith"), so the full stop after it does not end the sentence."""
    words = before.split()
    if not words or not before.endswith("."):
        return False
    word = words[-1].lstrip("(\"'“‘").rstrip(".").lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())
