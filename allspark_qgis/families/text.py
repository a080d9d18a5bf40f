"""Texts (a text field of a vector layer or table: reports, comments, reviews): a run classifies the text
of every (selected) feature and adds a copy of the layer with the class and its probability as fields; a
question is about the first (selected) feature's text.

Texts travel in the payload's meta (`texts`, JSON: the wire carries numbers only as arrays), in batches
of at most BATCH_TEXTS texts and BATCH_CHARS characters; a text longer than MAX_CHARS keeps its start and
its end (a bundle reads at most a few hundred tokens of it, start and end, anyway).
"""

from __future__ import annotations

import os

from .. import layers
from ..i18n import tr
from .base import FeatureFieldFamily

BATCH_TEXTS = 256
BATCH_CHARS = 400_000
MAX_CHARS = 20_000


def text_field(source, manifest: dict | None = None, exclude: str | None = None) -> str:
    """The field holding the texts: the one the bundle was trained on when the layer has it, else one named
    like a text, else the string field with the longest values (on the first 200 features)."""
    from ..modality import field_kinds, text_named

    kinds = [(n, k) for n, k in field_kinds(source) if n != exclude]
    names = [n for n, _ in kinds]
    trained = ((manifest or {}).get("read_options") or {}).get("text_field")
    if trained and trained in names:
        return trained
    named = text_named(kinds)
    if named:
        return named[0]
    strings = [n for n, k in kinds if k == "string"]
    if not strings:
        raise layers.LayerError(tr("The layer has no text field."))
    idx = [source.fields().indexOf(n) for n in strings]
    length = [0] * len(strings)
    for k, f in enumerate(source.getFeatures()):
        if k >= 200:
            break
        a = f.attributes()
        for j, i in enumerate(idx):
            length[j] += 0 if layers.is_null(a[i]) else len(str(a[i]))
    return strings[max(range(len(strings)), key=length.__getitem__)]


def clipped(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS * 2 // 3] + " … " + text[-MAX_CHARS // 3:]


def texts_payloads(source, manifest: dict, feature_ids=None) -> list[tuple[dict, dict]]:
    """[(arrays, meta)] payloads of the (selected) features' texts: meta `texts`, `fids`, `layer`, `field`.
    A feature without text is an error naming it (nothing is classified silently as empty)."""
    field = text_field(source, manifest)
    i = source.fields().indexOf(field)
    name = layers.source_name(source)
    payloads, texts, fids, chars = [], [], [], 0
    for f in layers._features(source, feature_ids):
        value = f.attributes()[i]
        text = "" if layers.is_null(value) else str(value).strip()
        if not text:
            raise layers.LayerError(tr("Feature {fid} of '{layer}' has no text in the field '{field}'.").format(
                fid=f.id(), layer=name, field=field))
        text = clipped(text)
        if texts and (len(texts) >= BATCH_TEXTS or chars + len(text) > BATCH_CHARS):
            payloads.append(({}, {"texts": texts, "fids": fids, "layer": name, "field": field}))
            texts, fids, chars = [], [], 0
        texts.append(text)
        fids.append(int(f.id()))
        chars += len(text)
    if not texts and not payloads:
        raise layers.LayerError(tr("The layer '{name}' has no features to send.").format(name=name))
    if texts:
        payloads.append(({}, {"texts": texts, "fids": fids, "layer": name, "field": field}))
    return payloads


class TextFamily(FeatureFieldFamily):
    name = "text"
    modalities = ("text",)
    item_key = "texts"

    def fit_problem(self, manifest, facts):
        if facts.kind != "vector" or not any(k == "string" for _, k in facts.fields):
            return tr("Bundle '{name}' needs a layer or table with a text field.").format(name=manifest.get("name", "?"))
        return None

    def input_field(self, layer, source, manifest=None, exclude=None):
        return text_field(source, manifest, exclude)

    def payloads(self, layer, source, manifest, feature_ids=None):
        return texts_payloads(source, manifest, feature_ids)

    def training_needs(self):
        return tr("A text bundle trains on a layer or table with a text field and a label field.")

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        from .. import training

        source = inputs.source or layer
        field = text_field(source, exclude=inputs.target_field)
        path = training.write_table_csv(source, os.path.join(inputs.work, "texts.csv"), inputs.target_field)
        return training.config(modality, path, out_dir, name, epochs, task="classification",
                               read_options={"text_field": field, "label_field": inputs.target_field})


FAMILY = TextFamily()
