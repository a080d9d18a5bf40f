"""allspark:convert_to_copc - a LAS / LAZ file rewritten as COPC (Cloud Optimized Point Cloud) by the
backend, loaded as a point-cloud layer: QGIS builds without PDAL (Debian's QGIS 3.40) open no plain
LAS / LAZ ("Invalid data provider pdal"), only COPC. Every point is kept, with its coordinates and
attributes, and the CRS (as WKT, where QGIS reads it)."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterPointCloudDestination,
)

from ..i18n import N_, number, tr
from . import base


class ConvertToCopcAlgorithm(base.AllSparkAlgorithm):
    INPUT, OUTPUT, POINTS = "INPUT", "OUTPUT", "POINTS"
    GROUP, GROUP_ID = N_("Point cloud"), "pointcloud"

    NAME, DISPLAY_NAME = "convert_to_copc", N_("Convert LAS/LAZ to COPC")
    HELP = N_(
        "This QGIS opens point clouds only as COPC (Cloud Optimized Point Cloud) files: without the PDAL provider, "
        "plain LAS and LAZ files do not open. The AllSpark backend rewrites a LAS / LAZ file as COPC (*.copc.laz): "
        "every point with its coordinates and attributes, and the file's CRS. The result is loaded as a point "
        "cloud layer."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            self.INPUT, tr("LAS / LAZ file"), QgsProcessingParameterFile.File, "", None, False,
            tr("LAS / LAZ files (*.las *.laz *.LAS *.LAZ)")))
        self.addParameter(QgsProcessingParameterPointCloudDestination(self.OUTPUT, tr("COPC file")))
        self.addOutput(QgsProcessingOutputNumber(self.POINTS, tr("Points")))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        src = parameters.get(self.INPUT)
        if isinstance(src, str) and src and not src.lower().endswith((".las", ".laz")):
            return False, tr("{path} is not a LAS / LAZ file (*.las, *.laz).").format(path=src)
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import layers, runner

        src = self.parameterAsFile(parameters, self.INPUT, context)
        if not src or not os.path.isfile(src):
            raise QgsProcessingException(tr("The LAS / LAZ file {path} does not exist.").format(path=src))
        asked = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        dst = layers.copc_name(asked)
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        feedback.pushInfo(tr("Converting {path} to COPC: {copc}").format(path=src, copc=dst))
        summary = self.call_backend(
            lambda client: runner.convert_to_copc(client, src, dst, self.feedback(feedback, 0, 95)))
        if summary is None or feedback.isCanceled():
            return {}
        layer = layers.copc_layer(dst)
        if not layer.isValid():
            raise QgsProcessingException(tr("The COPC file {copc} was written but does not open in QGIS: {error}")
                                         .format(copc=dst, error=layer.error().summary()))
        if layer.pointCount() != int(summary.get("points", -1)):
            raise QgsProcessingException(tr("The COPC file {copc} holds {n} points, not the {m} of {path}.").format(
                copc=dst, n=layer.pointCount(), m=summary.get("points"), path=src))
        feedback.pushInfo(tr("{points} points in {nodes} octree nodes, CRS: {crs}.").format(
            points=number(layer.pointCount()), nodes=summary.get("nodes"),
            crs=layer.crs().userFriendlyIdentifier() if layer.crs().isValid() else tr("none")))
        base.load_on_completion_as(context, asked, dst)
        return {self.OUTPUT: dst, self.POINTS: layer.pointCount()}
