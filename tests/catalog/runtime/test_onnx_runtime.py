"""Embeddings on ONNX Runtime: the same vectors as PyTorch, exported once and reused."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.runtime import embeddings, onnx_encoder
from catalog.runtime.embeddings import load_embedder

TEXTS = [
    "Invoice INV-2024-001 from Acme Supplies, total due 1,234.50 EUR",
    "my card has not arrived yet",
    "x",
    "",
    "word " * 400,  # past the 256-token limit: truncated the same way
]


def test_default_runtime_is_onnx_and_gives_the_torch_vectors(embedder, no_network):
    assert embedder.runtime == "onnxruntime"
    fast = embedder.encode(TEXTS, batch_size=2)
    # Loaded here first whatever ran before (nothing else asks for the torch copy), with
    # every connection refused: the packaged weights load without the network.
    torch_only = load_embedder("minilm", runtime="torch")
    assert torch_only is not embedder
    assert torch_only.runtime == "torch"
    slow = torch_only.encode(TEXTS)
    assert fast.shape == slow.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(fast, slow, atol=2e-5)


def test_rows_come_back_in_the_callers_order(embedder):
    forward = embedder.encode(TEXTS[:3], batch_size=1)
    backward = embedder.encode(TEXTS[:3][::-1], batch_size=8)
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)


def test_export_is_cached_and_reused(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("PYQ_MODEL_CACHE_DIR", str(tmp_path))
    first = onnx_encoder.OnnxEncoder(embedder.model, embedder.folder, threads=1)
    exported = list(tmp_path.glob("encoder-*.onnx"))
    assert [first.path] == exported
    stamp = first.path.stat().st_mtime_ns

    def no_second_export(*args):
        raise AssertionError("exported twice")

    monkeypatch.setattr(onnx_encoder, "_export", no_second_export)
    second = onnx_encoder.OnnxEncoder(embedder.model, embedder.folder, threads=1)
    assert second.path == first.path
    assert first.path.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.part"))


def test_a_model_that_is_not_mean_pooled_stays_on_torch(embedder, monkeypatch):
    pooling = embedder.model[1]
    monkeypatch.setattr(
        type(pooling), "get_config_dict", lambda self: {"pooling_mode": "cls"}, raising=False
    )
    with pytest.raises(onnx_encoder.OnnxUnavailable, match="not mean pooling"):
        onnx_encoder.OnnxEncoder(embedder.model, embedder.folder, threads=1)


def test_a_failed_export_leaves_nothing_and_falls_back(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("PYQ_MODEL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(onnx_encoder, "_fingerprint", lambda model, folder: "broken")

    def fail(model, path):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(onnx_encoder, "_export", fail)
    fresh = embeddings.Embedder(
        embedder.model, name="copy", source="package", folder=embedder.folder
    )
    assert fresh.use_onnx() is False
    assert fresh.runtime == "torch"
    assert list(tmp_path.iterdir()) == []
    assert fresh.encode(["still works"]).shape == (1, 384)


def test_an_unknown_runtime_is_refused(monkeypatch):
    monkeypatch.setenv("PYQ_EMBEDDING_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="onnxruntime, torch"):
        embeddings.default_runtime()


def test_batches_keep_padding_small_and_every_text_once():
    lengths = np.array([12, 40, 11, 12, 39, 5, 12, 6, 38, 12])

    batches = onnx_encoder.length_batches(lengths, batch_size=3)

    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(len(b) <= 3 for b in batches)
    for batch in batches:
        width = lengths[batch].max()
        padding = width * len(batch) - lengths[batch].sum()
        assert padding <= onnx_encoder.MAX_PADDING * width * len(batch)
    # the longest texts go together, not beside the short ones
    assert sorted(lengths[batches[0]].tolist()) == [38, 39, 40]
