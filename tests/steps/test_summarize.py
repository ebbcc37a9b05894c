from __future__ import annotations

import numpy as np
import pytest

from automations.engine.fields import PageText
from automations.engine.steps import StepConfigError, StepFailed, get_step
from automations.steps.summarize import SummarizeStep, centrality, split_sentences

PAGE_ONE = (
    "Solar power is growing fast across Europe. Mr. Smith, the energy minister, said solar\n"
    "panels now supply 12.50 percent of the country's electricity.\n"
    "Cheap solar panels and better batteries make solar power attractive for house-\n"
    "holds.\n\n"
    "The cafeteria will close early on Friday."
)
PAGE_TWO = (
    "Analysts e.g. at the national bank expect solar capacity to double by 2030, as solar "
    "farms get cheaper. My cat likes to sleep on the sofa."
)
SENTENCES = [
    "Solar power is growing fast across Europe.",
    "Mr. Smith, the energy minister, said solar panels now supply 12.50 percent of the "
    "country's electricity.",
    "Cheap solar panels and better batteries make solar power attractive for households.",
    "The cafeteria will close early on Friday.",
    "Analysts e.g. at the national bank expect solar capacity to double by 2030, as solar "
    "farms get cheaper.",
    "My cat likes to sleep on the sofa.",
]


def test_sentences_survive_abbreviations_numbers_and_line_breaks():
    assert split_sentences(PAGE_ONE) + split_sentences(PAGE_TWO) == SENTENCES
    assert split_sentences("Dr. J. Watson arrived. He paid $3.50! Why? Nobody knew") == [
        "Dr. J. Watson arrived.",
        "He paid $3.50!",
        "Why?",
        "Nobody knew",
    ]
    assert split_sentences("TOTAL\n\nThank you for your order.") == [
        "TOTAL",
        "Thank you for your order.",
    ]


def test_summary_has_n_sentences_in_order_with_the_most_central(make_context, embedder):
    context = make_context(pages=[PageText(1, PAGE_ONE), PageText(2, PAGE_TWO)])

    output = get_step("summarize").run(context, {"sentences": 3}).output

    picked = [s["text"] for s in output["sentences"]]
    assert len(picked) == 3
    assert picked == [s for s in SENTENCES if s in picked]  # document order
    scores = centrality(embedder.encode(SENTENCES))
    assert SENTENCES[int(np.argmax(scores))] in picked
    assert "My cat likes to sleep on the sofa." not in picked
    assert "The cafeteria will close early on Friday." not in picked
    assert output["summary"] == " ".join(picked)
    assert all(s["page"] == (2 if s["text"] in SENTENCES[4:] else 1) for s in output["sentences"])
    assert output["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_fewer_sentences_than_asked_returns_them_all(make_context):
    output = get_step("summarize").run(make_context("One short line. And a second one."), {}).output

    assert [s["text"] for s in output["sentences"]] == ["One short line.", "And a second one."]


def test_repeated_headers_count_once(make_context):
    header = "ACME Ltd quarterly report for shareholders."
    context = make_context(f"{header} Sales rose a lot.", f"{header} Costs fell a little.")

    output = get_step("summarize").run(context, {"sentences": 5}).output

    assert [s["text"] for s in output["sentences"]].count(header) == 1


def test_no_text_fails(make_context):
    with pytest.raises(StepFailed, match=r"^There is no text to summarize\.$"):
        get_step("summarize").run(make_context(" ", "\n"), {})


def test_centrality_is_the_mean_similarity_to_the_others():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)

    np.testing.assert_allclose(centrality(vectors), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(centrality(vectors[:1]), [1.0])


@pytest.mark.parametrize(
    "config", [{"sentences": 0}, {"sentences": 21}, {"sentences": "3"}, {"length": 3}]
)
def test_bad_configs_are_refused(config):
    with pytest.raises(StepConfigError):
        SummarizeStep.validate(config)
