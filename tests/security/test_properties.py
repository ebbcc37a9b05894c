"""Property-based tests: whatever comes in, the answer is a result or a clear error (the
module's own error type, or a 4xx with a message), never an unhandled exception.

Bounded and derandomized (the same examples on every run), so that together they take well
under a minute.
"""

from __future__ import annotations

import functools
import json
import math
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automations.engine.conditions import (
    OPS,
    Verdict,
    check_when,
    equals,
    evaluate,
    show,
    to_number,
)
from automations.engine.filetypes import FileRejected, Inspection, inspect_file
from automations.engine.pipeline import check_pipeline, parse_pipeline
from automations.engine.steps import StepConfigError, all_steps
from tests import files
from tests.api.callers import caller_for
from tests.automations.helpers import make_document

BOUNDED = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,  # nothing written to .hypothesis/: the examples are the same every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MANY = settings(BOUNDED, max_examples=400)  # pure functions: cheap examples

# What json.loads can give (an int of more than 4300 digits it refuses), and past it.
HUGE = st.sampled_from([10**400, -(10**400), 2**64, float("inf"), float("nan")])
PAST_JSON = st.builds(lambda: 10**5000)  # past what str() and json.dumps() write


def json_like(scalars):
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["1,234.50", "EUR 12,50", "²", "١٢", "9" * 400, "1e400", " ", "invoice"])
)
JSON_LIKE = json_like(SCALARS)
ANY_LIKE = json_like(SCALARS | PAST_JSON)  # conditions take any value without an exception


# --- the upload inspector -------------------------------------------------------------------


@functools.cache
def samples() -> dict[str, bytes]:
    """Small real files of every kind Pyq accepts."""
    return {
        "pdf": files.text_pdf(["Invoice 42", "Total 7.75"]),
        "png": files.blank_image("PNG"),
        "jpeg": files.blank_image("JPEG"),
        "tiff": files.blank_image("TIFF"),
        "docx": files.docx_file(["Invoice 42"]),
        "eml": files.eml_file("Hello", [("a.txt", "text/plain", b"attached")]),
        "txt": b"Invoice 42\nTotal 7.75\n",
    }


@st.composite
def mutated_files(draw) -> bytes:
    data = bytearray(samples()[draw(st.sampled_from(sorted(samples())))])
    how = draw(st.sampled_from(["truncate", "flip", "splice", "random"]))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 20))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return bytes(data[:at] + draw(st.binary(max_size=200)) + data[at:])
    head = draw(
        st.sampled_from([b"", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"II*\x00"])
    )
    return head + draw(st.binary(max_size=400))


@pytest.fixture(scope="module")
def _samples() -> None:
    samples()  # made before Hypothesis draws from them (python-docx uses `random`)


@pytest.mark.usefixtures("_samples")
@MANY
@given(data=mutated_files())
def test_the_inspector_accepts_or_rejects_any_bytes_with_a_message(tmp_path, data):
    path = tmp_path / "upload"
    path.write_bytes(data)
    try:
        result = inspect_file(path, max_pages=20)
    except FileRejected as exc:
        result = str(exc)
    assert result  # a message for the person, or what the file is
    if isinstance(result, Inspection):
        assert 1 <= result.page_count <= 20


# --- the pipeline parser --------------------------------------------------------------------


@functools.cache
def step_names() -> list[str]:
    return sorted(all_steps())


@st.composite
def pipelines(draw):
    """Mostly pipeline-shaped values with arbitrary parts; sometimes anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(JSON_LIKE)
    steps = []
    for _ in range(draw(st.integers(0, 4))):
        item = {"step": draw(st.sampled_from(step_names()) | JSON_LIKE)}
        if draw(st.booleans()):
            item["id"] = draw(st.sampled_from(["text", "type", "fields", "send"]) | JSON_LIKE)
        if draw(st.booleans()):
            item["config"] = draw(JSON_LIKE)
        if draw(st.booleans()):
            item["when"] = draw(conditions())
        if draw(st.integers(0, 3)) == 0:
            item["otherwise_of"] = draw(st.sampled_from(["text", "type"]) | JSON_LIKE)
        steps.append(item)
    return steps


@MANY
@given(raw=pipelines())
def test_the_pipeline_parser_answers_specs_or_a_step_config_error(raw):
    try:
        specs = parse_pipeline(raw)
    except StepConfigError as exc:
        specs = str(exc)
    assert isinstance(specs, list) or specs
    problems = check_pipeline(raw)
    assert all(isinstance(p["message"], str) and p["message"] for p in problems)
    json.dumps(problems)  # what the builder sends to the page


# --- the condition evaluator ----------------------------------------------------------------

REFS = st.sampled_from(["type.label", "type.score", "fields.fields.total.value", "text.²", "x"])


@st.composite
def conditions(draw, values=JSON_LIKE):
    if draw(st.integers(0, 5)) == 0:
        return draw(values)
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        rule = {"ref": draw(REFS | values), "op": draw(st.sampled_from(sorted(OPS)) | values)}
        if draw(st.booleans()):
            rule["value"] = draw(values)
        rules.append(rule)
    return {"match": draw(st.sampled_from(["all", "any"]) | values), "rules": rules}


OUTPUTS = st.fixed_dictionaries(
    {
        "type": st.dictionaries(st.sampled_from(["label", "score", "top"]), ANY_LIKE),
        "fields": st.fixed_dictionaries(
            {"fields": st.fixed_dictionaries({"total": st.fixed_dictionaries({"value": ANY_LIKE})})}
        ),
        "text": ANY_LIKE,
    }
)


@MANY
@given(raw=conditions(ANY_LIKE), outputs=OUTPUTS)
def test_conditions_are_checked_and_evaluated_without_an_exception(raw, outputs):
    when, problems = check_when(raw, ["type", "fields", "text"])
    assert all(p.message for p in problems)
    if when is None:
        assert problems
        return
    verdict = evaluate(when, outputs)
    assert isinstance(verdict, Verdict)
    assert verdict.holds or verdict.reason


@MANY
@given(left=ANY_LIKE, right=ANY_LIKE)
def test_comparing_and_showing_any_values_never_raises(left, right):
    number = to_number(left)
    assert number is None or math.isfinite(number)
    assert isinstance(equals(left, right), bool)
    assert isinstance(show(left), str)


# --- the API's query parameters -------------------------------------------------------------

TEXT = st.text(max_size=30) | st.sampled_from(["²", "١", "0", "-1", "9" * 40, "1e3", "%00"])


@pytest.fixture
def api_caller(owner, settings):
    settings.PYQ_API_RATE_PER_KEY = None
    settings.PYQ_API_RATE_PER_ORG = None
    make_document(owner.org, "a.txt", b"hello")
    return caller_for(owner)


def assert_clear_answer(response) -> None:
    assert response.status_code in (200, 400, 404), response.status_code
    assert response["Content-Type"] == "application/json"
    if response.status_code != 200:
        assert response.json()["error"]["message"]


@BOUNDED
@given(page=TEXT, extra=st.dictionaries(TEXT, TEXT, max_size=2))
def test_the_document_list_answers_any_query(api_caller, page, extra):
    assert_clear_answer(api_caller.get("/api/v1/documents", {**extra, "page": page}))


@BOUNDED
@given(segment=TEXT, which=st.sampled_from(["documents", "runs"]))
def test_document_and_run_urls_answer_any_id(api_caller, segment, which):
    assert_clear_answer(api_caller.get(f"/api/v1/{which}/{quote(segment, safe='')}"))


@BOUNDED
@given(
    query=st.dictionaries(
        st.sampled_from(["page", "workflow", "status", "since", "until", "tests"]), TEXT
    )
)
def test_the_run_list_page_answers_any_filter(member, query):
    response = member.client.get("/runs/", query)
    assert response.status_code == 200
