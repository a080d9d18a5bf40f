"""Tables (a vector layer's attributes, or a table without geometry): a run predicts every (selected)
row and adds a copy of the layer with the predictions as fields; a question is about the first
(selected) row."""

from __future__ import annotations

import os

from .. import layers, results, runner
from ..i18n import tr
from .base import Family, Run, result_name


class TableFamily(Family):
    name = "table"
    modalities = ("table",)
    layer_kind = "vector"

    def fit_problem(self, manifest, facts):
        name = manifest.get("name", "?")
        if facts.kind != "vector":
            return tr("Bundle '{name}' needs a vector layer or table.").format(name=name)
        spec = manifest.get("input") or {}
        needed = [str(c) for c in list(spec.get("numeric") or []) + list(spec.get("categorical") or [])]
        have = {n for n, _ in facts.fields}
        missing = [c for c in needed if c and c not in have]
        if missing:
            return tr("Bundle '{name}' needs the field(s) {fields}, which this layer lacks.").format(
                name=name, fields=", ".join(missing))
        return None

    def question(self, layer, modality, manifest, sel):
        """The first (selected) row, read now (vector features are read on the calling thread)."""
        source = sel.source or layer
        numeric, categorical = layers.bundle_table_columns(manifest)
        payload = layers.table_payload(source, layers.first_feature_ids(source, sel.feature_ids),
                                       numeric=numeric, categorical=categorical)
        return lambda: payload

    def prepare(self, layer, modality, manifest, sel, out_dir):
        numeric, categorical = layers.bundle_table_columns(manifest)
        arrays, meta = layers.table_payload(sel.source or layer, sel.feature_ids, numeric=numeric,
                                            categorical=categorical)
        kept = runner.Kept()  # a classification's written answer is about every row's class
        return Run(predict=kept.wrap(lambda client, fb: runner.predict_table(client, manifest, arrays, meta, fb)),
                   question=self.question(layer, modality, manifest, sel), total=len(meta.get("fids") or []) or None,
                   made=kept.run)

    def add_layers(self, result, layer, manifest):
        predictions, fids = result
        return [results.copy_with_predictions(layer, predictions, fids, result_name(layer, manifest))]

    def training_problem(self, layer, modality, inputs):
        if not self.is_own_kind(layer) or not inputs.target_field:
            return tr("A table bundle trains on a vector layer or table with a target field.")
        if layer.fields().indexOf(inputs.target_field) < 0:
            return tr("The layer has no field '{field}'.").format(field=inputs.target_field)
        return None

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        from .. import training

        source = inputs.source or layer
        path = training.write_table_csv(source, os.path.join(inputs.work, "table.csv"), inputs.target_field)
        task = "regression" if training.is_numeric_field(source, inputs.target_field) else "classification"
        return training.config(modality, path, out_dir, name, epochs, task=task,
                               read_options={"target": inputs.target_field})


FAMILY = TableFamily()
