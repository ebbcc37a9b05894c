"""Trained classifiers: a linear head on frozen embeddings, saved with a checksum, used by
the classify step and the catalog."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command

from automations.engine.fields import PageText
from automations.engine.pipeline import MemoryStore, parse_pipeline, run_pipeline
from automations.engine.steps import DocumentInfo, StepConfigError, StepContext
from catalog.registry import BY_SLUG
from catalog.runtime import heads
from catalog.runtime.heads import HeadError, LinearHead, load_head, train_head


def test_a_head_learns_separable_classes_and_round_trips_through_its_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    centers = {"red": np.array([1.0, 0, 0]), "green": np.array([0, 1.0, 0])}
    targets = ["red"] * 20 + ["green"] * 20
    vectors = np.stack([centers[t] + rng.normal(0, 0.1, 3) for t in targets]).astype(np.float32)
    head = train_head(vectors, targets, c=10.0)
    assert head.labels == ["green", "red"]
    probabilities = head.probabilities(np.array([[0.9, 0.1, 0], [0.1, 0.9, 0]], dtype=np.float32))
    assert probabilities.argmax(axis=1).tolist() == [1, 0]
    assert np.allclose(probabilities.sum(axis=1), 1.0)

    head.save(tmp_path / "colours", metrics={"test_accuracy": 1.0})
    monkeypatch.setenv("PYQ_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(heads, "_cache", heads.LruCache(lambda: heads.HEAD_CACHE_SIZE))
    loaded = load_head("colours")
    assert loaded.labels == ["green", "red"]
    assert np.allclose(loaded.weight, head.weight)
    assert loaded.meta["metrics"] == {"test_accuracy": 1.0}


def test_a_damaged_head_is_refused(tmp_path, monkeypatch):
    head = LinearHead(["a", "b"], np.eye(2, 3, dtype=np.float32), np.zeros(2, np.float32))
    folder = head.save(tmp_path / "broken")
    (folder / "head.npz").write_bytes((folder / "head.npz").read_bytes()[:-10])
    monkeypatch.setenv("PYQ_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(heads, "_cache", heads.LruCache(lambda: heads.HEAD_CACHE_SIZE))
    with pytest.raises(HeadError, match="checksum"):
        load_head("broken")
    with pytest.raises(HeadError, match="no trained classifier"):
        load_head("missing")


def classify(text: str, config: dict) -> dict:
    steps = parse_pipeline([{"id": "c", "step": "classify", "config": config}])
    store = MemoryStore()
    context = StepContext(DocumentInfo("q.txt", "txt"), pages=[PageText(1, text)])
    assert run_pipeline(steps, context, store) is None
    return store.results["c"]


def test_the_packaged_banking77_classifier_sorts_questions_into_its_intents():
    head = load_head("banking77-intents")
    assert len(head.labels) == 77
    assert head.meta["metrics"]["test_accuracy"] > 0.9
    lost = classify(
        "I think I lost my card, someone may have stolen it", {"classifier": "banking77-intents"}
    )
    arrival = classify(
        "My new card still has not arrived, when will it come?", {"classifier": "banking77-intents"}
    )
    assert lost["label"] == "lost or stolen card"
    assert arrival["label"] == "card arrival"
    assert lost["model"] == "banking77-intents"
    assert 0.5 < lost["score"] <= 1
    assert len(lost["top"]) == 3


def test_an_unknown_trained_classifier_is_a_configuration_error():
    with pytest.raises(StepConfigError, match="no trained classifier called 'nope'"):
        parse_pipeline([{"step": "classify", "config": {"classifier": "nope"}}])


def test_neither_labels_nor_a_classifier_is_a_configuration_error():
    with pytest.raises(StepConfigError):
        parse_pipeline([{"step": "classify", "config": {}}])


def test_the_command_line_uses_a_trained_model_without_labels(tmp_path):
    question = tmp_path / "q.txt"
    question.write_text("I still have not received my new card, when will it arrive?")
    out = io.StringIO()
    call_command("classify", "--model", "banking77-intents", str(question), stdout=out)
    line = json.loads(out.getvalue())
    assert (line["file"], line["label"]) == (str(question), "card arrival")


def test_its_catalog_card_shows_the_accuracy_it_was_trained_to():
    (card,) = [m for m in BY_SLUG["banking77-intents"].measurements() if "banking77" in m["title"]]
    rows = {row["label"]: row["value"] for row in card["rows"]}
    accuracy = load_head("banking77-intents").meta["metrics"]["test_accuracy"]
    assert rows["accuracy"] == f"{accuracy:.3f}"
    assert rows["labels"] == "77"
