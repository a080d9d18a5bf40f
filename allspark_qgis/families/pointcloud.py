"""Point clouds (LAS / LAZ / COPC files): the backend reads the file itself; a run classifies every
point and adds them as a styled point layer; a question is about the whole file."""

from __future__ import annotations

from .. import layers, results, runner
from ..i18n import tr
from ..modality import POINTCLOUD_SUFFIXES as SUFFIXES
from ..modality import pointcloud_source
from .base import Family, Run


class PointCloudFamily(Family):
    name = "pointcloud"
    modalities = ("pointcloud",)
    layer_kind = "pointcloud"

    def fit_problem(self, manifest, facts):
        name = manifest.get("name", "?")
        if facts.kind != "pointcloud":
            return tr("Bundle '{name}' needs a point-cloud layer.").format(name=name)
        if not facts.source.lower().endswith(SUFFIXES):
            return tr("Bundle '{name}' reads LAS, LAZ or COPC files; this layer's source ({source}) is not one of "
                      "them.").format(name=name, source=facts.source)
        return None

    def question(self, layer, modality, manifest, sel):
        payload = layers.pointcloud_payload(layer)
        return lambda: payload

    def prepare(self, layer, modality, manifest, sel, out_dir):
        arrays, meta = layers.pointcloud_payload(layer)
        return Run(predict=lambda client, fb: runner.classify_pointcloud(client, manifest, meta["path"], fb,
                                                                         meta.get("crs")),
                   question=lambda: (arrays, meta))

    def add_layers(self, result, layer, manifest):
        classes = list(result.get("classes") or manifest.get("classes") or [])
        _, labels, xyz = results.point_results(result)
        if xyz is None:
            raise ValueError(tr("the backend sent no point coordinates"))
        name = tr("{layer} - classes").format(layer=layer.name())
        return [results.points_layer(xyz, labels, classes, layer.crs(), name)]

    def training_problem(self, layer, modality, inputs):
        if not self.is_own_kind(layer):
            return tr("A point-cloud bundle trains on a point-cloud layer.")
        if not pointcloud_source(layer).lower().endswith(SUFFIXES):
            return tr("The point cloud must be a LAS, LAZ or COPC file.")
        return None

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        from .. import training

        return training.config(modality, pointcloud_source(layer), out_dir, name, epochs,
                               task="point_classification")


FAMILY = PointCloudFamily()
