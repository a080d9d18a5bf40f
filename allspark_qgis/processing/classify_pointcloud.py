"""allspark:classify_pointcloud - per-point classes (e.g. ground / other) of a LAS / LAZ / COPC point
cloud. The result is a point layer (x, y, z, class, class_name) of the points the backend classified;
a classified copy of the point cloud itself (`OUTPUT_LAS`: .las, .laz or .copc.laz) is written by the
backend (laspy + lazrs): every point of the file, each with the ASPRS code of its class (ground 2, ...).

QGIS builds without PDAL (Debian's QGIS 3.40) open only COPC point clouds: the input takes a point-cloud
layer or the path of a LAS / LAZ file, which the backend first converts to COPC (`COPC`: where to keep
that copy, loaded as a layer; a temporary file when not given). The backend classifies the original
file, so the classified copy follows its point order and keeps its header."""

from __future__ import annotations

import os

import numpy as np
from qgis.core import (
    Qgis,
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterPointCloudDestination,
    QgsProcessingParameterPointCloudLayer,
    QgsProcessingUtils,
)

from ..i18n import N_, number, tr
from . import base


class PointCloudOrLasParameter(QgsProcessingParameterPointCloudLayer):
    """A point-cloud layer, or the path of a LAS / LAZ file this QGIS cannot open as a layer (no PDAL
    provider): such a path is accepted here and converted to COPC when the algorithm runs."""

    def checkValueIsAcceptable(self, value, context=None):  # noqa: N802
        from .. import layers

        if isinstance(value, str) and layers.is_las_file(value):
            return True
        return super().checkValueIsAcceptable(value, context)

    def createFileFilter(self):  # noqa: N802
        return tr("LAS / LAZ / COPC files (*.las *.laz *.LAS *.LAZ *.copc.laz)") + ";;" + super().createFileFilter()

    def clone(self):
        p = PointCloudOrLasParameter(self.name(), self.description(), self.defaultValue(),
                                     bool(self.flags() & QgsProcessingParameterDefinition.FlagOptional))
        p.setHelp(self.help())
        return p


class ClassifyPointCloudAlgorithm(base.AllSparkAlgorithm):
    INPUT, OUTPUT, OUTPUT_LAS, COPC = "INPUT", "OUTPUT", "OUTPUT_LAS", "COPC"
    MODALITIES = ("pointcloud",)
    TASKS = ("point_classification",)
    GROUP, GROUP_ID = N_("Point cloud"), "pointcloud"

    NAME, DISPLAY_NAME = "classify_pointcloud", N_("Classify point cloud")
    HELP = N_(
        "The backend reads the layer's LAS / LAZ / COPC file and classifies every point it keeps per tile. "
        "The output is a 3D point layer with the class of each point (styled by class). The backend can also write a "
        "classified copy of the point cloud (.las, .laz or .copc.laz): every point of the file with the ASPRS code "
        "of its class (ground 2, building 6, ...; a point not kept in its tile takes the class of the nearest kept "
        "point), its other attributes, the header and the CRS as they were. A LAS / LAZ file that this QGIS "
        "cannot open (no PDAL) can be given by its path: the backend converts it to COPC first (kept where the "
        "COPC copy parameter says, and loaded as a point cloud layer)."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        p = PointCloudOrLasParameter(self.INPUT, tr("Point cloud (a layer, or a LAS / LAZ file)"))
        p.setHelp(tr("A point cloud layer, or the path of a LAS / LAZ file; this QGIS opens only COPC point clouds "
                     "(it has no PDAL provider), so a LAS / LAZ file is converted to COPC by the backend first."))
        self.addParameter(p)
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Classified points"),
                                                            QgsProcessing.TypeVectorPoint))
        p = QgsProcessingParameterFileDestination(
            self.OUTPUT_LAS, tr("Classified point cloud (LAS / LAZ copy of the input)"),
            tr("LAZ files (*.laz);;LAS files (*.las);;COPC files (*.copc.laz)"), optional=True, createByDefault=False)
        p.setHelp(tr("A copy of the input point cloud, written by the backend, with the class of every point: .laz "
                     "(compressed), .las, or .copc.laz (a COPC file this QGIS opens). Never the input itself."))
        self.addParameter(p)
        self.addParameter(QgsProcessingParameterPointCloudDestination(
            self.COPC, tr("COPC copy of a LAS / LAZ input (viewable in this QGIS)"), optional=True,
            createByDefault=False))

    def check_layer_parameters(self, parameters, context):
        layer = self.parameterAsPointCloudLayer(parameters, self.INPUT, context)  # None for a LAS / LAZ path
        return self.check_bundle_fit(parameters, context, layer)

    def input_layer(self, parameters, context, feedback):
        """(point-cloud layer, the file the backend classifies, {COPC: path} when a copy was kept);
        a LAS / LAZ path is converted to COPC by the backend first (None: cancelled)."""
        from .. import layers, runner

        layer = self.parameterAsPointCloudLayer(parameters, self.INPUT, context)
        if layer is not None:
            return layer, None, {}
        path = self.parameterAsString(parameters, self.INPUT, context)
        if not layers.is_las_file(path):
            raise QgsProcessingException(tr("The input layer is missing or invalid."))
        keep = self.parameterAsOutputLayer(parameters, self.COPC, context)
        copc = layers.copc_name(keep) if keep else QgsProcessingUtils.generateTempFilename(
            layers.copc_name(os.path.basename(path)), context)
        os.makedirs(os.path.dirname(os.path.abspath(copc)), exist_ok=True)
        feedback.pushInfo(tr("This QGIS cannot open LAS / LAZ files (it has no PDAL provider); the backend converts "
                             "{path} to COPC first: {copc}").format(path=path, copc=copc))
        summary = self.call_backend(
            lambda client: runner.convert_to_copc(client, path, copc, self.feedback(feedback, 0, 15)))
        if summary is None or feedback.isCanceled():
            return None, None, {}
        layer = layers.copc_layer(copc, os.path.basename(path))
        if not layer.isValid():
            raise QgsProcessingException(tr("The COPC copy {copc} of {path} does not open in QGIS: {error}").format(
                copc=copc, path=path, error=layer.error().summary()))
        context.temporaryLayerStore().addMapLayer(layer)  # alive for the run
        kept = {}
        if keep:
            kept[self.COPC] = copc
            base.load_on_completion_as(context, keep, copc)
        return layer, path, kept

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import layers, results, runner

        manifest = self.bundle(parameters, context)
        layer, source, out = self.input_layer(parameters, context, feedback)
        if layer is None:
            return {}
        self.check_fit(manifest, layer)
        _, meta = self.run_guarded(lambda: layers.pointcloud_payload(layer))
        path = source or meta["path"]  # a converted LAS / LAZ: the backend reads the original file
        feedback.pushInfo(tr("The backend reads {path}.").format(path=path))
        las_out = self.parameterAsFileOutput(parameters, self.OUTPUT_LAS, context) or None
        if las_out:
            las_out = os.path.abspath(las_out)
            os.makedirs(os.path.dirname(las_out), exist_ok=True)
            feedback.pushInfo(tr("The backend writes the classified point cloud to {path}.").format(path=las_out))
        res = self.call_backend(lambda client: runner.classify_pointcloud(
            client, manifest, path, self.feedback(feedback, 15 if source else 0, 85), meta.get("crs"), las_out))
        if res is None or feedback.isCanceled():
            return {}
        classes = list(res.get("classes") or manifest.get("classes") or [])
        _, labels, xyz = self.run_guarded(lambda: results.point_results(res))
        if las_out:
            if res.get("output_las") != las_out:
                raise QgsProcessingException(tr("The backend did not write the classified point cloud {path}; update "
                                                "the backend.").format(path=las_out))
            out[self.OUTPUT_LAS] = las_out
            written = (res.get("output_las_summary") or [{}])[0]
            if written.get("points") is not None:
                feedback.pushInfo(tr("Classified point cloud written: {path} ({classified} of {points} points "
                                     "classified).").format(path=las_out, classified=number(written["classified"]),
                                                            points=number(written["points"])))
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
