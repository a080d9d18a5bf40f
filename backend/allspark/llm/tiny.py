"""A tiny but real Gemma-3-architecture GGUF (random weights, ~360-token SentencePiece vocab with byte
fallback) that llama.cpp and transformers both load: fast tests run every runtime code path on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Shape of the tiny model. Six layers so that, with Gemma 3's pattern of five sliding-window layers then
# one global layer, both kinds of attention (and both RoPE bases) are exercised.
N_EMBD, N_HEAD, N_HEAD_KV, HEAD_DIM, N_FF, N_LAYER = 64, 4, 1, 16, 128, 6
SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
PAD_ID, EOS_ID, BOS_ID, UNK_ID = 0, 1, 2, 3
WORDS = (
    "the of and to in is this that for image class pixel band value land water forest urban field road "
    "river crop soil cloud map point cloud table time area model label type user question answer please "
    "which belongs following categories given spectral information describe"
).split()

# gguf TokenType values: NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6


def _vocab() -> tuple[list[str], list[float], list[int]]:
    tokens, scores, types = [], [], []

    def add(tok: str, score: float, typ: int) -> None:
        if tok not in tokens:
            tokens.append(tok)
            scores.append(score)
            types.append(typ)

    for i, tok in enumerate(SPECIAL):
        add(tok, 0.0, _UNKNOWN if i == UNK_ID else _CONTROL)
    for b in range(256):  # byte fallback: any text tokenizes
        add(f"<0x{b:02X}>", 0.0, _BYTE)
    # Normal pieces, more frequent first (SentencePiece scores: higher is preferred).
    pieces = ["▁"] + [f"▁{w}" for w in WORDS] + list("abcdefghijklmnopqrstuvwxyz") + list("0123456789.,?!:-")
    pieces += [f"▁{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    for i, p in enumerate(pieces):
        add(p, -float(i + 1), _NORMAL)
    return tokens, scores, types


def write_tiny_gguf(path: str | Path, seed: int = 0) -> Path:
    """Write the tiny Gemma 3 GGUF (f32, ~1 MB) to `path` and return it."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tokens, scores, types = _vocab()
    n_vocab = len(tokens)

    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_name("allspark-tiny-gemma3")
    w.add_context_length(2048)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(1_000_000.0)
    w.add_sliding_window(512)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")  # SentencePiece, as Gemma's GGUFs say
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(BOS_ID)
    w.add_eos_token_id(EOS_ID)
    w.add_unk_token_id(UNK_ID)
    w.add_pad_token_id(PAD_ID)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)

    def t(name: str, *shape: int, std: float | None = None, norm: bool = False) -> None:
        # numpy shape (out, in) = ggml ne (in, out); norm weights are stored as the multiplier (1 + w).
        if norm:
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            a = rng.standard_normal(shape) * (std if std is not None else shape[-1] ** -0.5)
        w.add_tensor(name, a.astype(np.float32))

    t("token_embd.weight", n_vocab, N_EMBD, std=N_EMBD**-0.5)
    t("output_norm.weight", N_EMBD, norm=True)
    for i in range(N_LAYER):
        b = f"blk.{i}."
        t(b + "attn_norm.weight", N_EMBD, norm=True)
        t(b + "attn_q.weight", N_HEAD * HEAD_DIM, N_EMBD)
        t(b + "attn_k.weight", N_HEAD_KV * HEAD_DIM, N_EMBD)
        t(b + "attn_v.weight", N_HEAD_KV * HEAD_DIM, N_EMBD)
        t(b + "attn_output.weight", N_EMBD, N_HEAD * HEAD_DIM)
        t(b + "attn_q_norm.weight", HEAD_DIM, norm=True)
        t(b + "attn_k_norm.weight", HEAD_DIM, norm=True)
        t(b + "post_attention_norm.weight", N_EMBD, norm=True)
        t(b + "ffn_norm.weight", N_EMBD, norm=True)
        t(b + "ffn_gate.weight", N_FF, N_EMBD)
        t(b + "ffn_up.weight", N_FF, N_EMBD)
        t(b + "ffn_down.weight", N_EMBD, N_FF)
        t(b + "post_ffw_norm.weight", N_EMBD, norm=True)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
