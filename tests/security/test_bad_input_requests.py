"""Bad requests, one kind a test: each is answered 4xx with a message that says what was wrong,
in the API's JSON shape under /api/, and leaves no row and no file behind.

The files half of the corpus (damaged, crafted and bomb files) is test_bad_input_files.py.
"""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from html import escape

import pytest
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from automations.models import Document, Run, StepRun, Workflow, WorkflowVersion
from pyq_site.errors import MALFORMED, NAME_TOO_LONG
from tests.api.callers import caller_for
from tests.automations.helpers import make_document, stored_files, upload
from tests.factories import READ, SORT

DOCUMENTS_API = "/api/v1/documents"
PREDICT_API = "/api/v1/models/minilm-classifier/predict"
MB = 1024 * 1024
UPLOAD_LIMIT_MESSAGE = "Files may be up to 1 MB each, 2 files a request."
FORM_LIMIT_MESSAGE = "This request is too large: forms and JSON may be up to 1 MB."
ANONYMOUS_MESSAGE = (
    "This request is too large for a page without a login (at most 1 MB). Log in first."
)
DEEP = "[" * 100_000 + "]" * 100_000  # RecursionError in json.loads
NESTED_40 = json.dumps(json.loads("[" * 40 + "]" * 40))  # parses, but deeper than 32 levels
TOO_DEEP_BODY = "The body is nested too deeply: at most 32 levels of arrays and objects."


# --- helpers --------------------------------------------------------------------------------


def _state() -> tuple:
    return (
        Document.objects.count(),
        Run.objects.count(),
        StepRun.objects.count(),
        Workflow.objects.count(),
        WorkflowVersion.objects.count(),
        tuple(stored_files()),
    )


@contextmanager
def nothing_new():
    """The database (documents, runs, workflows, versions) and MEDIA_ROOT hold nothing new."""
    before = _state()
    yield
    assert _state() == before


class CountingInput:
    """A request body that counts the bytes the server read of it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int = -1, /) -> bytes:
        chunk = self._data.readline(size)
        self.read_bytes += len(chunk)
        return chunk


def multipart(fields: dict) -> bytes:
    return encode_multipart(BOUNDARY, fields)


def post_counted(client: Client, path: str, body: bytes, content_type: str, **extra):
    """POST a body through CountingInput; returns (response, bytes read)."""
    stream = CountingInput(body)
    response = client.generic(
        "POST", path, body, content_type=content_type, **{"wsgi.input": stream}, **extra
    )
    return response, stream.read_bytes


def post_chunked(client: Client, path: str, body: bytes, content_type: str, **extra):
    """POST without a Content-Length, as a chunked body arrives from gunicorn."""
    stream = CountingInput(body)
    response = client.generic(
        "POST",
        path,
        b"",
        CONTENT_TYPE=content_type,
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream, "wsgi.input_terminated": True},
        **extra,
    )
    return response, stream.read_bytes


def api_error(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


def page_says(response, message: str) -> None:
    assert response["Content-Type"].startswith("text/html")
    assert escape(message) in response.content.decode()


@pytest.fixture
def small_limits(settings):
    settings.PYQ_MAX_UPLOAD_MB = 1
    settings.PYQ_MAX_FILES_PER_UPLOAD = 2


@pytest.fixture
def predictions(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setattr("api.models_api.run_model", lambda *a, **k: calls.append(k))
    return calls


def builder_url(name: str, workflow: Workflow) -> str:
    return reverse(f"automations:{name}", args=[workflow.pk])


def with_condition(value) -> list[dict]:
    rule = {"ref": "type.score", "op": "above", "value": value}
    return [READ, SORT, {"id": "send", "step": "tag", "when": {"rules": [rule]}}]


# --- Unicode digits where a number is expected ---------------------------------------------


@pytest.mark.parametrize("page", ["²", "١", "０", "1²", "9" * 30])
def test_unicode_digits_in_the_api_page_are_400(api, page):
    with nothing_new():
        response = api.get(DOCUMENTS_API, {"page": page})
    assert response.status_code == 400
    assert api_error(response) == {
        "code": "invalid_page",
        "message": "page must be a whole number from 1.",
    }


def test_unicode_digits_in_an_api_run_id_are_404_even_when_int_would_read_them(api, owner):
    run = make_document(owner.org, "a.txt", b"hello").runs.get()
    arabic = str(run.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert int(arabic) == run.pk  # what the old isdigit() + int() check let through
    for run_id in ("²", arabic, "99999999999999999999999"):
        with nothing_new():
            response = api.get(f"/api/v1/runs/{run_id}")
        assert response.status_code == 404
        assert api_error(response) == {"code": "not_found", "message": "No such run."}
    assert api.get(f"/api/v1/runs/{run.pk}").status_code == 200


@pytest.mark.parametrize("position", ["²", "١", "-1", "1.0", "99999999999999999999"])
def test_unicode_digits_in_the_builder_position_are_400(member, workflow, position):
    with nothing_new():
        response = member.client.get(
            builder_url("builder_references", workflow), {"position": position}
        )
    assert response.status_code == 400
    assert response.json() == {"error": "position is a step number from 0."}


@pytest.mark.parametrize("name", ["documents", "runs", "workflows", "tables"])
def test_unicode_digits_in_a_dashboard_page_show_the_first_page(member, name):
    with nothing_new():
        response = member.client.get(reverse(f"automations:{name}"), {"page": "²"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path", ["/runs/²/", "/workflows/²/builder/", "/runs/99999999999999999999/"]
)
def test_unicode_digits_or_huge_numbers_in_a_path_are_404(member, path):
    with nothing_new():
        response = member.client.get(path)
    assert response.status_code == 404


# --- nested JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", [DEEP, NESTED_40], ids=["recursion", "depth-40"])
def test_deeply_nested_pipeline_field_is_400_and_stores_nothing(api, pipeline):
    with nothing_new():
        response = api.post(
            DOCUMENTS_API, {"file": upload("a.txt", b"hello"), "pipeline": pipeline}
        )
    assert response.status_code == 400
    assert api_error(response) == {
        "code": "invalid_pipeline",
        "message": "'pipeline' is nested too deeply: at most 32 levels of arrays and objects.",
    }


@pytest.mark.parametrize("body", [DEEP, '{"text": "x", "labels": ' + NESTED_40 + "}"])
def test_deeply_nested_predict_body_is_400(api, predictions, body):
    with nothing_new():
        response = api.post(PREDICT_API, body, content_type="application/json")
    assert response.status_code == 400
    assert api_error(response) == {"code": "bad_request", "message": TOO_DEEP_BODY}
    assert predictions == []


def test_deeply_nested_predict_options_are_400(api, predictions):
    with nothing_new():
        response = api.post(PREDICT_API, {"text": "Invoice 12", "options": DEEP})
    assert response.status_code == 400
    assert api_error(response) == {
        "code": "bad_request",
        "message": "'options' is nested too deeply: at most 32 levels of arrays and objects.",
    }
    assert predictions == []


@pytest.mark.parametrize("body", [DEEP, '{"steps": ' + NESTED_40 + "}"])
def test_deeply_nested_draft_is_400_and_keeps_the_draft(member, workflow, body):
    with nothing_new():
        response = member.client.post(
            builder_url("builder_draft", workflow), body, content_type="application/json"
        )
    assert response.status_code == 400
    assert response.json() == {"error": TOO_DEEP_BODY}
    workflow.refresh_from_db()
    assert workflow.draft == [READ, SORT]


# --- huge numbers ---------------------------------------------------------------------------


def test_a_huge_number_in_a_condition_is_a_problem_of_the_draft_and_cannot_be_published(
    member, workflow
):
    address = builder_url("builder_draft", workflow)
    response = member.client.post(
        address, json.dumps({"steps": with_condition(10**400)}), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["problems"] == [
        {
            "step": 2,
            "field": "when.rules.0.value",
            "message": "Step 3: when rule 1: the number is too large; use one between "
            "-1,000,000,000,000,000 and 1,000,000,000,000,000.",
            "level": "error",
        }
    ]
    with nothing_new():
        published = member.client.post(
            builder_url("builder_publish", workflow), "{}", content_type="application/json"
        )
    assert published.status_code == 400
    assert "the number is too large" in published.json()["error"]


@pytest.mark.parametrize(
    "value", [10**400, -(10**400), "9" * 400], ids=["int", "negative-int", "text"]
)
def test_a_draft_already_holding_a_huge_number_still_renders(member, workflow, value):
    Workflow.objects.filter(pk=workflow.pk).update(draft=with_condition(value))
    with nothing_new():
        builder = member.client.get(builder_url("builder", workflow))
        page = member.client.get(reverse("automations:workflow", args=[workflow.pk]))
    assert builder.status_code == 200
    assert page.status_code == 200
    problem = "is not a number" if isinstance(value, str) else "the number is too large"
    assert problem in builder.content.decode()


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("1e400", "'pipeline' holds a number too large to use."),
        ("NaN", "'pipeline' holds a number too large to use."),
        ("1" + "0" * 5000, "'pipeline' holds a number too large to use."),
        (
            "1" + "0" * 400,
            "Step 3: when rule 1: the number is too large; use one between "
            "-1,000,000,000,000,000 and 1,000,000,000,000,000.",
        ),
    ],
    ids=["float-inf", "nan", "int-5000-digits", "int-400-digits"],
)
def test_a_huge_number_in_an_api_pipeline_is_400_and_stores_nothing(api, literal, message):
    pipeline = json.dumps(with_condition("VALUE")).replace('"VALUE"', literal)
    with nothing_new():
        response = api.post(DOCUMENTS_API, {"file": upload("a.txt", b"hi"), "pipeline": pipeline})
    assert response.status_code == 400
    assert api_error(response) == {"code": "invalid_pipeline", "message": message}


# --- malformed and oversize JSON on the API -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{not json",
            "The body is not valid JSON: Expecting property name enclosed in double quotes.",
        ),
        (b'{"text": "\xff\xfe"}', "The body is not valid JSON: it is not UTF-8 text."),
        (b"[1, 2]", "Send a JSON object."),
    ],
    ids=["syntax", "not-utf8", "not-an-object"],
)
def test_malformed_json_on_the_api_is_a_json_400(api, predictions, body, message):
    with nothing_new():
        response = api.post(PREDICT_API, body, content_type="application/json")
    assert response.status_code == 400
    assert api_error(response) == {"code": "bad_request", "message": message}
    assert predictions == []


def test_oversize_json_on_the_api_is_a_json_413_before_it_is_read(api, predictions):
    body = json.dumps({"text": "x" * (MB + 10)}).encode()
    with nothing_new():
        response, read = post_counted(
            api.client,
            PREDICT_API,
            body,
            "application/json",
            HTTP_AUTHORIZATION=f"Bearer {api.raw}",
        )
    assert response.status_code == 413
    assert api_error(response) == {"code": "too_large", "message": FORM_LIMIT_MESSAGE}
    assert read == 0
    assert predictions == []


def test_chunked_oversize_json_on_the_api_is_a_json_413(api, predictions):
    body = json.dumps({"text": "x" * (MB + 10)}).encode()
    with nothing_new():
        response, read = post_chunked(
            api.client,
            PREDICT_API,
            body,
            "application/json",
            HTTP_AUTHORIZATION=f"Bearer {api.raw}",
        )
    assert response.status_code == 413
    assert api_error(response) == {"code": "too_large", "message": FORM_LIMIT_MESSAGE}
    assert read <= MB + 1
    assert predictions == []


def test_unknown_api_fields_are_named(api, predictions):
    with nothing_new():
        typo = api.post(
            PREDICT_API,
            json.dumps({"text": "Invoice", "treshold": 0.5}),
            content_type="application/json",
        )
        upload_typo = api.post(DOCUMENTS_API, {"file": upload("a.txt", b"hi"), "pipline": "[]"})
    assert typo.status_code == 400
    assert api_error(typo) == {
        "code": "bad_request",
        "message": "Unknown field 'treshold'; the fields are classifier, fields, kinds, "
        "labels, model, sentences, text, threshold.",
    }
    assert upload_typo.status_code == 400
    assert api_error(upload_typo) == {
        "code": "unknown_field",
        "message": "Unknown field 'pipline': send files as 'file' and, if you like, a 'pipeline'.",
    }
    assert predictions == []


def test_a_wrong_content_type_on_the_upload_api_is_400(api):
    with nothing_new():
        response = api.post(DOCUMENTS_API, "plain words", content_type="text/plain")
    assert response.status_code == 400
    assert api_error(response)["code"] == "no_files"


def test_malformed_multipart_on_the_api_is_a_json_400(api):
    body = b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="file"\r\n'
    with nothing_new():
        response = api.post(
            DOCUMENTS_API, body, content_type="multipart/form-data; boundary=\u00e9"
        )
    assert response.status_code == 400
    assert api_error(response) == {"code": "bad_request", "message": MALFORMED}


def test_unknown_api_paths_and_methods_answer_json(api):
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert api_error(missing) == {
        "code": "not_found",
        "message": "There is no such endpoint; see the API's documentation.",
    }
    wrong_method = api.generic("DELETE", DOCUMENTS_API)
    assert wrong_method.status_code == 405
    assert api_error(wrong_method)["code"] == "method_not_allowed"


def test_an_api_error_on_the_server_side_is_a_json_500(owner, monkeypatch):
    caller = caller_for(owner)
    caller.client = Client(raise_request_exception=False)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("api.pages.Paginator", broken)
    response = caller.get(DOCUMENTS_API)
    assert response.status_code == 500
    assert api_error(response) == {
        "code": "server_error",
        "message": "Something went wrong on our side; the error was logged. Try again later.",
    }


# --- oversize bodies, with and without a login ----------------------------------------------


def two_big_files() -> bytes:
    return multipart({"files": [upload("a.txt", b"a" * (2 * MB)), upload("b.txt", b"b" * 2 * MB)]})


def test_an_oversize_upload_with_a_login_is_413_before_it_is_read(member, small_limits):
    with nothing_new():
        response, read = post_counted(member.client, "/", two_big_files(), MULTIPART_CONTENT)
    assert response.status_code == 413
    page_says(response, UPLOAD_LIMIT_MESSAGE)
    assert read == 0


def test_an_oversize_upload_on_the_api_is_413_before_it_is_read(api, small_limits):
    body = multipart({"file": [upload("a.txt", b"a" * (2 * MB)), upload("b.txt", b"b" * 2 * MB)]})
    with nothing_new():
        response, read = post_counted(
            api.client,
            DOCUMENTS_API,
            body,
            MULTIPART_CONTENT,
            HTTP_AUTHORIZATION=f"Bearer {api.raw}",
        )
    assert response.status_code == 413
    assert api_error(response) == {"code": "too_large", "message": UPLOAD_LIMIT_MESSAGE}
    assert read == 0


def test_an_upload_without_a_login_and_a_self_made_csrf_cookie_is_never_read(db):
    """The CSRF check reads a form to find its token: without a login, it must not get to
    parse (and spool to disk) an upload before the login check answers."""
    client = Client(enforce_csrf_checks=True)
    token = "a" * 32
    client.cookies["csrftoken"] = token
    body = multipart(
        {"csrfmiddlewaretoken": token, "files": upload("big.pdf", b"%PDF-" + b"0" * (3 * MB))}
    )
    with nothing_new():
        response, read = post_counted(client, "/", body, MULTIPART_CONTENT)
    assert response.status_code == 413
    page_says(response, ANONYMOUS_MESSAGE)
    assert read == 0


def test_a_small_post_without_a_login_still_reaches_the_login_check(db):
    with nothing_new():
        response = Client().post("/", {"files": upload("a.txt", b"hello")})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_an_api_upload_without_a_key_is_401_and_never_read(db, small_limits):
    body = multipart({"file": upload("a.txt", b"a" * (2 * MB))})
    with nothing_new():
        response, read = post_counted(Client(), DOCUMENTS_API, body, MULTIPART_CONTENT)
    assert response.status_code == 401
    assert api_error(response)["code"] == "missing_key"
    assert read == 0


def test_a_chunked_oversize_body_with_a_login_stops_at_the_limit(member, workflow):
    body = json.dumps({"steps": [READ], "name": "x" * (2 * MB)}).encode()
    with nothing_new():
        response, read = post_chunked(
            member.client,
            builder_url("builder_draft", workflow),
            body,
            "application/json",
            HTTP_ACCEPT="application/json",
        )
    assert response.status_code == 413
    assert response.json() == {"error": FORM_LIMIT_MESSAGE}
    assert read <= MB + 1
    workflow.refresh_from_db()
    assert workflow.draft == [READ, SORT]


def test_a_chunked_body_under_the_limit_is_read(member, workflow):
    body = json.dumps({"steps": [READ]}).encode()
    response, read = post_chunked(
        member.client, builder_url("builder_draft", workflow), body, "application/json"
    )
    assert response.status_code == 200
    assert read == len(body)
    workflow.refresh_from_db()
    assert workflow.draft == [READ]


def test_a_chunked_oversize_form_without_a_login_stops_at_the_small_limit(db):
    body = b"email=a%40b.c&password=" + b"x" * (2 * MB)
    with nothing_new():
        response, read = post_chunked(
            Client(), reverse("account_login"), body, "application/x-www-form-urlencoded"
        )
    assert response.status_code == 413
    page_says(response, ANONYMOUS_MESSAGE)
    assert read <= MB + 1


def test_a_chunked_upload_is_411(member):
    body = multipart({"files": upload("a.txt", b"hello")})
    with nothing_new():
        response, read = post_chunked(member.client, "/", body, MULTIPART_CONTENT)
    assert response.status_code == 411
    page_says(response, "Send uploads with a Content-Length (not chunked).")
    assert read == 0


def test_a_content_length_that_is_not_a_number_is_400(member):
    with nothing_new():
        response = member.client.generic(
            "POST", "/", b"x", content_type="text/plain", CONTENT_LENGTH="12abc"
        )
    assert response.status_code == 400
    page_says(response, "The request's Content-Length is not a number.")


# --- files past their limit while they stream ------------------------------------------------


class RecordingHandler(TemporaryFileUploadHandler):
    """Records how many bytes of each file reached the disk."""

    written: list[int] = []

    def file_complete(self, file_size):
        RecordingHandler.written.append(file_size)
        return super().file_complete(file_size)

    def receive_data_chunk(self, raw_data, start):
        RecordingHandler.written.append(-len(raw_data))  # every chunk that reached us
        return super().receive_data_chunk(raw_data, start)


@pytest.fixture
def recording(settings):
    RecordingHandler.written = []
    # The configured handlers, with the one that writes files to disk recording what it got.
    *before, last = settings.FILE_UPLOAD_HANDLERS
    assert last == "django.core.files.uploadhandler.TemporaryFileUploadHandler"
    settings.FILE_UPLOAD_HANDLERS = [*before, f"{__name__}.RecordingHandler"]
    return RecordingHandler.written


def test_a_file_past_the_size_limit_is_not_written_whole(api, settings, recording):
    settings.PYQ_MAX_UPLOAD_MB = 1
    response = api.post(
        DOCUMENTS_API,
        {"file": [upload("big.txt", b"a" * (5 * MB)), upload("ok.txt", b"fine")]},
    )
    assert response.status_code == 201
    assert response.json()["rejected"] == [
        {"name": "big.txt", "error": "The file is larger than the 1 MB limit."}
    ]
    assert list(Document.objects.values_list("original_name", flat=True)) == ["ok.txt"]
    reached_disk = -sum(size for size in recording if size < 0)
    assert reached_disk <= MB + len(b"fine")


def test_files_past_the_total_while_they_stream_are_413(api, small_limits, recording):
    files = [upload(f"n{i}.txt", b"n" * (9 * MB // 10)) for i in range(3)]
    with nothing_new():
        response = api.post(DOCUMENTS_API, {"file": files})
    assert response.status_code == 413
    assert api_error(response) == {"code": "too_large", "message": UPLOAD_LIMIT_MESSAGE}
    assert -sum(size for size in recording if size < 0) <= 2 * MB


def test_a_file_past_the_limit_in_the_playground_is_refused_by_size(member, settings):
    settings.PYQ_MAX_UPLOAD_MB = 1
    with nothing_new():
        response = member.client.post(
            reverse("catalog:try", args=["invoice-extractor"]),
            {"file": upload("big.pdf", b"%PDF-" + b"0" * (2 * MB))},
        )
    assert response.status_code == 400
    assert "big.pdf: The file is larger than the 1 MB limit." in response.content.decode()


def test_an_oversize_playground_upload_from_htmx_is_a_413_fragment(member, settings):
    settings.PYQ_MAX_UPLOAD_MB = 1
    body = multipart({"file": upload("big.pdf", b"%PDF-" + b"0" * (3 * MB))})
    with nothing_new():
        response, read = post_counted(
            member.client,
            reverse("catalog:try", args=["invoice-extractor"]),
            body,
            MULTIPART_CONTENT,
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 413
    assert response.content.decode() == (
        '<p class="error" role="alert">The file may be up to 1 MB.</p>\n'
    )
    assert read == 0


# --- multipart limits: long names, too many files or fields ---------------------------------


RAW_MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"  # a body the test client sends as is
LONG_NAME = "a" * 1100 + ".txt"  # what a browser sends; Django's test files cut names at 255


def long_name_body(field: str, token: str | None = None) -> bytes:
    parts = []
    if token:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"'
            f"\r\n\r\n{token}\r\n"
        )
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{LONG_NAME}"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{BOUNDARY}--\r\n'
    )
    return "".join(parts).encode()


def test_a_file_name_past_the_header_limit_on_the_dashboard_says_so(member):
    with nothing_new():
        response = member.client.post("/", long_name_body("files"), content_type=RAW_MULTIPART)
    assert response.status_code == 400
    page_says(response, NAME_TOO_LONG)


def test_a_file_name_past_the_header_limit_says_so_when_the_csrf_check_reads_the_form(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member.user)
    client.get("/")  # the CSRF cookie
    token = client.cookies["csrftoken"].value
    with nothing_new():
        response = client.post("/", long_name_body("files", token), content_type=RAW_MULTIPART)
    assert response.status_code == 400
    page_says(response, NAME_TOO_LONG)


def test_a_file_name_past_the_header_limit_on_the_api_says_so(api):
    with nothing_new():
        response = api.post(DOCUMENTS_API, long_name_body("file"), content_type=RAW_MULTIPART)
    assert response.status_code == 400
    assert api_error(response) == {"code": "name_too_long", "message": NAME_TOO_LONG}


def test_too_many_files_on_the_dashboard_says_how_many(member, settings):
    settings.PYQ_MAX_FILES_PER_UPLOAD = 1
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    with nothing_new():
        response = member.client.post(
            "/", {"files": [upload(f"n{i}.txt", b"text") for i in range(3)]}
        )
    assert response.status_code == 413
    page_says(response, "Send at most 1 files in one request.")


def test_too_many_fields_is_400_with_the_limit(owner, workflow):
    fields = "&".join(f"f{i}=1" for i in range(1001))
    with nothing_new():
        response = owner.client.post(
            reverse("automations:workflow_rename", args=[workflow.pk]),
            fields,
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 400
    page_says(response, "The form has too many fields: at most 1000.")
    workflow.refresh_from_db()
    assert workflow.name == "Invoice intake"
