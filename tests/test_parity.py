"""llama.cpp (inference) and transformers (training) read the same GGUF into the same function: a bridge
trained through TorchRuntime must mean the same thing to LlamaCppRuntime. Contexts mix prompt tokens with
injected embeddings of realistic scale (token embedding rows plus noise), as a bridge produces them."""

from __future__ import annotations

import numpy as np
import pytest

from allspark.llm import Segment
from allspark.llm.llamacpp import LlamaCppRuntime
from allspark.llm.torch_runtime import TorchRuntime

PROMPT = "Given the spectral information, can you help determine which class this pixel belongs to?"


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _bridge_like(rt, rng, n: int) -> np.ndarray:
    rows = rt.embed_tokens(rng.integers(300, rt.n_vocab, n).tolist())
    return rows + 0.1 * rows.std() * rng.standard_normal(rows.shape).astype(np.float32)


def _parity(lc: LlamaCppRuntime, tr: TorchRuntime, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    prefix = lc.tokenize(PROMPT, add_bos=True)
    assert prefix == tr.tokenize(PROMPT, add_bos=True)
    suffix = lc.tokenize(" Answer:")
    segs = [Segment(ids=prefix), Segment(embeds=_bridge_like(lc, rng, 32)), Segment(ids=suffix)]
    a, b = lc.hidden_states(segs), tr.hidden_states(segs)
    assert a.shape == b.shape == (len(prefix) + 32 + len(suffix), lc.n_embd)
    cos = _cos(a, b)[len(prefix):]  # the injected and suffix positions
    # A 5-class linear head with fixed random weights, scaled so that its logits are O(1).
    w = rng.standard_normal((5, lc.n_embd)) / np.sqrt(lc.n_embd) / np.sqrt((b[-1] ** 2).mean())
    dp = np.abs(_softmax(w @ a[-1]) - _softmax(w @ b[-1])).max()
    # The shared-prefix batch path against torch's padded batches.
    samples = [[Segment(embeds=_bridge_like(lc, rng, 32)), Segment(ids=suffix)] for _ in range(4)]
    cos_batch = _cos(lc.last_hidden_batch(prefix, samples), tr.last_hidden_batch(prefix, samples))
    return {"min_cos": float(cos.min()), "max_prob_diff": float(dp), "min_cos_batch": float(cos_batch.min())}


def test_parity_tiny(tiny_gguf):
    lc, tr = LlamaCppRuntime(tiny_gguf, device="cpu"), TorchRuntime(tiny_gguf, device="cpu")
    try:
        r = _parity(lc, tr)
    finally:
        lc.close()
    assert r["min_cos"] >= 0.9999 and r["min_cos_batch"] >= 0.9999 and r["max_prob_diff"] <= 1e-3, r


@pytest.mark.integration
def test_parity_gemma(gemma_gguf):
    lc, tr = LlamaCppRuntime(gemma_gguf, device="cpu"), TorchRuntime(gemma_gguf, device="cpu")
    try:
        assert lc.n_embd == tr.n_embd == 640
        assert lc.tokenize("hello world") == [23391, 1902]  # Gemma's own SentencePiece pieces
        r = _parity(lc, tr)
        print("Gemma 3 270M parity:", r)
        assert r["min_cos"] >= 0.99 and r["min_cos_batch"] >= 0.99, r
        assert r["max_prob_diff"] <= 0.02, r
        ctx = [Segment(ids=lc.tokenize("Count: 1. 2. 3.", add_bos=True))]
        assert "".join(lc.generate(ctx, max_tokens=8)) == "".join(tr.generate(ctx, max_tokens=8))
    finally:
        lc.close()
