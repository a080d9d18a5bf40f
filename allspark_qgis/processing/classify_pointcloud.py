"""allspark:classify_pointcloud - per-point classes (e.g. ground / other) of a LAS / LAZ / COPC point
cloud. QGIS builds without PDAL cannot write point clouds, so the result is a point layer (x, y, z,
class, class_name); for an uncompressed LAS input a classified LAS copy can be written too."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    Qgis,
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterPointCloudLayer,
)

from ..i18n import N_, tr
from . import base


class ClassifyPointCloudAlgorithm(base.AllSparkAlgorithm):
    INPUT, OUTPUT, OUTPUT_LAS = "INPUT", "OUTPUT", "OUTPUT_LAS"
    MODALITIES = ("pointcloud",)
    TASKS = ("point_classification",)
    GROUP, GROUP_ID = N_("Point cloud"), "pointcloud"

    NAME, DISPLAY_NAME = "classify_pointcloud", N_("Classify point cloud")
    HELP = N_(
        "The backend reads the layer's LAS / LAZ / COPC file and classifies every point it keeps per tile. "
        "The output is a 3D point layer with the class of each point (styled by class); when the input is an "
        "uncompressed LAS file, a classified copy of it can also be written."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterPointCloudLayer(self.INPUT, tr("Point cloud")))
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Classified points"), QgsProcessing.TypeVectorPoint))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_LAS, tr("Classified LAS copy (uncompressed LAS input only)"), tr("LAS files (*.las)"),
            optional=True, createByDefault=False))

    def check_layer_parameters(self, parameters, context):
        return self.check_bundle_fit(parameters, context, self.parameterAsPointCloudLayer(parameters, self.INPUT, context))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import layers, results, runner

        layer = self.parameterAsPointCloudLayer(parameters, self.INPUT, context)
        manifest = self.bundle(parameters, context)
        self.check_fit(manifest, layer)
        _, meta = self.run_guarded(lambda: layers.pointcloud_payload(layer))
        path = meta["path"]
        feedback.pushInfo(tr("The backend reads {path}.").format(path=path))
        res = self.call_backend(lambda client: runner.classify_pointcloud(
            client, manifest, path, self.feedback(feedback, 0, 85), meta.get("crs")))
        if res is None or feedback.isCanceled():
            return {}
        classes = list(res.get("classes") or manifest.get("classes") or [])
        index, labels, xyz = results.point_results(res, path, layer)
        out = {}
        las_out = self.parameterAsFileOutput(parameters, self.OUTPUT_LAS, context)
        if las_out:
            try:
                results.write_classified_las(path, las_out, index, np.take(results.las_codes(classes), labels))
                out[self.OUTPUT_LAS] = las_out
            except ValueError as exc:
                feedback.reportError(str(exc), fatalError=False)
        if xyz is None:
            raise QgsProcessingException(tr(
                "The backend sent no point coordinates, and the plugin cannot read those of {path} itself "
                "(a compressed file of several octree nodes); update the backend.").format(path=path))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, results.point_fields(),
                                             Qgis.WkbType.PointZ, layer.crs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        sink.addFeatures(results.point_features(xyz, labels, classes), QgsFeatureSink.FastInsert)
        del sink
        counts = np.bincount(labels, minlength=len(classes)) if len(labels) else []
        feedback.pushInfo(", ".join(f"{c}: {int(n)}" for c, n in zip(classes, counts)))
        base.set_output_style(context, dest_id, lambda lyr, c=classes: results.style_points(lyr, c))
        out[self.OUTPUT] = dest_id
        return out

