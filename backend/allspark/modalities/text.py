"""Text: reviews, notes, descriptions, read by the LLM as its own tokens (tokens.py), classified.

Task `classification` (the paper: IMDB sentiment), through the LLM's own tokens: the head's answer starts
as the LLM's own preference between the class words (its output embedding rows of " negative" /
" positive", read off the last position) and a linear layer on [last position, mean over the text] learns
what to add (heads.WordClassificationHead). Metric: accuracy (metrics.classification).

Files (`read`: texts to classify; `read_labelled`: texts with their labels):
- JSON lines (`.jsonl`, `.jsonl.gz`, as ../shared/data/text_imdb holds: id, rating, label, text): the text
  field is `text_field` or the first of TEXT_FIELDS present; the label `label_field` or the first of
  LABEL_FIELDS;
- CSV / TSV with a header: the same fields as columns;
- a `.txt` file: one text (or one per non-empty line with `lines`);
- a folder: the aclImdb layout (`<root>/train/{neg,pos}/*.txt`, or `test` with `split="test"`) or any
  folder of class sub-folders of `.txt` files (the sub-folder is the label); for `read`, every `.txt` file.
Labels "pos" / "neg" read as "positive" / "negative" (the words the LLM knows). Rows without text are
InputErrors naming the row, as are a missing field, an empty file and a single class for training.

Split groups: blocks of 50 consecutive review ids (aclImdb numbers a film's reviews consecutively, so
reviews of one film stay on one side of the split), else blocks of 50 rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Sample, read_text_file, register
from .options import TextOptions
from .tokens import TokenModality, join_choices

TEXT_FIELDS = ("text", "review", "body", "comment", "comments", "description", "content", "message",
               "sentence", "note", "notes")
LABEL_FIELDS = ("label", "sentiment", "class", "category", "target", "y")
WORDS = {"pos": "positive", "neg": "negative"}
GROUP_BLOCK = 50


@register
class TextModality(TokenModality):
    name = "text"
    title = "Text"
    prompts = ["Please determine if this text is [category list]?",
               "Is the sentiment or category of this text [category list]?"]
    tasks = ["classification"]
    file_types = [".jsonl", ".gz", ".csv", ".tsv", ".txt"]
    options_class = TextOptions

    def prompt_for(self, prompt=None, classes=None, index: int = 0) -> str:
        """As every modality's, with the classes listed as "a, b or c" (a question the LLM can answer)."""
        return super().prompt_for(prompt, [join_choices(classes)] if classes else classes, index)

    # ---- reading -------------------------------------------------------------------------------------
    def read(self, path: str, text_field=None, label_field=None, lines: bool = False, max_rows=None,
             split: str = "train") -> list[Sample]:
        return [s for s, _ in self._rows(path, text_field, label_field, lines, max_rows, split, labelled=False)]

    def read_labelled(self, path: str, text_field=None, label_field=None, lines: bool = False, max_rows=None,
                      split: str = "train") -> LabelledSet:
        rows = self._rows(path, text_field, label_field, lines, max_rows, split, labelled=True)
        labels = [str(lab) for _, lab in rows]
        names = sorted(set(labels))
        if set(names) <= set(WORDS):
            names = sorted(WORDS[n] for n in names)
            labels = [WORDS[lab] for lab in labels]
        if len(names) < 2:
            raise InputError(f"{path}: training needs at least two labels, found {names or 'none'}")
        index = {n: i for i, n in enumerate(names)}
        samples = [s for s, _ in rows]
        ids = [s.meta.get("id") for s in samples]
        if all(isinstance(i, (int, np.integer)) for i in ids):
            groups = np.asarray(ids, np.int64) // GROUP_BLOCK
        else:
            groups = np.arange(len(samples)) // GROUP_BLOCK
        return LabelledSet(samples, np.asarray([index[lab] for lab in labels], np.int64), names,
                           groups=groups, info={"split": "blocks of consecutive ids"})

    def from_payload(self, arrays: dict, meta: dict) -> list[Sample]:
        """Meta `texts` (a list of str: the wire carries numbers only as arrays; the plugin's text family),
        or in-process an array `text` (B,) str; one text per feature or line (empty ones are refused by
        check); meta `fids` (the features' ids) optional. Or meta `path` for the backend to read."""
        if isinstance((meta or {}).get("texts"), list):
            texts = list(meta["texts"])
            if not all(isinstance(t, str) for t in texts):
                raise InputError("a text payload's 'texts' must be a list of strings")
        elif "text" in (arrays or {}):
            texts = [str(t) for t in np.asarray(arrays["text"]).reshape(-1)]
        else:
            raise InputError("a text payload needs 'texts' (meta: one text per feature) or an array 'text'")
        if not texts:
            raise InputError("the text payload is empty: no texts to read")
        fids = list((meta or {}).get("fids") or range(len(texts)))
        if len(fids) != len(texts):
            raise InputError(f"the text payload has {len(texts)} texts but {len(fids)} feature ids")
        source = (meta or {}).get("layer") or "the layer"
        return [self.sample(str(t), source=source, row=i, fid=fids[i]) for i, t in enumerate(texts)]

    def _rows(self, path, text_field, label_field, lines, max_rows, split, labelled: bool):
        path = os.fspath(path)
        if os.path.isdir(path):
            rows = self._folder(path, split, labelled)
        elif not os.path.exists(path):
            raise InputError(f"cannot read {path}: no such file or folder")
        else:
            low = path.lower()
            if low.endswith((".jsonl", ".jsonl.gz", ".json", ".ndjson")):
                records = _json_lines(path)
            elif low.endswith((".csv", ".tsv")):
                records = _csv_rows(path)
            elif low.endswith(".txt"):
                if labelled:
                    raise InputError(f"{path}: a single text file has no labels; give a JSON lines or CSV file "
                                     "with a label field, or a folder of class sub-folders")
                text = read_text_file(path, "text")
                parts = [t for t in text.splitlines() if t.strip()] if lines else [text]
                records = [{"text": t} for t in parts]
                text_field = "text"
            else:
                raise InputError(f"{path}: not a text file this reader knows (JSON lines, CSV, TSV, .txt or a folder)")
            rows = self._records(path, records, text_field, label_field, labelled)
        if max_rows:
            rows = rows[:int(max_rows)]
        if not rows:
            raise InputError(f"{path}: no texts")
        return rows

    def _records(self, path, records, text_field, label_field, labelled):
        if not records:
            raise InputError(f"{path}: no rows")
        fields = list(records[0].keys())
        tf = _pick(fields, text_field, TEXT_FIELDS, path, "text")
        lf = _pick(fields, label_field, LABEL_FIELDS, path, "label") if labelled else None
        rows = []
        for i, r in enumerate(records):
            text = r.get(tf)
            if text is None or not str(text).strip():
                raise InputError(f"{path}: row {i + 1} has no text in field '{tf}'")
            rid = r.get("id")
            meta = {"source": path, "row": i, **({"id": int(rid)} if _is_int(rid) else {})}
            label = None
            if lf is not None:
                label = r.get(lf)
                if label is None or str(label).strip() == "":
                    raise InputError(f"{path}: row {i + 1} has no label in field '{lf}'")
            rows.append((self.sample(str(text), **meta), label))
        return rows

    def _folder(self, path, split, labelled):
        root = Path(path)
        if (root / split).is_dir() and any((root / split / c).is_dir() for c in ("pos", "neg")):
            root = root / split  # aclImdb: <root>/train/{pos,neg}
        classes = sorted(d.name for d in root.iterdir() if d.is_dir() and any(d.glob("*.txt")))
        rows = []
        if labelled:
            if not classes:
                raise InputError(f"{path}: no class sub-folders of .txt files")
            for c in classes:
                for f in sorted((root / c).glob("*.txt"), key=_file_order):
                    rows.append((self._file_sample(f), c))
        else:
            for f in sorted(root.rglob("*.txt"), key=lambda f: (str(f.parent), _file_order(f))):
                rows.append((self._file_sample(f), None))
        if not rows:
            raise InputError(f"{path}: no .txt files")
        return rows

    def _file_sample(self, f: Path) -> Sample:
        text = read_text_file(f, "text")
        if not text.strip():
            raise InputError(f"{f}: the file is empty")
        stem = f.stem.split("_")[0]  # aclImdb: <id>_<rating>.txt
        return self.sample(text, source=str(f), **({"id": int(stem)} if stem.isdigit() else {}))


def _file_order(f: Path):
    stem = f.stem.split("_")[0]
    return (0, int(stem), f.name) if stem.isdigit() else (1, 0, f.name)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) or (isinstance(v, str) and v.isdigit())


def _pick(fields, given, known, path, what) -> str:
    if given:
        if given not in fields:
            raise InputError(f"{path}: no field '{given}' (fields: {', '.join(fields)})")
        return given
    low = {f.lower(): f for f in fields}
    for k in known:
        if k in low:
            return low[k]
    raise InputError(f"{path}: no {what} field (looked for {', '.join(known)}; fields: {', '.join(fields)}); "
                     f"name it with the option {what}_field")


def _json_lines(path) -> list[dict]:
    try:
        if path.lower().endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
        else:
            text = read_text_file(path, "JSON lines")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    out = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: line {i + 1} is not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}: line {i + 1} is not a JSON object")
        out.append(row)
    return out


def _csv_rows(path) -> list[dict]:
    text = read_text_file(path, "CSV")
    delim = "\t" if path.lower().endswith(".tsv") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delim)
    if not reader.fieldnames:
        raise InputError(f"{path}: no header row")
    return [dict(r) for r in reader]
