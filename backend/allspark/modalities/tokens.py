"""What the modalities the LLM reads as its own tokens share (text, code): the paper's "the LLM's tokenizer,
no extra encoder".

A sample's text enters the LLM's context as the LLM's own tokens, where the other modalities put their
bridge tokens:  <bos> {prompt} \\n Input: {the text's tokens} \\n Answer:
So these bundles have no encoder and no bridge (their manifest says so); the head reads two rows of the
LLM's final hidden states: the mean over the text's positions and the last position (`pooled_rows`).
Because nothing before the LLM is trained, the frozen LLM's rows are computed once per sample and the
head trains on them (token_train.py), on the same runtime that answers later (llama.cpp).

Long texts keep their first and last tokens (`max_tokens`, of which `tail_tokens` from the end): a review's
verdict is often in its last sentences.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from .base import Modality, Sample, need_samples

NO_ENCODER = {"kind": "llm_tokens", "note": "the input enters the LLM as its own tokens: no encoder"}
NO_BRIDGE = {"kind": "none", "note": "the input enters the LLM as its own tokens: no bridge"}


class TokenModality(Modality):
    """A modality whose samples are texts the LLM reads as its own tokens (sample data `text`, a 0-d str
    array)."""

    reads_llm_tokens = True
    layer_kind = "text"
    input_defaults = {"max_tokens": 192, "tail_tokens": 64}
    encoder_defaults: dict = {}
    what = "text"  # how errors name a sample's content

    # ---- samples ---------------------------------------------------------------------------------
    def sample(self, text: str, **meta) -> Sample:
        return Sample(data={"text": np.asarray(str(text))}, meta=dict(meta))

    @staticmethod
    def text_of(sample: Sample) -> str:
        value = (sample.data or {}).get("text")
        if value is None:
            raise InputError(f"sample from {sample.meta.get('source', 'input')} has no text")
        return str(np.asarray(value).reshape(()).item()) if np.asarray(value).ndim == 0 else " ".join(
            str(v) for v in np.asarray(value).ravel())

    def check(self, sample: Sample, spec: dict) -> None:
        text = self.text_of(sample)
        if not text.strip():
            where = sample.meta.get("source", "input")
            row = sample.meta.get("row")
            raise InputError(f"empty {self.what} in {where}" + (f" (row {row})" if row is not None else ""))

    def token_ids(self, samples: Sequence[Sample], runtime, spec: dict | None) -> list[list[int]]:
        """Each sample's text as the LLM's tokens (after "Input:", so with a leading space), cut to the
        bundle's `max_tokens`: the first max_tokens - tail_tokens and the last tail_tokens."""
        need_samples(samples, self.what)
        inp = self.input_spec(spec)
        cap, tail = int(inp["max_tokens"]), int(inp["tail_tokens"])
        if cap < 1 or not 0 <= tail < cap:
            raise InputError(f"input settings max_tokens {cap} / tail_tokens {tail}: need 0 <= tail_tokens < max_tokens")
        out = []
        for s in samples:
            self.check(s, spec or {})
            ids = runtime.tokenize(" " + self.text_of(s).strip())
            out.append(ids if len(ids) <= cap else ids[:cap - tail] + (ids[len(ids) - tail:] if tail else []))
        return out

    # ---- the parts a token modality does not have ------------------------------------------------
    def normalise_stats(self, samples: Sequence[Sample], spec: dict) -> dict:
        return {}

    def to_inputs(self, samples: Sequence[Sample], spec: dict, stats: dict) -> dict[str, np.ndarray]:
        return {}  # the LLM reads the tokens itself (token_ids)

    def build_encoder(self, spec: dict):
        from torch import nn

        return nn.Identity()

    def default_spec(self, samples: Sequence[Sample] | None = None) -> dict:
        return {"input": dict(self.input_defaults), "encoder": dict(NO_ENCODER)}


def pooled_rows(hidden: Sequence[np.ndarray], n_after: int) -> np.ndarray:
    """(B, 2, D): per sample, the mean of the LLM's final hidden states over the text's positions and the
    last position (the answer mark's), from `sample_hidden_batch` rows (text positions, then `n_after`
    suffix positions). The heads read row 1 as the last position and row 0 as the sample's mean."""
    rows = []
    for h in hidden:
        h = np.asarray(h, np.float32)
        n_text = h.shape[0] - n_after
        if n_text < 1:
            raise InputError("a text with no tokens reached the LLM")
        rows.append(np.stack([h[:n_text].astype(np.float64).mean(0).astype(np.float32), h[-1]]))
    return np.stack(rows)


def join_choices(classes: Sequence[str]) -> str:
    """"a, b or c": how a prompt lists the answers."""
    names = [str(c) for c in classes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
