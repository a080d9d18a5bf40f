"""What every LLM runtime offers: contexts made of token and embedding segments, hidden states, text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np


@dataclass
class Segment:
    """One piece of an LLM context: prompt token ids, or float embeddings (bridge tokens)."""

    ids: list[int] | None = None
    embeds: np.ndarray | None = None  # (n, D) float32, injected as-is (not scaled like tokens)

    def __post_init__(self):
        if (self.ids is None) == (self.embeds is None):
            raise ValueError("a Segment holds either ids or embeds")
        if self.embeds is not None:
            self.embeds = np.ascontiguousarray(self.embeds, dtype=np.float32)
            if self.embeds.ndim != 2:
                raise ValueError(f"embeds must be (n, D), got shape {self.embeds.shape}")

    def __len__(self) -> int:
        return len(self.ids) if self.ids is not None else int(self.embeds.shape[0])


class Runtime(ABC):
    """A loaded GGUF LLM, frozen."""

    name: str = "?"
    gguf_path: Path
    n_embd: int
    bos_id: int | None = None
    eos_ids: set[int] = set()

    @abstractmethod
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]: ...

    @abstractmethod
    def detokenize(self, ids: Sequence[int]) -> str: ...

    def embed_tokens(self, ids: Sequence[int]) -> np.ndarray:
        """(n, D) float32: the input embeddings the LLM itself gives these tokens (Gemma: scaled by sqrt(D)),
        i.e. what an embeds segment must hold to stand for them."""
        raise NotImplementedError

    @abstractmethod
    def hidden_states(self, segments: Sequence[Segment]) -> np.ndarray:
        """(T, D) final (normed) hidden states of every position of the context."""

    def last_hidden(self, segments: Sequence[Segment]) -> np.ndarray:
        return self.hidden_states(segments)[-1]

    def last_hidden_batch(self, prefix: list[int], samples: Sequence[Sequence[Segment]]) -> np.ndarray:
        """(B, D): the last hidden state of prefix + each sample's segments."""
        return np.stack([self.last_hidden([Segment(ids=list(prefix)), *s]) for s in samples])

    def sample_hidden_batch(self, prefix: list[int], samples: Sequence[Sequence[Segment]]) -> list[np.ndarray]:
        """Per sample, (T_i, D): the hidden states of the sample's own positions after the shared prefix."""
        p = len(prefix)
        return [self.hidden_states([Segment(ids=list(prefix)), *s])[p:] for s in samples]

    @abstractmethod
    def generate(self, segments: Sequence[Segment], max_tokens: int = 96, stop: Sequence[str] | None = None) -> Iterator[str]:
        """Greedy continuation of the context, streamed as text pieces."""

    def close(self) -> None:  # pragma: no cover - runtimes override when they hold native memory
        pass


def stream_text(tokens: Iterable[int], detokenize: Callable[[list[int]], str], stop: Sequence[str] = ()) -> Iterator[str]:
    """Text pieces of a growing token list: only whole characters (a multi-byte character split over byte
    tokens waits for its last byte), cut before the first stop string; text that may still turn into a
    stop string is held back until it cannot."""
    stop = [s for s in stop if s]
    ids: list[int] = []
    sent = 0  # characters of the text already yielded
    for tok in tokens:
        ids.append(int(tok))
        text = detokenize(ids)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence so far
            continue
        cut = min((i for i in (text.find(s, max(0, sent - len(s))) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            if cut > sent:
                yield text[sent:cut]
            return
        hold = max((k for s in stop for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        if len(text) - hold > sent:
            yield text[sent : len(text) - hold]
            sent = len(text) - hold
    text = detokenize(ids) if ids else ""
    if len(text) > sent:
        yield text[sent:]
