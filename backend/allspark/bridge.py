"""Lynx-style bridge (resampler): N learnable queries of the LLM's width read the encoder's tokens.

Each layer: cross-attention (queries attend to the encoder tokens; keys and values come from the
encoder tokens only) and a feed-forward block, both pre-LayerNorm with residuals, no biases; a final
LayerNorm. The output is N float tokens of width D that the LLM reads among its prompt tokens.
Lynx's defaults: N = 32, 3 layers, 8 heads of 64, FFN 4x with GELU.
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULTS = {"queries": 32, "layers": 3, "heads": 8, "head_dim": 64, "ffn_mult": 4}


class CrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim = heads, head_dim
        self.q = nn.Linear(dim, inner, bias=False)
        self.k = nn.Linear(dim, inner, bias=False)
        self.v = nn.Linear(dim, inner, bias=False)
        self.o = nn.Linear(inner, dim, bias=False)

    def forward(self, queries: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None):
        """queries (B or 1, N, D) (one set shared by the batch is projected once), context (B, M, D)."""
        b, m = context.shape[:2]
        n = queries.shape[1]
        q = self.q(queries).view(-1, n, self.heads, self.head_dim).transpose(1, 2).expand(b, -1, -1, -1)
        k = self.k(context).view(b, m, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(context).view(b, m, self.heads, self.head_dim).transpose(1, 2)
        attn_mask = None
        if context_mask is not None:  # (B, M) True = valid token
            attn_mask = context_mask[:, None, None, :].to(torch.bool)
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.o(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.up = nn.Linear(dim, dim * mult, bias=False)
        self.down = nn.Linear(dim * mult, dim, bias=False)

    def forward(self, x):
        return self.down(nn.functional.gelu(self.up(x)))


class BridgeLayer(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, ffn_mult: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_ctx = nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, heads, head_dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_mult)

    def forward(self, q, ctx, ctx_mask=None):
        q = q + self.attn(self.norm_q(q), self.norm_ctx(ctx), ctx_mask)
        return q + self.ffn(self.norm_ffn(q))


class LynxBridge(nn.Module):
    """Encoder tokens (B, M, d_enc) -> N bridge tokens (B, N, D) at the scale of the LLM's input embeddings."""

    def __init__(self, enc_dim: int, llm_dim: int, queries: int = 32, layers: int = 3, heads: int = 8,
                 head_dim: int = 64, ffn_mult: int = 4, output_rms: float = 1.0):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(queries, llm_dim) * 0.02)
        self.lift = nn.Linear(enc_dim, llm_dim, bias=False)
        self.layers = nn.ModuleList(BridgeLayer(llm_dim, heads, head_dim, ffn_mult) for _ in range(layers))
        self.norm_out = nn.LayerNorm(llm_dim)
        # Injected tokens should look like the LLM's own (scaled) token embeddings: the final LayerNorm
        # gives unit RMS, this fixed factor (measured on the LLM's embedding table) restores their RMS.
        self.register_buffer("output_rms", torch.tensor(float(output_rms)))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        ctx = self.lift(tokens)
        q = self.queries.unsqueeze(0)  # (1, N, D): the first layer's query projection is shared by the batch
        for layer in self.layers:
            q = layer(q, ctx, mask)
        q = q.expand(tokens.shape[0], -1, -1)  # (without layers, the queries themselves)
        return self.norm_out(q) * self.output_rms


def build_bridge(cfg: dict, enc_dim: int, llm_dim: int) -> LynxBridge:
    c = {**DEFAULTS, **{k: v for k, v in cfg.items() if k in DEFAULTS or k == "output_rms"}}
    return LynxBridge(enc_dim, llm_dim, **c)
