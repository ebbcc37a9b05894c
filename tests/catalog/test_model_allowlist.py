"""Models are chosen from a list: a step's `model` and `classifier`, and the predict API's,
take only catalog names; a path or an unlisted Hugging Face id is refused where it arrives
(the builder, publishing, the API) and again by the loaders in a worker. Model caches are
bounded, and a model that cannot be loaded fails its step with a message naming it.

No test here loads MiniLM: the loaders are stopped before they read anything."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from automations.engine.fields import PageText
from automations.engine.pipeline import (
    MemoryStore,
    check_pipeline,
    parse_pipeline,
    run_pipeline_batch,
)
from automations.engine.ports import MemoryServices
from automations.engine.steps import DocumentInfo, StepConfigError, StepContext, StepFailed
from automations.models import Document, Run
from automations.steps._common import get_embedder
from automations.workflows import create_workflow
from catalog.registry import allowed_models, check_model_options
from catalog.runtime import embeddings, heads
from catalog.runtime.heads import HeadError, head_folder, load_head
from catalog.runtime.policy import LruCache, ModelRefused, check_embedder_name
from tests.api.conftest import caller_for

BAD_MODELS = [
    "/etc/passwd",
    "~/models/x",
    "~root",
    "../../etc",
    "./model",
    "models/sub/folder",
    "C:\\models\\x",
    "acme/invoice-encoder",  # a Hugging Face id nobody listed
    "bert",
]
EMBEDDING_STEPS = [
    ("classify", {"labels": ["invoice"]}, "Classify"),
    ("summarize", {}, "Summarize"),
    ("similar_documents", {}, "Find duplicates"),
]


@pytest.fixture(autouse=True)
def _no_hub_models(monkeypatch):
    monkeypatch.delenv("PYQ_ALLOW_HUB_MODELS", raising=False)
    monkeypatch.delenv("PYQ_HUB_MODELS", raising=False)
    monkeypatch.delenv("PYQ_MODELS_DIR", raising=False)


@pytest.fixture
def no_loading(monkeypatch):
    """Fail a test that would load a model from disk or the network."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to load a model: {args!r}")

    monkeypatch.setattr(embeddings, "_load", refuse)


# --- steps: the builder, publishing, the API's pipeline -----------------------------------


@pytest.mark.parametrize("model", BAD_MODELS)
@pytest.mark.parametrize(("step", "config", "label"), EMBEDDING_STEPS)
def test_a_step_model_outside_the_catalog_is_refused(step, config, label, model, no_loading):
    spec = [{"id": "s", "step": step, "config": {**config, "model": model}}]
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline(spec)
    message = str(refused.value)
    assert message.startswith(f"{label}: model: ")
    assert "choose one of: minilm." in message
    [problem] = [p for p in check_pipeline(spec) if p["level"] == "error"]
    assert problem["field"] == "config.model"


def test_a_path_is_named_as_a_path():
    with pytest.raises(StepConfigError, match=r"not named by a file path \('/etc/passwd'\)"):
        parse_pipeline([{"step": "summarize", "config": {"model": "/etc/passwd"}}])


@pytest.mark.parametrize("model", ["minilm", "MiniLM", "all-MiniLM-L6-v2"])
def test_the_packaged_model_is_accepted_by_its_names(model):
    [spec] = parse_pipeline([{"step": "summarize", "config": {"model": model}}])
    assert spec.config["model"] == model


@pytest.mark.parametrize(
    "classifier", ["../../etc", "/etc/passwd", "~/head", "acme/head", "Banking77", "a b"]
)
def test_a_classifier_that_is_not_a_catalog_name_is_refused(classifier):
    with pytest.raises(StepConfigError, match=r"^Classify: classifier: "):
        parse_pipeline([{"step": "classify", "config": {"classifier": classifier}}])


def test_hub_models_are_the_operators_choice_and_only_those_listed(monkeypatch):
    spec = [{"step": "summarize", "config": {"model": "acme/invoice-encoder"}}]
    monkeypatch.setenv("PYQ_HUB_MODELS", "acme/invoice-encoder")
    with pytest.raises(StepConfigError):  # listed, but hub models are off (the default)
        parse_pipeline(spec)
    monkeypatch.setenv("PYQ_ALLOW_HUB_MODELS", "true")
    assert parse_pipeline(spec)[0].config["model"] == "acme/invoice-encoder"
    assert allowed_models().embedders == ("minilm", "acme/invoice-encoder")
    with pytest.raises(StepConfigError, match="choose one of: minilm, acme/invoice-encoder"):
        parse_pipeline([{"step": "summarize", "config": {"model": "acme/other"}}])


def test_a_draft_with_a_path_shows_the_problem_and_is_not_published(owner):
    workflow = create_workflow(owner.org, "Sort", user=owner.user)
    steps = [{"id": "type", "step": "classify", "config": {"labels": ["a"], "model": "/etc"}}]
    saved = owner.client.post(
        reverse("automations:builder_draft", args=[workflow.pk]),
        json.dumps({"steps": steps}),
        content_type="application/json",
    )
    assert saved.status_code == 200
    [problem] = saved.json()["problems"]
    assert (problem["step"], problem["field"]) == (0, "config.model")
    published = owner.client.post(reverse("automations:builder_publish", args=[workflow.pk]))
    assert published.status_code == 400
    assert "Classify: model:" in published.json()["error"]
    assert workflow.versions.count() == 0


def test_the_builder_offers_the_models_as_a_list(owner):
    workflow = create_workflow(owner.org, "Sort", user=owner.user)
    kinds = owner.client.get(reverse("automations:builder_library", args=[workflow.pk])).json()
    steps = {s["name"]: s for g in kinds["kinds"] for s in g["steps"]}
    assert steps["classify"]["schema"]["properties"]["model"]["enum"] == ["minilm"]
    assert steps["classify"]["schema"]["properties"]["classifier"]["enum"] == [
        None,
        "banking77-intents",
    ]
    assert steps["summarize"]["schema"]["properties"]["model"]["enum"] == ["minilm"]


def test_an_api_upload_with_a_path_as_model_is_refused_and_stores_nothing(owner):
    api = caller_for(owner)
    pipeline = [{"step": "summarize", "config": {"model": "/etc/passwd"}}]
    response = api.post(
        "/api/v1/documents",
        {"file": _text_upload(), "pipeline": json.dumps(pipeline)},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_pipeline"
    assert "Summarize: model:" in error["message"]
    assert not Document.objects.exists()
    assert not Run.objects.exists()


def _text_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("note.txt", b"hello world", content_type="text/plain")


# --- the predict API ------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch) -> list[dict]:
    import catalog.tasks

    calls: list[dict] = []
    monkeypatch.setattr(
        catalog.tasks.predict_task, "apply_async", lambda kwargs: calls.append(kwargs)
    )
    return calls


@pytest.mark.parametrize(
    "options",
    [
        {"model": "/etc/passwd"},
        {"model": "../../models"},
        {"model": "acme/invoice-encoder"},
        {"model": "bert"},
        {"classifier": "../../etc"},
        {"classifier": "/tmp/head"},
        {"classifier": "not-installed"},
    ],
)
def test_the_predict_api_refuses_models_outside_the_catalog(owner, queued, options):
    api = caller_for(owner)
    body = {"text": "Invoice 4721, total 10 EUR", "labels": ["invoice", "receipt"], **options}
    response = api.post(
        "/api/v1/models/minilm-classifier/predict",
        json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith(("model: ", "classifier: "))
    assert queued == []  # refused before anything was sent to a worker


def test_the_predict_api_refuses_a_path_in_multipart_options(owner, queued):
    api = caller_for(owner)
    response = api.post(
        "/api/v1/models/minilm-summarizer/predict",
        {"text": "One sentence. Two sentences.", "options": json.dumps({"model": "/etc"})},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert queued == []


def test_catalog_names_pass_the_predict_check():
    check_model_options(None, {"model": "minilm", "classifier": "banking77-intents"})
    check_model_options(None, {})


# --- the runtime refuses what slipped through (an old stored draft) ---------------------------


@pytest.mark.parametrize("ref", ["/etc", "~/x", "../x", "a/b/c", "acme/invoice-encoder", "bert"])
def test_the_loader_refuses_a_reference_outside_the_catalog(ref, no_loading):
    with pytest.raises(ModelRefused):
        embeddings.load_embedder(ref)


def test_the_loader_refuses_a_folder_outside_the_models_folder(tmp_path, monkeypatch, no_loading):
    outside = tmp_path / "outside"
    outside.mkdir()
    models = tmp_path / "models"
    models.mkdir()
    (models / "escape").symlink_to(outside)
    monkeypatch.setenv("PYQ_MODELS_DIR", str(models))
    for ref in (str(outside), str(models / "escape"), str(models / ".." / "outside")):
        with pytest.raises(ModelRefused, match="outside the models folder"):
            embeddings.resolve_ref(ref)


def test_a_step_that_reached_a_worker_with_a_path_fails_with_a_message(no_loading):
    """An old stored draft skips parse_pipeline; the loader still refuses, and the step
    fails naming the model (not 'something went wrong')."""
    context = StepContext(DocumentInfo("a.txt", "txt"), pages=[PageText(1, "text")])
    with pytest.raises(StepFailed, match=r"^The model '/etc/passwd' could not be loaded: "):
        get_embedder(context, "/etc/passwd")


def test_the_head_loader_refuses_paths_and_links(tmp_path, monkeypatch):
    monkeypatch.setattr(heads, "_cache", LruCache(lambda: heads.HEAD_CACHE_SIZE))
    packaged = head_folder("banking77-intents")
    for name in ("../models/banking77-intents", str(packaged), "~/banking77-intents"):
        with pytest.raises(HeadError, match="not by a file path"):
            load_head(name)
    models = tmp_path / "models"
    models.mkdir()
    (models / "linked").symlink_to(packaged)
    monkeypatch.setenv("PYQ_MODELS_DIR", str(models))
    with pytest.raises(HeadError, match="no trained classifier called 'linked'"):
        load_head("linked")


# --- bounded caches -------------------------------------------------------------------------


class FakeModel:
    def __init__(self, location):
        self.location = location


def test_the_embedder_cache_keeps_at_most_the_configured_number(monkeypatch):
    loads: list[str] = []

    def fake_load(source, location, max_seq_length):
        loads.append(location)
        return FakeModel(location)

    monkeypatch.setattr(embeddings, "_load", fake_load)
    monkeypatch.setattr(embeddings, "_CACHE", LruCache(embeddings.model_cache_size))
    monkeypatch.setenv("PYQ_MODEL_CACHE_SIZE", "2")
    monkeypatch.setenv("PYQ_ALLOW_HUB_MODELS", "true")
    monkeypatch.setenv("PYQ_HUB_MODELS", "acme/one,acme/two,acme/three")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PYQ_OFFLINE", raising=False)

    one = embeddings.load_embedder("acme/one", runtime="torch")
    assert embeddings.load_embedder("acme/one", runtime="torch") is one
    embeddings.load_embedder("acme/two", runtime="torch")
    embeddings.load_embedder("acme/one", runtime="torch")  # used last: kept
    embeddings.load_embedder("acme/three", runtime="torch")  # drops acme/two
    assert len(embeddings._CACHE) == 2
    assert [key[0] for key in embeddings._CACHE.loaded()] == ["hub:acme/one", "hub:acme/three"]
    embeddings.load_embedder("acme/two", runtime="torch")
    assert loads == ["acme/one", "acme/two", "acme/three", "acme/two"]


def test_the_lru_cache_drops_the_least_recently_used():
    cache: LruCache[str, int] = LruCache(lambda: 2)
    assert cache.get_or_load("a", lambda: 1) == 1
    cache.get_or_load("b", lambda: 2)
    cache.get_or_load("a", lambda: 0)
    cache.get_or_load("c", lambda: 3)
    assert cache.loaded() == ["a", "c"]


# --- a model that cannot be loaded fails its step with a message --------------------------


class BrokenServices(MemoryServices):
    def embedder(self, ref: str):
        raise OSError(f"[Errno 2] No such file or directory: '/srv/models/{ref}/model.onnx'")


@pytest.mark.parametrize("documents", [1, 3])  # one document, and a worker's batch
def test_a_model_that_fails_to_load_fails_the_step_naming_it(documents):
    steps = parse_pipeline([{"id": "type", "step": "classify", "config": {"labels": ["a"]}}])
    items = [
        (
            StepContext(
                DocumentInfo(f"d{i}.txt", "txt"),
                pages=[PageText(1, "some text")],
                services=BrokenServices(),
            ),
            MemoryStore(),
        )
        for i in range(documents)
    ]
    errors = run_pipeline_batch(steps, items)
    assert (
        errors
        == [
            "The model 'minilm' could not be loaded: its files are missing or damaged, or the "
            "worker ran out of memory (the worker's log has the details)."
        ]
        * documents
    )
    assert "/srv/models" not in errors[0]  # the details stay in the log


def test_a_damaged_trained_classifier_fails_the_step_naming_it(tmp_path, monkeypatch):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "meta.json").write_text('{"labels": ["a"], "embedder": "minilm", "sha256": "x"}')
    (folder / "head.npz").write_bytes(b"not numpy")
    monkeypatch.setenv("PYQ_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(heads, "_cache", LruCache(lambda: heads.HEAD_CACHE_SIZE))
    with pytest.raises(StepConfigError, match="'broken' is damaged"):
        parse_pipeline([{"step": "classify", "config": {"classifier": "broken"}}])


def test_check_embedder_name_words():
    with pytest.raises(ModelRefused, match="there is no model called 'bert'"):
        check_embedder_name("bert")
    assert check_embedder_name("minilm") == "minilm"
