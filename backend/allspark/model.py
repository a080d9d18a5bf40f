"""The trainable part of AllSpark for one bundle: modality encoder -> Lynx bridge, and the task head.

With `head.encoder_skip` the answer is the LLM head's output plus that of the encoder's own head
(stage 1's, reading the encoder's tokens): the LLM head starts at zero, so stage 2 begins from the
encoder's answer and learns what the LLM's reading adds to it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .bridge import build_bridge
from .heads import build_encoder_head, build_head
from .modalities import get as get_modality


def head_config(manifest: dict) -> dict:
    return {**manifest.get("head", {}), "classes": manifest.get("classes"), "targets": manifest.get("targets")}


class AllSparkModel(nn.Module):
    def __init__(self, manifest: dict):
        super().__init__()
        modality = get_modality(manifest["modality"])
        spec = {"input": manifest["input"], "encoder": manifest["encoder"]}
        llm_dim = int(manifest["llm"]["n_embd"])
        enc_dim = int(manifest["encoder"]["dim"])
        self.task = manifest["task"]
        self.encoder = modality.build_encoder(spec)
        self.encoder_head = None
        if getattr(modality, "reads_llm_tokens", False):  # text: the LLM reads the input's own tokens
            self.bridge = nn.Identity()
            self.head = build_head(self.task, head_config(manifest), llm_dim, enc_dim)
            self.n_bridge = 1  # the head reads tokens.pooled_rows: [mean over the text, last position]
            return
        self.bridge = build_bridge(manifest["bridge"], enc_dim, llm_dim)
        element_dim = getattr(self.encoder, "element_dim", None) or enc_dim  # width of per-element features
        self.head = build_head(self.task, head_config(manifest), llm_dim, element_dim)
        self.n_bridge = int(self.bridge.queries.shape[0])
        if manifest.get("head", {}).get("encoder_skip"):
            self.encoder_head = build_encoder_head(self.task, head_config(manifest), enc_dim, element_dim)
            last = [m for m in self.head.modules() if isinstance(m, nn.Linear)][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def encode(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, "Encoded"]:
        """Encoder inputs -> (bridge tokens (B, N, D), the encoder's own output)."""
        out = self.encoder(**inputs)
        encoded = Encoded(*out) if isinstance(out, tuple) else Encoded(out, None)
        return self.bridge(encoded.tokens), encoded

    def decide(self, llm_hidden: torch.Tensor, encoded: "Encoded | torch.Tensor | None"):
        """The LLM's hidden states at the sample's positions (and the encoder's output) -> head output."""
        if not isinstance(encoded, Encoded):
            encoded = Encoded(None, encoded)
        elements = None if encoded.elements is None else encoded.elements.to(llm_hidden.dtype)
        out = self.head(llm_hidden, self.n_bridge, elements)
        if self.encoder_head is None:
            return out
        tokens = encoded.tokens.to(llm_hidden.dtype)
        prior = self.encoder_head(tokens, tokens.shape[1], elements)
        if isinstance(out, tuple):
            return tuple(a + b for a, b in zip(out, prior))
        return out + prior


class Encoded(NamedTuple):
    """What the modality encoder returns: tokens (B, n, d_enc) for the bridge, per-element features
    (B, M, d) for dense heads or None."""

    tokens: torch.Tensor
    elements: torch.Tensor | None


def to_tensors(inputs: dict, device: str = "cpu") -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v).to(device) for k, v in inputs.items()}
