"""Sensor networks (a table of readings over time, one column per sensor: traffic speeds of loop
detectors): a run forecasts every sensor's next hour from its last one and adds a table of the
forecasts, a field per step ahead; a question is about the same forecast."""

from __future__ import annotations

import os

import numpy as np

from .. import layers, runner
from ..i18n import tr
from .base import Family, Run, result_name

ASK_STEPS = 24  # rows sent: the last observed hour the bundle reads (12 steps) and some slack


def sensor_ids(manifest: dict) -> list[str]:
    return [str(s) for s in ((manifest.get("input") or {}).get("sensor_ids") or [])]


def readings_payload(source, manifest: dict, rows: int | None = ASK_STEPS) -> tuple[dict, dict]:
    """The last `rows` rows of the bundle's sensors: arrays `readings` (T, K) float32, NaN = empty; meta
    `sensor_ids`, and `times` (ISO) from the layer's time field. A table without a time field (METR-LA's
    speeds file) is sent whole: its rows are the bundle's step apart from the backend's default start,
    as when the backend reads the file itself, so the last rows keep their time of day."""
    from .. import modality

    ids = sensor_ids(manifest)
    names = [f.name() for f in source.fields()]
    idx = [names.index(s) for s in ids]
    time_field = modality.find_time_field(modality.field_kinds(source)) if hasattr(source, "fields") else None
    t_idx = names.index(time_field) if time_field else None
    values, times = [], []
    for f in source.getFeatures():
        a = f.attributes()
        values.append([np.nan if layers.is_null(a[i]) else _number(a[i]) for i in idx])
        if t_idx is not None:
            times.append(_iso(a[t_idx]))
    if not values:
        raise layers.LayerError(tr("The layer has no rows of readings."))
    if rows is not None and times:
        values, times = values[-rows:], times[-rows:]
    meta = {"sensor_ids": ids, "layer": source.name() if hasattr(source, "name") else "layer", "mode": "last",
            "step_minutes": (manifest.get("input") or {}).get("step_minutes")}
    if times:
        meta["times"] = times
    return {"readings": np.asarray(values, np.float32)}, meta


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _iso(v) -> str:
    if hasattr(v, "toString") and not isinstance(v, str):
        return v.toString("yyyy-MM-ddTHH:mm:ss") if hasattr(v, "toMSecsSinceEpoch") else v.toString()
    return str(v)


class GraphFamily(Family):
    name = "graph"
    modalities = ("graph",)
    layer_kind = "vector"

    def fit_problem(self, manifest, facts):
        name = manifest.get("name", "?")
        if facts.kind != "vector":
            return tr("Bundle '{name}' needs a table of sensor readings.").format(name=name)
        have = {n for n, _ in facts.fields}
        missing = [s for s in sensor_ids(manifest) if s not in have]
        if missing:
            return tr("Bundle '{name}' reads {count} sensors; this table lacks {missing} of them (e.g. {first}).").format(
                name=name, count=len(sensor_ids(manifest)), missing=len(missing), first=", ".join(missing[:3]))
        return None

    def question(self, layer, modality, manifest, sel):
        payload = readings_payload(sel.source or layer, manifest)  # read now, on the calling thread
        return lambda: payload

    def prepare(self, layer, modality, manifest, sel, out_dir):
        arrays, meta = readings_payload(sel.source or layer, manifest)

        def predict(client, fb):
            return runner.batch(client, manifest["name"], [(arrays, meta)], fb)

        return Run(predict=predict, question=lambda: (arrays, meta), total=None)

    def add_layers(self, result, layer, manifest):
        from ..results import forecast_table

        return [forecast_table(result, result_name(layer, manifest))]

    def training_problem(self, layer, modality, inputs):
        if not self.is_own_kind(layer):
            return tr("A sensor-network bundle trains on a table of readings (a column per sensor).")
        return None

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        from .. import training

        source = inputs.source or layer
        first = source.fields()[0].name() if source.fields().count() else ""
        path = training.write_table_csv(source, os.path.join(inputs.work, "readings.csv"), first)
        return training.config(modality, path, out_dir, name, epochs, task="forecast")


FAMILY = GraphFamily()
