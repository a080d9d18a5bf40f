"""Shared by the two raster algorithms: parameters, the fit check, writing the styled class raster."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
)

from ..i18n import N_, tr
from . import base


class RasterAlgorithm(base.AllSparkAlgorithm):
    INPUT, EXTENT, OUTPUT, CLASSES = "INPUT", "EXTENT", "OUTPUT", "CLASSES"
    GROUP, GROUP_ID = N_("Raster"), "raster"

    def add_raster_parameters(self):
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Input raster")))
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Extent (default: the whole raster)"), optional=True))

    def add_raster_output(self):
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Classified raster")))
        self.addOutput(QgsProcessingOutputString(self.CLASSES, tr("Class names")))

    def check_layer_parameters(self, parameters, context):
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        name = self.parameterAsEnumString(parameters, self.BUNDLE, context)
        if layer is None or not name:
            return True, ""
        from .. import connection, modality

        manifest = connection.bundle(name)
        if manifest is None:
            return False, tr("The backend has no bundle named '{name}'.").format(name=name)
        problem = modality.fit_problem(manifest, modality.facts_from_layer(layer))
        return (False, problem) if problem else (True, "")

    def window(self, parameters, context, layer):
        from .. import layers

        grid = layers.raster_grid(layer)
        extent = None
        if parameters.get(self.EXTENT) not in (None, ""):
            extent = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
        window = layers.window_for_extent(grid, extent)
        if window is None:
            raise QgsProcessingException(tr("The extent does not overlap the raster layer '{name}'.").format(name=layer.name()))
        return window

    def write_output(self, parameters, context, layer, labels, transform, classes):
        from .. import layers, results

        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        results.write_class_raster(out, labels, transform, layers.crs_wkt(layer.crs()), classes)
        styled = QgsRasterLayer(out, "classes", "gdal")
        if styled.isValid():
            results.style_class_raster(styled, classes)  # saves <output>.qml beside the GeoTIFF
        del styled

        def apply(lyr, classes=tuple(classes)):
            results.style_class_raster(lyr, list(classes), save_default=False)

        if context.willLoadLayerOnCompletion(out):
            context.layerToLoadOnCompletionDetails(out).setPostProcessor(base.StylePostProcessor.create(apply))
        return {self.OUTPUT: out, self.CLASSES: ", ".join(map(str, classes))}
