"""LLM runtime on llama.cpp (llama-cpp-python's low-level API): the inference path.

How hidden states are read: the context is a generative one (embeddings off) and an eval callback
copies llama.cpp's `result_norm` tensor (the hidden state after the final norm, rows = the tokens
flagged as outputs) and then stops the graph, so the 262k-wide LM head is only computed when
generating. (An `embeddings=True` context runs the LM head for every token: half the speed on
Gemma 3 270M, 170 instead of 340 prompt tokens/s on 2 cores.) Bridge embeddings go in as `embd` batches; llama.cpp scales token embeddings by
sqrt(d) for Gemma, not injected ones, exactly like transformers' `inputs_embeds`.

Shared prefixes (head mode): the prompt prefix is evaluated once in sequence 0 and copied to the
other sequences; the samples then run as parallel sequences of one batch. A sample's hidden states
must not depend on the samples beside it, and on this quantized LLM any last-bit difference grows
(each layer re-quantizes its activations to 8 bits) into answers a percent or two apart. So head mode
runs in its own context where every sequence has its own KV stream (a sample's cells sit where they
would sit alone: with one shared buffer, other sequences' cells change the SIMD lanes, and so the
rounding, of its attention sums), each sample is one block of embeddings (its prompt tokens embedded
as the LLM does), and the weights are not repacked (CPU_REPACK multiplies a batch's rows in groups of
four and the rest one by one, with different rounding). The result: the same sample gives the same
bits alone or in any batch. Generation and whole-context hidden states use a second, unified context.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import LLMError
from .base import Runtime, Segment, stream_text
from .default import read_gguf, resolve_llm_path

log = logging.getLogger("allspark.llm")

_backend_ready = False
_log_cb = None  # keeps the ctypes log callback alive


def _init_backend():
    """Import llama_cpp, initialise its backend once and route its logging: errors only."""
    global _backend_ready, _log_cb
    import llama_cpp

    if not _backend_ready:
        state = {"error": False}

        @llama_cpp.llama_log_callback
        def _log(level: int, text: bytes, _user):  # ggml_log_level: 4 error, 5 continues the previous line
            if level == 4 or (level == 5 and state["error"]):
                state["error"] = True
                log.error("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())
            elif level != 5:
                state["error"] = False

        _log_cb = _log
        llama_cpp.llama_log_set(_log_cb, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        lib = llama_cpp.llama_cpp._lib  # ggml symbols resolve through libllama's dependencies
        lib.ggml_get_name.argtypes, lib.ggml_get_name.restype = [ctypes.c_void_p], ctypes.c_char_p
        lib.ggml_nbytes.argtypes, lib.ggml_nbytes.restype = [ctypes.c_void_p], ctypes.c_size_t
        lib.ggml_nelements.argtypes, lib.ggml_nelements.restype = [ctypes.c_void_p], ctypes.c_int64
        lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
        lib.ggml_backend_tensor_get.restype = None
        _backend_ready = True
    return llama_cpp


def _physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    except ImportError:  # pragma: no cover
        import os

        return os.cpu_count() or 1


class LlamaVocab:
    """A GGUF's tokenizer through llama.cpp. Alone (a vocab-only load, no weights) it lets the torch
    runtime tokenize exactly as inference does."""

    def __init__(self, path: str | Path | None = None, model=None):
        lc = self._lc = _init_backend()
        self._owned = None
        if model is None:
            params = lc.llama_model_default_params()
            params.vocab_only = True
            model = lc.llama_model_load_from_file(str(path).encode(), params)
            if not model:
                raise LLMError(f"llama.cpp could not read the vocabulary of {path}")
            self._owned = model
        self._vocab = lc.llama_model_get_vocab(model)
        self.n_vocab = lc.llama_vocab_n_tokens(self._vocab)
        bos = lc.llama_vocab_bos(self._vocab)
        self.bos_id = bos if bos >= 0 else None
        self.eos_ids = {t for t in (lc.llama_vocab_eos(self._vocab), lc.llama_vocab_eot(self._vocab)) if t >= 0}

    def tokenize(self, text: str) -> list[int]:
        """Token ids of text, without BOS; control tokens written in the text (<start_of_turn>) are parsed."""
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (self._lc.llama_token * n_max)()
        n = self._lc.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, True)
        if n < 0:  # pragma: no cover - n_max bounds the count for SentencePiece/BPE vocabs
            n_max = -n
            buf = (self._lc.llama_token * n_max)()
            n = self._lc.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, True)
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lc.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def detokenize(self, ids: Sequence[int]) -> str:
        # Control tokens (BOS, <end_of_turn>) render as nothing, like transformers' skip_special_tokens.
        return b"".join(self.piece(int(t)) for t in ids).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        return bool(self._lc.llama_vocab_is_eog(self._vocab, token))

    def close(self) -> None:
        if self._owned:
            self._lc.llama_model_free(self._owned)
            self._owned = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class _Capture:
    """The eval callback's state (kept apart from the runtime so that no reference cycle delays close)."""

    def __init__(self, lib, n_embd: int):
        self.lib, self.n_embd = lib, n_embd
        self.on = False
        self.rows: list[np.ndarray] = []

    def __call__(self, tensor, ask, _user) -> bool:
        lib = self.lib
        if ask:
            return self.on and lib.ggml_get_name(tensor) == b"result_norm"
        nbytes = lib.ggml_nbytes(tensor)
        if nbytes != 4 * lib.ggml_nelements(tensor):  # pragma: no cover - llama.cpp keeps norms in f32
            raise RuntimeError("result_norm is not float32")
        out = np.empty(nbytes // 4, dtype=np.float32)
        lib.ggml_backend_tensor_get(tensor, out.ctypes.data, 0, nbytes)
        self.rows.append(out.reshape(-1, self.n_embd))
        return False  # stop here: nothing after the final norm is needed (the LM head)


class _Batch:
    """A llama_batch backed by numpy arrays (filled vectorised, no native allocation to free)."""

    def __init__(self, llama_cpp, n_max: int, n_embd: int):
        self.tok = np.zeros(n_max, np.int32)
        self.embd = np.zeros((n_max, n_embd), np.float32)
        self.pos = np.zeros(n_max, np.int32)
        self.n_seq = np.ones(n_max, np.int32)
        self.seq = np.zeros(n_max, np.int32)
        self.out = np.zeros(n_max, np.int8)
        self.seq_ptrs = (self.seq.ctypes.data + 4 * np.arange(n_max, dtype=np.uint64)).astype(np.uintp)
        self._lc = llama_cpp

    def struct(self, n: int, embd: bool):
        c = ctypes
        b = self._lc.llama_batch()
        b.n_tokens = n
        b.token = None if embd else self.tok.ctypes.data_as(c.POINTER(self._lc.llama_token))
        b.embd = self.embd.ctypes.data_as(c.POINTER(c.c_float)) if embd else None
        b.pos = self.pos.ctypes.data_as(c.POINTER(self._lc.llama_pos))
        b.n_seq_id = self.n_seq.ctypes.data_as(c.POINTER(c.c_int32))
        b.seq_id = c.cast(self.seq_ptrs.ctypes.data, c.POINTER(c.POINTER(self._lc.llama_seq_id)))
        b.logits = self.out.ctypes.data_as(c.POINTER(c.c_int8))
        return b


# A unit of work for _run: (sequence id, position of the first token, segment, output flags or None).
_Job = tuple[int, int, Segment, "np.ndarray | None"]


class LlamaCppRuntime(Runtime):
    name = "llamacpp"

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_seq_max: int = 16,
        n_batch: int = 512,
        flash_attn: bool = False,
    ):
        lc = _init_backend()
        self._lc = lc
        self._model = self._ctx = None
        self.gguf_path = resolve_llm_path(path)
        from ..device import pick_device

        self.device = pick_device(device)
        mparams = lc.llama_model_default_params()
        mparams.n_gpu_layers = -1 if self.device == "cuda" and lc.llama_supports_gpu_offload() else 0
        self.n_gpu_layers = mparams.n_gpu_layers
        if self.n_gpu_layers == 0:
            mparams.use_extra_bufts = False  # no repacked weights: a row's result must not depend on its batch
        self._model = lc.llama_model_load_from_file(str(self.gguf_path).encode(), mparams)
        if not self._model:
            raise LLMError(f"llama.cpp could not load the LLM {self.gguf_path} (unsupported or damaged GGUF)")
        self.vocab = LlamaVocab(model=self._model)
        self.n_vocab = self.vocab.n_vocab
        self.n_embd = lc.llama_model_n_embd(self._model)
        self.bos_id, self.eos_ids = self.vocab.bos_id, set(self.vocab.eos_ids)

        self.n_ctx, self.n_batch, self.n_seq_max = n_ctx, n_batch, n_seq_max
        self.n_threads = n_threads or _physical_cores()
        self.flash_attn = flash_attn
        self._capture = _Capture(lc.llama_cpp._lib, self.n_embd)
        self._cb = lc.ggml_backend_sched_eval_callback(self._capture)
        self._head = self._head_mem = None
        self._head_streams = self._head_cells = 0
        self._ctx = self._new_context(n_ctx, 1, unified=True)  # generation, whole contexts
        self._mem = lc.llama_get_memory(self._ctx)
        self._batch = _Batch(lc, n_batch, self.n_embd)
        self._lock = threading.RLock()
        self._tok_embd = None
        self._embedded: dict[tuple, np.ndarray] = {}

    def _new_context(self, n_ctx: int, n_seq: int, unified: bool):
        lc = self._lc
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = cparams.n_ubatch = self.n_batch  # one ubatch per decode
        cparams.n_seq_max = n_seq
        cparams.n_threads = cparams.n_threads_batch = self.n_threads
        cparams.embeddings = False
        cparams.pooling_type = lc.LLAMA_POOLING_TYPE_NONE
        cparams.kv_unified = unified  # head mode: one KV stream per sequence (see the module's docstring)
        cparams.no_perf = True
        # CPU flash attention (f16 accumulation) moves Gemma's hidden states by cos ~0.995 depending on which
        # sequences share the batch, and away from transformers; without it they agree up to rounding.
        cparams.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.flash_attn else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.cb_eval = self._cb
        ctx = lc.llama_init_from_model(self._model, cparams)
        if not ctx:
            self.close()
            raise LLMError(f"llama.cpp could not create a context for {self.gguf_path} (n_ctx={n_ctx}; out of memory?)")
        return ctx

    def _head_context(self, cells: int):
        """The head-mode context: n_seq_max sequences, each with its own KV stream of at least `cells`
        cells (multiples of 256, llama.cpp's padding), made on first use and grown when a sample needs it."""
        cells = max(256, -(-cells // 256) * 256)
        if self._head is None or cells > self._head_cells:
            if self._head is not None:
                self._lc.llama_free(self._head)
                self._head = self._head_mem = None
            streams = max(1, min(self.n_seq_max, 8192 // cells))  # at most 8192 cells in all
            self._head = self._new_context(streams * cells, streams, unified=False)
            self._head_mem = self._lc.llama_get_memory(self._head)
            self._head_streams, self._head_cells = streams, cells
        return self._head

    # -- text -------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        # BOS is added here rather than by llama.cpp, the same way in both runtimes.
        return ([self.bos_id] if add_bos and self.bos_id is not None else []) + self.vocab.tokenize(text)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.vocab.detokenize(ids)

    def embed_tokens(self, ids: Sequence[int]) -> np.ndarray:
        # llama.cpp hands out no single embedding rows: dequantize them from the (memory-mapped) GGUF.
        import gguf

        if self._tok_embd is None:
            meta, tensors = read_gguf(self.gguf_path, max_array=0)
            typ, (n_rows, _), offset = tensors["token_embd.weight"]
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(typ)]
            table = np.memmap(self.gguf_path, np.uint8, "r", offset, (n_rows, self.n_embd // block * type_size))
            # The Gemma family scales token embeddings by sqrt(D) inside the graph (never injected ones).
            scale = float(np.sqrt(self.n_embd)) if meta["general.architecture"].startswith("gemma") else 1.0
            self._tok_embd = (table, typ, scale)
        table, typ, scale = self._tok_embd
        rows = gguf.dequantize(np.asarray(table[np.asarray(ids, dtype=np.int64)]), gguf.GGMLQuantizationType(typ))
        return (rows.reshape(len(ids), self.n_embd) * scale).astype(np.float32)

    # -- evaluation -------------------------------------------------------------------------------
    def _run(self, jobs: Sequence[_Job], capture: bool = True, ctx=None) -> list[np.ndarray]:
        """Decode jobs in order (consecutive jobs of one kind share batches) in `ctx` (default: the
        generation context); return, per job, the hidden states of its flagged tokens. A sequence's jobs
        must come in position order."""
        b, cap = self._batch, self._capture
        ctx = self._ctx if ctx is None else ctx
        counts = [int(f.sum()) if f is not None else 0 for (_, _, _, f) in jobs]
        cap.rows, cap.on = [], capture
        n, kind = 0, None

        def flush():
            nonlocal n
            if n:
                rc = self._lc.llama_decode(ctx, b.struct(n, kind))
                if rc == 1:
                    raise LLMError(f"the LLM's KV cache is full (n_ctx={self.n_ctx})")
                if rc != 0:
                    raise LLMError(f"llama.cpp could not evaluate the context (llama_decode returned {rc})")
            n = 0

        try:
            for seq, pos0, seg, flags in jobs:
                is_embd = seg.embeds is not None
                if is_embd and seg.embeds.shape[1] != self.n_embd:
                    raise LLMError(f"embeddings of width {seg.embeds.shape[1]} given to an LLM of width {self.n_embd}")
                if kind is not None and is_embd != kind:
                    flush()
                kind = is_embd
                data = seg.embeds if is_embd else np.asarray(seg.ids, np.int64)
                if not is_embd and len(data) and (data.min() < 0 or data.max() >= self.n_vocab):
                    raise LLMError(f"token ids must lie in [0, {self.n_vocab}); got {data.min()}..{data.max()}")
                done = 0
                while done < len(seg):
                    k = min(len(seg) - done, self.n_batch - n)
                    sl = slice(n, n + k)
                    if is_embd:
                        b.embd[sl] = data[done : done + k]
                    else:
                        b.tok[sl] = data[done : done + k]
                    b.pos[sl] = np.arange(pos0 + done, pos0 + done + k)
                    b.seq[sl] = seq
                    b.out[sl] = flags[done : done + k] if flags is not None else 0
                    n += k
                    done += k
                    if n == self.n_batch:
                        flush()
            flush()
        finally:
            cap.on = False
        if not capture:
            return []
        rows = np.concatenate(cap.rows) if cap.rows else np.zeros((0, self.n_embd), np.float32)
        cap.rows = []
        if len(rows) != sum(counts):  # pragma: no cover - would mean llama.cpp reordered outputs
            raise LLMError(f"llama.cpp returned {len(rows)} hidden states, {sum(counts)} expected")
        return np.split(rows, np.cumsum(counts)[:-1])

    def _clear(self) -> None:
        self._lc.llama_memory_clear(self._mem, True)

    def _check_len(self, total: int) -> None:
        if total > self.n_ctx:
            raise LLMError(f"the LLM context needs {total} positions; this runtime holds {self.n_ctx} (n_ctx)")

    def hidden_states(self, segments: Sequence[Segment]) -> np.ndarray:
        segments = [s for s in segments if len(s)]
        self._check_len(sum(map(len, segments)))
        with self._lock:
            self._clear()
            jobs, pos = [], 0
            for s in segments:
                jobs.append((0, pos, s, np.ones(len(s), np.int8)))
                pos += len(s)
            try:
                out = self._run(jobs)
            finally:
                self._clear()
        return np.concatenate(out) if out else np.zeros((0, self.n_embd), np.float32)

    def _embed_block(self, segments: Sequence[Segment]) -> np.ndarray:
        """A sample's segments as one (n, D) block of embeddings: prompt ids embedded (and scaled) as the
        LLM embeds them, bridge tokens as given."""
        parts = []
        for s in segments:
            if s.embeds is not None:
                parts.append(s.embeds)
            elif len(s):  # the same few prompt tokens for every sample: embedded once
                key = tuple(int(t) for t in s.ids)
                if key not in self._embedded:
                    if len(self._embedded) > 64:
                        self._embedded.clear()
                    self._embedded[key] = self.embed_tokens(list(key))
                parts.append(self._embedded[key])
        for p in parts:
            if p.shape[1] != self.n_embd:
                raise LLMError(f"embeddings of width {p.shape[1]} given to an LLM of width {self.n_embd}")
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def _samples(self, prefix: list[int], samples: Sequence[Sequence[Segment]]) -> list[np.ndarray]:
        """Prefix evaluated once (sequence 0), copied to the other sequences' streams; the samples then run
        in groups of up to n_seq_max parallel sequences (head-mode context, see the module's docstring)."""
        prefix = list(prefix)
        P = len(prefix)
        blocks = []
        for smp in samples:
            if not any(len(s) for s in smp):
                raise LLMError("a sample has no tokens after the prefix")
            blocks.append(self._embed_block(smp))
        lengths = [len(x) for x in blocks]
        for L in lengths:
            self._check_len(P + L)
        # Groups of samples of one length, whole samples per decode: llama.cpp splits a batch whose
        # sequences differ in length into several ubatches in its own order, which would mix up the rows.
        results: list[np.ndarray | None] = [None] * len(blocks)
        with self._lock:
            ctx = self._head_context(P + max(lengths))
            mem = self._head_mem
            groups: list[list[int]] = []
            for L in sorted(set(lengths)):
                same = [k for k in range(len(blocks)) if lengths[k] == L]
                size = max(1, min(self._head_streams, self.n_batch // L))
                groups += [same[a:a + size] for a in range(0, len(same), size)]
            self._lc.llama_memory_clear(mem, True)
            try:
                if P:
                    self._run([(0, 0, Segment(ids=prefix), None)], capture=False, ctx=ctx)
                for group in groups:
                    for s in range(1, len(group) if P else 0):
                        self._lc.llama_memory_seq_cp(mem, 0, s, -1, -1)  # a copy of stream 0's buffers
                    jobs = []
                    for s, k in enumerate(group):
                        jobs.append((s, P, Segment(embeds=blocks[k]), np.ones(lengths[k], np.int8)))
                    for k, h in zip(group, self._run(jobs, ctx=ctx)):
                        results[k] = h
                    # Drop the samples' cells, keep the prefix in sequence 0 for the next group.
                    for s in range(len(group)):
                        self._lc.llama_memory_seq_rm(mem, s, P if s == 0 else -1, -1)
            finally:
                self._lc.llama_memory_clear(mem, True)
        return results

    def last_hidden_batch(self, prefix: list[int], samples: Sequence[Sequence[Segment]]) -> np.ndarray:
        if not samples:
            return np.zeros((0, self.n_embd), np.float32)
        # Every position is an output, as in sample_hidden_batch: with one output row llama.cpp multiplies
        # by another kernel (vec_dot, not tinyBLAS), so a sample alone would round differently.
        return np.stack([h[-1] for h in self._samples(prefix, samples)])

    def sample_hidden_batch(self, prefix: list[int], samples: Sequence[Sequence[Segment]]) -> list[np.ndarray]:
        return self._samples(prefix, samples)

    # -- generation -------------------------------------------------------------------------------
    def _argmax_last(self) -> int:
        logits = self._lc.llama_get_logits_ith(self._ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(logits, shape=(self.n_vocab,))))

    def generate(self, segments: Sequence[Segment], max_tokens: int = 96, stop: Sequence[str] | None = None) -> Iterator[str]:
        segments = [s for s in segments if len(s)]
        if not segments:
            raise LLMError("generate() needs a non-empty context")
        total = sum(map(len, segments))
        self._check_len(total)
        max_tokens = min(max_tokens, self.n_ctx - total)
        stop = [s for s in (stop or []) if s]
        with self._lock:
            self._clear()
            try:
                jobs, pos = [], 0
                for k, s in enumerate(segments):
                    flags = np.zeros(len(s), np.int8)
                    if k == len(segments) - 1:
                        flags[-1] = 1  # logits of the last position only
                    jobs.append((0, pos, s, flags))
                    pos += len(s)
                self._run(jobs, capture=False)
                yield from stream_text(self._next_tokens(pos, max_tokens), self.detokenize, stop)
            finally:
                self._clear()

    def _next_tokens(self, pos: int, max_tokens: int) -> Iterator[int]:
        """Greedy tokens, each fed back into the same KV cache, until an end-of-generation token."""
        for _ in range(max_tokens):
            tok = self._argmax_last()
            if self.vocab.is_eog(tok):
                return
            yield tok
            self._run([(0, pos, Segment(ids=[tok]), np.ones(1, np.int8))], capture=False)
            pos += 1

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        lc = getattr(self, "_lc", None)
        if lc is None:
            return
        if getattr(self, "_head", None):
            lc.llama_free(self._head)
            self._head = None
        if getattr(self, "_ctx", None):
            lc.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            lc.llama_model_free(self._model)
            self._model = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

