"""How prompts wrap bridge tokens in the LLM's context.

Head mode, one modality:   <bos> {prompt} \\n Input: [N bridge tokens] \\n Answer:
The prefix (everything before the bridge tokens) is the same for every sample of a batch, so its KV
cache is computed once. Several modalities can share one context, each behind its own prompt:
    <bos> {prompt 1} \\n Input: [bridge 1] \\n {prompt 2} \\n Input: [bridge 2] \\n {question} \\n Answer:
A written answer (engine.ask) reads one sample's bridge tokens, then the whole run's result in words
and the question:
    <bos> {prompt} \\n Input: [bridge] \\n Result for the whole input: {summary} \\n Question: {question} \\n Answer:
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .llm.base import Runtime, Segment

INPUT_MARK = "\nInput:"
ANSWER_MARK = "\nAnswer:"


def head_prefix(runtime: Runtime, prompt: str) -> list[int]:
    return runtime.tokenize(prompt.strip() + INPUT_MARK, add_bos=True)


def head_suffix(runtime: Runtime) -> list[int]:
    return runtime.tokenize(ANSWER_MARK, add_bos=False)


def head_ids(runtime: Runtime, prompt: str) -> tuple[list[int], list[int]]:
    """(prefix ids, suffix ids) around one sample's bridge tokens."""
    return head_prefix(runtime, prompt), head_suffix(runtime)


def result_note(summary: str, what: str | None = None) -> str:
    """The note that puts a whole run's result (outputs.summary_text) before the user's question, so the
    LLM's written answer speaks of every sample, not of the one whose bridge tokens it reads."""
    return f"{what + ', result' if what else 'Result'} for the whole input: {summary.strip()}"


def context(runtime: Runtime, parts: Sequence[tuple[str, np.ndarray]], question: str | None = None,
            note: str | None = None) -> list[Segment]:
    """One context holding several (prompt, bridge tokens) parts, then an optional question and note
    (e.g. a head's result, so the LLM's text answer can speak of it), ending with the answer mark."""
    if not parts:
        raise ValueError("a context needs at least one (prompt, bridge tokens) part")
    segments: list[Segment] = []
    for i, (prompt, embeds) in enumerate(parts):
        lead = "" if i == 0 else "\n"
        segments.append(Segment(ids=runtime.tokenize(lead + prompt.strip() + INPUT_MARK, add_bos=(i == 0))))
        segments.append(Segment(embeds=np.asarray(embeds, dtype=np.float32)))
    tail = ""
    if note:
        tail += "\n" + note.strip()
    if question:
        tail += "\nQuestion: " + question.strip()
    segments.append(Segment(ids=runtime.tokenize(tail + ANSWER_MARK, add_bos=False)))
    return segments
