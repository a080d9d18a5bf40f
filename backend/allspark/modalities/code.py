"""Code: functions and scripts, read by the LLM as its own tokens (tokens.py): the LLM writes each one's
docstring, and a search finds the code a sentence describes.

Task `docstring` (CodeXGLUE code-to-text and code search):
- the docstring comes from the LLM's own decoder: the context is the prompt, the code's tokens and
  "Answer:", after the bundle's demonstrations (pairs of code and docstring from the training split, as
  many as the model-selection split found best, 0-2); greedy, up to `docstring_tokens` tokens, one line.
  Metric: smoothed BLEU-4 (metrics.smoothed_bleu4, CodeXGLUE's).
- code search: two light projections (heads.RetrievalHead) of the LLM's rows (tokens.pooled_rows) of the
  code (after the prompt) and of a sentence (after QUERY_PROMPT) into one space, trained contrastively on
  the training pairs; metric: MRR, each validation docstring ranking every validation function.

Files (`read`: code to describe; `read_labelled`: code with its docstring):
- CodeXGLUE / CodeSearchNet JSON lines (`.jsonl`, `.jsonl.gz`: code, docstring_tokens (the reference, as
  CodeXGLUE scores it; else docstring), func_name, repo): the repository is the split group, so no
  repository's functions are on both sides of a split;
- a script file (.py, .rb, .js, .r, .sql, .sh, .java, .go, .php, .pl, .lua, .txt; a QGIS expression file
  .exp): one sample; a folder: every such file.
Empty code, a row without code or docstring, an unreadable file, binary content are InputErrors naming
the row or the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Sample, read_text_file, register
from .options import CodeOptions
from .text import _json_lines
from .tokens import TokenModality

SCRIPT_SUFFIXES = (".py", ".rb", ".js", ".ts", ".r", ".sql", ".sh", ".java", ".go", ".php", ".pl", ".lua",
                   ".txt", ".exp", ".c", ".cpp", ".h", ".cs")
QUERY_PROMPT = "Find the code that does what this sentence says."


@register
class CodeModality(TokenModality):
    name = "code"
    title = "Code"
    what = "code"
    prompts = ["Write a one-sentence docstring that summarizes what this function does."]
    query_prompt = QUERY_PROMPT
    tasks = ["docstring"]
    file_types = [".jsonl", ".gz", *SCRIPT_SUFFIXES]
    input_defaults = {"max_tokens": 256, "tail_tokens": 32, "query_tokens": 64, "docstring_tokens": 32}
    options_class = CodeOptions

    def read(self, path: str, max_rows=None, **_) -> list[Sample]:
        return self._read(path, max_rows, labelled=False)[0]

    def read_labelled(self, path: str, max_rows=None, **_) -> LabelledSet:
        samples, docs = self._read(path, max_rows, labelled=True)
        repos = [s.meta.get("repo") or s.meta.get("source") for s in samples]
        index = {r: i for i, r in enumerate(dict.fromkeys(repos))}
        return LabelledSet(samples, np.asarray(docs, dtype=object), None,
                           groups=np.asarray([index[r] for r in repos]), info={"split": "repository"})

    def from_payload(self, arrays: dict, meta: dict) -> list[Sample]:
        """Meta `texts`: the code of each script or expression (a list of str), `names` optional."""
        texts = (meta or {}).get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise InputError("a code payload needs 'texts': a non-empty list of the scripts' code")
        names = list((meta or {}).get("names") or [f"script {i + 1}" for i in range(len(texts))])
        return [self.sample(t, source=str(n), row=i) for i, (t, n) in enumerate(zip(texts, names))]

    # ---- reading -------------------------------------------------------------------------------------
    def _read(self, path, max_rows, labelled: bool):
        path = os.fspath(path)
        if os.path.isdir(path):
            if labelled:
                raise InputError(f"{path}: training reads JSON lines of code and docstring (CodeXGLUE's format), "
                                 "not a folder of scripts")
            files = sorted(f for f in Path(path).rglob("*") if f.is_file() and f.suffix.lower() in SCRIPT_SUFFIXES)
            if not files:
                raise InputError(f"{path}: no scripts ({', '.join(SCRIPT_SUFFIXES)})")
            samples = [self._script(f) for f in files[:max_rows or None]]
            return samples, []
        if not os.path.exists(path):
            raise InputError(f"cannot read {path}: no such file or folder")
        low = path.lower()
        if low.endswith((".jsonl", ".jsonl.gz", ".json", ".ndjson")):
            rows = _json_lines(path)
            if max_rows:
                rows = rows[:int(max_rows)]
            if not rows:
                raise InputError(f"{path}: no rows")
            samples, docs = [], []
            for i, r in enumerate(rows):
                code = r.get("code") or r.get("original_string")
                if not isinstance(code, str) or not code.strip():
                    raise InputError(f"{path}: row {i + 1} has no code")
                meta = {"source": path, "row": i, **{k: r[k] for k in ("func_name", "repo", "path", "url")
                                                      if isinstance(r.get(k), str)}}
                samples.append(self.sample(code, **meta))
                if labelled:
                    doc = " ".join(r["docstring_tokens"]) if isinstance(r.get("docstring_tokens"), list) \
                        else r.get("docstring")
                    if not isinstance(doc, str) or not doc.strip():
                        raise InputError(f"{path}: row {i + 1} has no docstring")
                    docs.append(doc.strip())
            return samples, docs
        if labelled:
            raise InputError(f"{path}: a script has no docstring to learn from; give CodeXGLUE JSON lines")
        if not low.endswith(SCRIPT_SUFFIXES):
            raise InputError(f"{path}: not a script this reader knows ({', '.join(SCRIPT_SUFFIXES)})")
        return [self._script(Path(path))], []

    def _script(self, f: Path) -> Sample:
        code = read_text_file(f, "script")
        if not code.strip():
            raise InputError(f"{f}: the script is empty")
        return self.sample(code, source=str(f), func_name=f.stem)

    # ---- what the LLM reads besides the code ---------------------------------------------------------
    def query_ids(self, texts, runtime, spec) -> list[list[int]]:
        """A search sentence (or a reference docstring) as the LLM's tokens, cut to `query_tokens`."""
        cap = int(self.input_spec(spec)["query_tokens"])
        out = []
        for t in texts:
            if not str(t).strip():
                raise InputError("an empty search sentence")
            out.append(runtime.tokenize(" " + str(t).strip())[:cap])
        return out


def name_words(func_name: str) -> str:
    """A function's name as words: "RestClient.Request.process_url_params" -> "process url params"."""
    last = re.split(r"[.#:]+", func_name or "")[-1]
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", last).replace("_", " ").replace("?", "").replace("!", "")
    return " ".join(words.lower().split())


def demonstration_ids(runtime, prompt: str, demonstrations, code_ids: list[list[int]]) -> list[int]:
    """The context before a function the LLM describes: each demonstration (its code's tokens, cut as the
    function's are, and its docstring) in the same layout, then the prompt again:
        <bos> {prompt} \\n Input: {code} \\n Answer: {docstring} \\n ... {prompt} \\n Input:"""
    from .. import prompts as P

    ids: list[int] = []
    for k, (demo, cids) in enumerate(zip(demonstrations, code_ids)):
        ids += runtime.tokenize(("" if k == 0 else "\n") + prompt.strip() + P.INPUT_MARK, add_bos=(k == 0))
        ids += list(cids) + runtime.tokenize(P.ANSWER_MARK + " " + str(demo["docstring"]).strip())
    ids += runtime.tokenize(("\n" if ids else "") + prompt.strip() + P.INPUT_MARK, add_bos=not ids)
    return ids


def write_docstrings(runtime, prefix_ids: list[int], ids: list[list[int]], max_tokens: int,
                     cancel=None) -> list[str]:
    """Each function's docstring as the LLM writes it (greedy, one line) after `prefix_ids`
    (demonstration_ids) and the function's tokens."""
    from .. import prompts as P
    from ..errors import Cancelled
    from ..llm.base import Segment

    suffix = runtime.tokenize(P.ANSWER_MARK)
    out = []
    for i in ids:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"cancelled after {len(out)} of {len(ids)} docstrings")
        text = "".join(runtime.generate([Segment(ids=list(prefix_ids)), Segment(ids=list(i)), Segment(ids=suffix)],
                                        max_tokens=max_tokens, stop=["\n"]))
        out.append(" ".join(text.split()))
    return out
