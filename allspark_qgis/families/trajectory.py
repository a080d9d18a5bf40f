"""Trajectories (a point or line layer with a time field and a track id field): a run predicts the
candidate future paths of every (selected) track and draws them as a line layer; a question is about
the same tracks."""

from __future__ import annotations

import os

from .. import layers, results, runner
from ..i18n import tr
from .base import Family, Run


class TrajectoryFamily(Family):
    name = "trajectory"
    modalities = ("trajectory",)
    layer_kind = "vector"
    uses_track_fields = True

    def fit_problem(self, manifest, facts):
        if facts.kind != "vector" or facts.geometry not in ("point", "line"):
            return tr("Bundle '{name}' needs a point or line layer with a time field and an id field.").format(
                name=manifest.get("name", "?"))
        return None

    @staticmethod
    def fields(layer, time_field: str | None = None, id_field: str | None = None) -> tuple[str | None, str | None]:
        """(time field, track id field): the given ones, else detected from the field names and types."""
        from ..modality import field_kinds, find_id_field, find_time_field

        kinds = field_kinds(layer)
        time_field = time_field or find_time_field(kinds)
        return time_field, id_field or find_id_field(kinds, exclude=time_field)

    def payload(self, layer, time_field=None, id_field=None, feature_ids=None, time_units: str | None = "auto",
                frame_rate: float | None = None) -> tuple[dict, dict]:
        """The tracks of the (selected) features, the time and id fields detected unless given."""
        time_field, id_field = self.fields(layer, time_field, id_field)
        if not time_field or not id_field:
            raise layers.LayerError(
                tr("The layer '{name}' needs a time field and an id field to be read as trajectories.").format(
                    name=layers.source_name(layer)))
        return layers.trajectory_payload(layer, time_field, id_field, feature_ids, time_units=time_units,
                                         frame_rate=frame_rate)

    def question(self, layer, modality, manifest, sel):
        payload = self.payload(sel.source or layer, sel.time_field, sel.id_field, sel.feature_ids)
        return lambda: payload

    def prepare(self, layer, modality, manifest, sel, out_dir):
        arrays, meta = self.payload(sel.source or layer, sel.time_field, sel.id_field, sel.feature_ids)
        return Run(predict=lambda client, fb: runner.predict_trajectories(client, manifest, arrays, meta, fb),
                   question=lambda: (arrays, meta), total=len(meta.get("track_ids") or []) or None)

    def add_layers(self, result, layer, manifest):
        predictions, ids, last = result
        name = tr("{layer} - predicted paths").format(layer=layer.name())
        return [results.trajectory_layer(predictions, ids, layer.crs(), name, last)]

    def training_problem(self, layer, modality, inputs):
        if not self.is_own_kind(layer):
            return tr("A trajectory bundle trains on a point or line layer.")
        t, i = self.fields(layer, inputs.time_field or None, inputs.id_field or None)
        if not t or not i:
            return tr("The layer '{name}' needs a time field and a track id field.").format(name=layer.name())
        return None

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        from .. import training

        source = inputs.source or layer
        t, i = self.fields(source, inputs.time_field or None, inputs.id_field or None)
        units, rate = inputs.time_units
        path = training.write_tracks_csv(source, t, i, os.path.join(inputs.work, "tracks.csv"), units, rate)
        return training.config(modality, path, out_dir, name, epochs)


FAMILY = TrajectoryFamily()
