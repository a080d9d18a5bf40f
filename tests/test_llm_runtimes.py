"""The two LLM runtimes on the tiny Gemma 3 GGUF: tokens, hidden states, injected embeddings, shared
prefixes, generation, errors; and the LLM file helpers (default.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from allspark.errors import LLMError
from allspark.llm import Segment, open_runtime
from allspark.llm.base import stream_text
from allspark.llm.default import file_sha256, gguf_info, read_gguf, resolve_llm_path
from allspark.llm.llamacpp import LlamaCppRuntime
from allspark.llm.torch_runtime import TorchRuntime

TEXTS = [
    "Given the spectral information, which class does this pixel belong to?",
    "  two  spaces, a tab\there, a newline\nand 42.5 µg/m³ — Ünïcode ✓ 日本語",
]


@pytest.fixture(scope="module")
def lcpp(tiny_gguf):
    rt = LlamaCppRuntime(tiny_gguf, device="cpu", n_ctx=1024, n_seq_max=4)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def trt(tiny_gguf):
    return TorchRuntime(tiny_gguf, device="cpu")


@pytest.fixture(params=["llamacpp", "torch"])
def rt(request, lcpp, trt):
    return lcpp if request.param == "llamacpp" else trt


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-4) -> bool:
    return float(np.abs(a - b).max()) <= tol * max(1.0, float(np.abs(b).max()))


def _sample(rt, rng, n_embeds: int, suffix: str) -> list[Segment]:
    rows = rt.embed_tokens(rng.integers(300, rt.n_vocab, n_embeds).tolist())
    return [Segment(embeds=rows + 0.1 * rows.std() * rng.standard_normal(rows.shape)), Segment(ids=rt.tokenize(suffix))]


def test_tokenize_round_trip(rt):
    for text in TEXTS:
        ids = rt.tokenize(text)
        assert ids and rt.bos_id not in ids
        assert rt.detokenize(ids) == text
        with_bos = rt.tokenize(text, add_bos=True)
        assert with_bos == [rt.bos_id] + ids
        assert rt.detokenize(with_bos) == text  # control tokens render as nothing
    assert rt.eos_ids and rt.n_embd == 64


def test_runtimes_tokenize_alike(lcpp, trt):
    for text in TEXTS + ["<start_of_turn>user\nhello<end_of_turn>\n"]:
        assert lcpp.tokenize(text, add_bos=True) == trt.tokenize(text, add_bos=True)
    assert lcpp.tokenize("<start_of_turn>")[0] == 5  # control tokens written in text are parsed


def test_hidden_states_shape(rt):
    rng = np.random.default_rng(1)
    segs = [Segment(ids=rt.tokenize(TEXTS[0], add_bos=True)), *_sample(rt, rng, 7, " answer:")]
    h = rt.hidden_states(segs)
    assert h.shape == (sum(map(len, segs)), rt.n_embd) and h.dtype == np.float32
    assert np.isfinite(h).all()
    assert _close(rt.last_hidden(segs), h[-1])


def test_injected_embeddings_equal_token_ids(rt):
    """An embeds segment holding the runtime's own (scaled) token embeddings is the same context as the ids:
    llama.cpp and transformers inject embeddings unscaled and scale token ids by sqrt(D)."""
    ids = rt.tokenize(TEXTS[0], add_bos=True)
    by_ids = rt.hidden_states([Segment(ids=ids)])
    rows = rt.embed_tokens(ids[3:9])
    mixed = rt.hidden_states([Segment(ids=ids[:3]), Segment(embeds=rows), Segment(ids=ids[9:])])
    assert _close(mixed, by_ids)
    # and the scaling is real: unscaled rows give another context
    other = rt.hidden_states([Segment(ids=ids[:3]), Segment(embeds=rows / 8.0), Segment(ids=ids[9:])])
    assert not _close(other, by_ids, 1e-2)


def test_embed_tokens_agree(lcpp, trt):
    ids = list(range(0, 300, 7))
    assert _close(lcpp.embed_tokens(ids), trt.embed_tokens(ids), 1e-6)
    with torch.no_grad():
        assert _close(trt.embed_ids(torch.tensor([ids])).numpy()[0], trt.embed_tokens(ids), 1e-6)


@pytest.mark.parametrize("n_seq_max", [4, 2])  # 2: five samples run in three groups sharing the prefix
def test_shared_prefix_batch_equals_one_by_one(tiny_gguf, trt, n_seq_max):
    rt = LlamaCppRuntime(tiny_gguf, device="cpu", n_ctx=512, n_seq_max=n_seq_max)
    try:
        rng = np.random.default_rng(2)
        prefix = rt.tokenize("the map of the land", add_bos=True)
        samples = [_sample(rt, rng, n, s) for n, s in [(4, " water"), (9, " the forest?"), (1, "."), (6, " a"), (3, " crop")]]
        samples[3] = samples[3][:1]  # a sample made of embeddings only
        one_by_one = np.stack([rt.last_hidden([Segment(ids=prefix), *s]) for s in samples])
        batched = rt.last_hidden_batch(prefix, samples)
        # Equal up to rounding: the batch puts a sample's cells elsewhere in the KV cache (other SIMD lanes).
        assert batched.shape == (5, 64) and _close(batched, one_by_one, 2e-3)
        per_sample = rt.sample_hidden_batch(prefix, samples)
        for s, h in zip(samples, per_sample):
            assert h.shape == (sum(map(len, s)), 64)
            assert _close(h, rt.hidden_states([Segment(ids=prefix), *s])[len(prefix):], 2e-3)
        # the cache is left empty: a later single context is unaffected
        assert _close(rt.last_hidden([Segment(ids=prefix), *samples[0]]), one_by_one[0])
        # the torch runtime (padded batches) gives the same numbers
        assert _close(trt.last_hidden_batch(prefix, samples), one_by_one, 2e-3)
        for a, b in zip(trt.sample_hidden_batch(prefix, samples), per_sample):
            assert _close(a, b, 2e-3)
    finally:
        rt.close()


def test_generate_streams_and_stops(rt):
    ctx = [Segment(ids=rt.tokenize("the question: which class?", add_bos=True))]
    pieces = list(rt.generate(ctx, max_tokens=6))
    assert all(isinstance(p, str) and p for p in pieces) and 0 < len(pieces) <= 6
    text = "".join(pieces)
    assert list(rt.generate(ctx, max_tokens=6)) == pieces  # greedy: deterministic
    assert "".join(rt.generate(ctx, max_tokens=3)) == text[: len("".join(rt.generate(ctx, max_tokens=3)))]
    if len(text) >= 3:
        stop = text[1:3]
        assert "".join(rt.generate(ctx, max_tokens=6, stop=[stop])) == text[: text.find(stop)]


def test_generate_continues_after_embeddings(lcpp, trt):
    rng = np.random.default_rng(3)
    ctx = [Segment(ids=lcpp.tokenize("describe", add_bos=True)), *_sample(lcpp, rng, 5, " it:")]
    a = "".join(lcpp.generate(ctx, max_tokens=4))
    assert a and a == "".join(trt.generate(ctx, max_tokens=4))  # f32 tiny model: same greedy tokens


def test_stream_text_holds_partial_characters_and_stops():
    pieces = {1: b"ab", 2: b"\xe2\x9c", 3: b"\x93", 4: b"<e", 5: b"nd>", 6: b"zz"}

    def detok(ids):
        return b"".join(pieces[i] for i in ids).decode("utf-8", "replace")

    assert list(stream_text([1, 2, 3, 6], detok)) == ["ab", "✓", "zz"]
    assert "".join(stream_text([1, 2, 3, 4, 5, 6], detok, ["<end>"])) == "ab✓"
    assert "".join(stream_text([1, 4, 6], detok, ["<end>"])) == "ab<ezz"


def test_torch_forward_embeds_is_differentiable(trt):
    ids = torch.tensor([trt.tokenize(TEXTS[0], add_bos=True)])
    x = trt.embed_ids(ids).detach().requires_grad_(True)
    h = trt.forward_embeds(x)
    assert h.shape == (*ids.shape, 64)
    h[0, -1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in trt.model.parameters())
    with torch.no_grad():
        ref = trt.hidden_states([Segment(ids=ids[0].tolist())])
        assert _close(h.detach().numpy()[0], ref)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hb = trt.forward_embeds(x.detach())
        cos = torch.nn.functional.cosine_similarity(hb.float()[0], torch.from_numpy(ref), dim=-1)
        assert cos.min() > 0.98


def test_torch_gradient_checkpointing(tiny_gguf, trt):
    ck = TorchRuntime(tiny_gguf, device="cpu", gradient_checkpointing=True)
    x = trt.embed_ids(torch.tensor([trt.tokenize(TEXTS[0])])).detach()
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    trt.forward_embeds(x1).sum().backward()
    ck.forward_embeds(x2).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
    assert not ck.model.training
    assert "".join(ck.generate([Segment(ids=trt.tokenize("the", add_bos=True))], max_tokens=2))


def test_bad_llm_paths(tmp_path, tiny_gguf):
    missing = tmp_path / "nope.gguf"
    not_gguf = tmp_path / "fake.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    for bad in (missing, not_gguf):
        with pytest.raises(LLMError, match=bad.name):
            resolve_llm_path(bad)
        with pytest.raises(LLMError, match=bad.name):
            LlamaCppRuntime(bad)
        with pytest.raises(LLMError, match=bad.name):
            TorchRuntime(bad)
        with pytest.raises(LLMError, match=bad.name):
            open_runtime("llamacpp", bad)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\0" * 60)
    with pytest.raises(LLMError):
        LlamaCppRuntime(truncated)
    with pytest.raises(LLMError, match="unknown LLM runtime"):
        open_runtime("onnx", tiny_gguf)


def test_runtime_errors(lcpp):
    with pytest.raises(LLMError, match="width"):
        lcpp.hidden_states([Segment(embeds=np.zeros((2, 32), np.float32))])
    with pytest.raises(LLMError, match="n_ctx"):
        lcpp.hidden_states([Segment(ids=[5] * 2000)])
    with pytest.raises(LLMError, match="token ids"):
        lcpp.hidden_states([Segment(ids=[5, 10**6])])
    assert lcpp.hidden_states([Segment(ids=[5, 6])]).shape == (2, 64)  # still usable after errors
    with pytest.raises(ValueError):
        Segment()


def test_file_helpers(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    f = tmp_path / "blob.bin"
    f.write_bytes(b"x" * 1000)
    assert file_sha256(f) == hashlib.sha256(b"x" * 1000).hexdigest()
    assert list((tmp_path / "cache" / "allspark" / "sha256").glob("*.json"))  # remembered
    f.write_bytes(b"y" * 1001)  # changed (size, mtime): hashed again
    assert file_sha256(f) == hashlib.sha256(b"y" * 1001).hexdigest()
    info = gguf_info(tiny_gguf)
    assert info == {"arch": "gemma3", "n_embd": 64, "n_layer": 6, "file": tiny_gguf.name,
                    "sha256": hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()}
    meta, tensors = read_gguf(tiny_gguf)
    assert meta["gemma3.attention.head_count"] == 4 and len(meta["tokenizer.ggml.tokens"]) < 4096
    assert tensors["token_embd.weight"][1] == (len(meta["tokenizer.ggml.tokens"]), 64)


def test_tiny_gguf_is_small_and_made_from_its_seed(tmp_path):
    from allspark.llm.tiny import write_tiny_gguf

    p = write_tiny_gguf(tmp_path / "t.gguf", seed=1)
    assert p.stat().st_size < 2_000_000  # small (its speed is no test's business: no timed assertion)
    assert file_sha256(p) != file_sha256(write_tiny_gguf(tmp_path / "t0.gguf", seed=0))
