"""Sensor networks (a table of readings over time, one column per sensor: traffic speeds of loop
detectors): a run forecasts every sensor's next hour from its last one and adds a table of the
forecasts, a field per step ahead; when the project holds the sensors as a point layer (a field naming
them), also the points with those fields and a temporal layer of the next hour. A question is about the
same forecast."""

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


def write_locations_csv(points, id_field: str, ids, path: str) -> str:
    """sensor_id, latitude, longitude (WGS 84) of the sensors in `ids` that the point layer holds."""
    import csv

    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject

    from ..results import _id_text

    wanted = set(ids)
    to_wgs84 = QgsCoordinateTransform(points.crs(), QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance())
    i = points.fields().indexOf(id_field)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sensor_id", "latitude", "longitude"])
        for f in points.getFeatures():
            sid = _id_text(f.attributes()[i])
            if sid in wanted and not f.geometry().isEmpty():
                p = to_wgs84.transform(f.geometry().centroid().asPoint())
                w.writerow([sid, f"{p.y():.7f}", f"{p.x():.7f}"])
    return path


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
        """The forecast table; and, when the project holds a point layer of the sensors (a field naming
        them), the forecast on the map: the points with a field per step ahead, and a temporal layer that
        QGIS's temporal controller plays (a point per sensor and step, from the last reading's time)."""
        from qgis.core import QgsProject

        from .. import results

        name = result_name(layer, manifest)
        out = [results.forecast_table(result, name)]
        found = results.sensor_points_layer(result.get("sensor_ids") or [], QgsProject.instance().mapLayers().values())
        if found is not None:
            points, id_field = found
            out.append(results.forecast_points(result, points, id_field, tr("{name} on {points}").format(
                name=name, points=points.name())))
            times = [s.get("time") for s in (result.get("samples") or []) if s.get("time")]
            if times:
                out.append(results.forecast_timeline(result, points, id_field, times[-1], tr("{name}, timeline").format(
                    name=name)))
        return out

    def training_problem(self, layer, modality, inputs):
        if not self.is_own_kind(layer):
            return tr("A sensor-network bundle trains on a table of readings (a column per sensor).")
        return None

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        """The readings as a CSV in a folder; with the sensors' point layer in the project, their places
        beside it (latitude / longitude), from which the backend makes the road graph (distances)."""
        from qgis.core import QgsProject

        from .. import modality as detection
        from .. import results, training

        source = inputs.source or layer
        first = source.fields()[0].name() if source.fields().count() else ""
        folder = os.path.join(inputs.work, "network")
        os.makedirs(folder, exist_ok=True)
        training.write_table_csv(source, os.path.join(folder, "readings.csv"), first)
        ids = detection.sensor_columns(detection.field_kinds(source))
        found = results.sensor_points_layer(ids, QgsProject.instance().mapLayers().values()) if ids else None
        if found is not None:
            points, id_field = found
            write_locations_csv(points, id_field, ids, os.path.join(folder, "sensor_locations.csv"))
            inputs.info(tr("The sensors' places come from '{layer}': the road graph is made from the distances "
                           "between them.").format(layer=points.name()))
        return training.config(modality, folder, out_dir, name, epochs, task="forecast")


FAMILY = GraphFamily()
