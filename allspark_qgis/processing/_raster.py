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
        return self.check_bundle_fit(parameters, context, self.parameterAsRasterLayer(parameters, self.INPUT, context))

    def inputs(self, parameters, context):
        """(layer, bundle manifest, native window) of a run, the layer checked against the bundle."""
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        manifest = self.bundle(parameters, context)
        self.check_fit(manifest, layer)
        return layer, manifest, self.window(parameters, context, layer)

    def finish(self, parameters, context, feedback, layer, out):
        """Write the backend's (labels, ..., transform, classes) as the styled output; {} when cancelled."""
        if out is None or feedback.isCanceled():
            return {}
        labels, transform, classes = out[0], out[-2], out[-1]
        feedback.setProgress(97)
        return self.write_output(parameters, context, layer, labels, transform, classes)

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
