"""The trainable part of AllSpark for one bundle: modality encoder -> Lynx bridge, and the task head."""

from __future__ import annotations

import torch
from torch import nn

from .bridge import build_bridge
from .heads import build_head
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
        self.bridge = build_bridge(manifest["bridge"], enc_dim, llm_dim)
        element_dim = getattr(self.encoder, "element_dim", None) or enc_dim  # width of per-element features
        self.head = build_head(self.task, head_config(manifest), llm_dim, element_dim)
        self.n_bridge = int(self.bridge.queries.shape[0])

    def encode(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoder inputs -> (bridge tokens (B, N, D), per-element features or None)."""
        out = self.encoder(**inputs)
        tokens, elements = out if isinstance(out, tuple) else (out, None)
        return self.bridge(tokens), elements

    def decide(self, llm_hidden: torch.Tensor, elements: torch.Tensor | None):
        """The LLM's hidden states at the sample's positions -> head output."""
        return self.head(llm_hidden, self.n_bridge, elements)


def to_tensors(inputs: dict, device: str = "cpu") -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v).to(device) for k, v in inputs.items()}
