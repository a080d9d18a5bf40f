"""Video clips tied to places (a point layer or a table with a field of clip file paths: .mp4 .avi .mkv .mov
.webm): a run classifies the clip of every (selected) feature and adds a copy of the layer with the class
and its probability as fields; a question is about the first (selected) feature's clip.

The plugin sends paths, never frames: the backend (on this machine) decodes the clips with PyAV. Paths
travel in the payload's meta (`videos`, with the features' ids `fids`), BATCH_CLIPS per payload, a backend
job each, so progress moves per batch and a cancel lands between batches. A relative path is resolved
against the layer's folder (the folder of its file; a layer without a file: the project's folder). A
feature whose clip is missing is an error naming the feature, the field and the file, before anything is
sent; a clip the backend cannot decode is its error, naming the feature as well.
"""

from __future__ import annotations

import csv
import os

from .. import layers
from ..i18n import tr
from .base import FeatureFieldFamily

BATCH_CLIPS = 16
LABEL_NAMES = ("label", "class", "action", "category", "activity")


def video_field(source, manifest: dict | None = None, exclude: str | None = None) -> str:
    """The field holding the clips' paths: the one the bundle was trained on when the layer has it, else one
    named like it (video, clip, ...; file / path with video values), else the string field whose values
    most often end in a video file type (on the first 50 features)."""
    from ..modality import LayerFacts, field_kinds, is_video_path, path_field_values, video_columns

    kinds = [(n, k) for n, k in field_kinds(source) if n != exclude]
    names = [n for n, _ in kinds]
    trained = ((manifest or {}).get("read_options") or {}).get("path_field")
    if trained and trained in names:
        return trained
    named = video_columns(LayerFacts("vector", fields=kinds, field_values=path_field_values(source, kinds)))
    if named:
        return named[0]
    strings = [n for n, k in kinds if k == "string"]
    idx = [source.fields().indexOf(n) for n in strings]
    hits = [0] * len(strings)
    for k, f in enumerate(source.getFeatures()):
        if k >= 50:
            break
        a = f.attributes()
        for j, i in enumerate(idx):
            hits[j] += is_video_path(a[i])
    if not strings or max(hits) == 0:
        raise layers.LayerError(tr("The layer has no field of video clip paths (.mp4, .avi, .mkv, .mov, .webm)."))
    return strings[max(range(len(strings)), key=hits.__getitem__)]


def label_field(source, exclude: str | None = None) -> str | None:
    """A string field named like a label (label, class, action, ...), for "Train a bundle"."""
    names = {f.name().lower(): f.name() for f in source.fields() if f.name() != exclude}
    return next((names[n] for n in LABEL_NAMES if n in names), None)


def _project_layer(source):
    """The project's vector layer a Processing feature source was made from (same name and fields), or None."""
    from qgis.core import QgsProject

    name = layers.source_name(source)
    fields = [f.name() for f in source.fields()]
    for lyr in QgsProject.instance().mapLayersByName(name):
        if hasattr(lyr, "fields") and [f.name() for f in lyr.fields()] == fields:
            return lyr
    return None


def base_folder(layer, source=None) -> str:
    """The folder relative clip paths are resolved against: the layer's file's folder, else the project's."""
    from qgis.core import QgsProject, QgsProviderRegistry

    lyr = layer if layer is not None else _project_layer(source) if source is not None else None
    if lyr is not None and hasattr(lyr, "providerType"):
        try:
            path = QgsProviderRegistry.instance().decodeUri(lyr.providerType(), lyr.source()).get("path") or ""
        except Exception:  # noqa: BLE001 - providers without decodeUri
            path = ""
        if path.startswith("file://"):
            path = path[7:]
        if path and os.path.exists(path):
            return os.path.dirname(os.path.abspath(path))
    return QgsProject.instance().homePath() or os.getcwd()


def clip_path(value, folder: str) -> str:
    text = str(value).strip()
    if text.lower().startswith("file://"):
        text = text[7:]
    text = os.path.expanduser(text)
    return os.path.normpath(text if os.path.isabs(text) else os.path.join(folder, text))


def clips(source, field: str, folder: str, feature_ids=None, extra: str | None = None) -> list[tuple]:
    """[(fid, absolute path[, the `extra` field's value])] of the (selected) features; a feature without a
    clip, or whose clip file is missing, is an error naming the feature, the field and the file."""
    i = source.fields().indexOf(field)
    j = source.fields().indexOf(extra) if extra else -1
    name = layers.source_name(source)
    out = []
    for f in layers._features(source, feature_ids):
        a = f.attributes()
        value = a[i]
        if layers.is_null(value) or not str(value).strip():
            raise layers.LayerError(tr("Feature {fid} of '{layer}' has no video clip in the field '{field}'.").format(
                fid=f.id(), layer=name, field=field))
        path = clip_path(value, folder)
        if not os.path.isfile(path):
            raise layers.LayerError(tr("Feature {fid} of '{layer}': the video clip '{value}' (field '{field}') is "
                                       "not there: {path}").format(fid=f.id(), layer=name, value=str(value).strip(),
                                                                   field=field, path=path))
        out.append((int(f.id()), path) + ((a[j],) if j >= 0 else ()))
    if not out:
        raise layers.LayerError(tr("The layer '{name}' has no features to send.").format(name=name))
    return out


def clips_payloads(layer, source, manifest: dict, feature_ids=None) -> list[tuple[dict, dict]]:
    """[(arrays, meta)] payloads of the (selected) features' clips, BATCH_CLIPS each: meta `videos`, `fids`,
    `layer`, `field`."""
    field = video_field(source, manifest)
    found = clips(source, field, base_folder(layer, source), feature_ids)
    name = layers.source_name(source)
    return [({}, {"videos": [p for _, p in part], "fids": [fid for fid, _ in part], "layer": name, "field": field})
            for part in (found[k:k + BATCH_CLIPS] for k in range(0, len(found), BATCH_CLIPS))]


class VideoFamily(FeatureFieldFamily):
    name = "video"
    modalities = ("video",)
    item_key = "videos"

    def fit_problem(self, manifest, facts):
        if facts.kind != "vector" or not any(k == "string" for _, k in facts.fields):
            return tr("Bundle '{name}' needs a layer or table with a field of video clip paths.").format(
                name=manifest.get("name", "?"))
        return None

    def input_field(self, layer, source, manifest=None, exclude=None):
        return video_field(source, manifest, exclude)

    def payloads(self, layer, source, manifest, feature_ids=None):
        return clips_payloads(layer, source, manifest, feature_ids)

    def training_needs(self):
        return tr("A video bundle trains on a layer or table with a field of video clip paths and a label field.")

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        from .. import training

        source = inputs.source or layer
        field = video_field(source, exclude=inputs.target_field)
        rows = clips(source, field, base_folder(layer, source), extra=inputs.target_field)
        path = os.path.join(inputs.work, "clips.csv")
        with open(path, "w", newline="", encoding="utf-8") as fh:  # absolute paths: the CSV is elsewhere
            w = csv.writer(fh)
            w.writerow([field, inputs.target_field])
            for fid, clip, label in rows:
                if layers.is_null(label) or not str(label).strip():
                    raise layers.LayerError(tr("Feature {fid} of '{layer}' has no label in the field '{field}'.").format(
                        fid=fid, layer=layers.source_name(source), field=inputs.target_field))
                w.writerow([clip, str(label).strip()])
        inputs.info(tr("{n} clips from the field '{field}'.").format(n=len(rows), field=field))
        return training.config(modality, path, out_dir, name, epochs, task="classification",
                               read_options={"path_field": field, "label_field": inputs.target_field})

    def training_parameters(self, layer):
        try:
            field = video_field(layer)
        except layers.LayerError:
            return {}
        label = label_field(layer, exclude=field)
        return {"TARGET_FIELD": label} if label else {}


FAMILY = VideoFamily()
