"""allspark:classify_pixels - per-pixel classification of a hyperspectral raster: every pixel's
spectrum gets a class; written as a paletted GeoTIFF on the input's grid."""

from __future__ import annotations

from ..i18n import tr
from ._raster import RasterAlgorithm


class ClassifyPixelsAlgorithm(RasterAlgorithm):
    MODALITIES = ("hsi",)
    TASKS = ()

    def name(self):
        return "classify_pixels"

    def displayName(self):  # noqa: N802
        return tr("Classify pixels (hyperspectral)")

    def shortHelpString(self):  # noqa: N802
        return tr(
            "Sends the raster block by block; the bundle classifies every valid pixel from its spectrum. "
            "The output has the input's grid, nodata where the input is nodata, and the class names in its legend."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_parameters()
        self.add_raster_output()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import connection, runner

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        manifest = self.bundle(parameters, context)
        self.check_fit(manifest, layer)
        window = self.window(parameters, context, layer)
        feedback.pushInfo(tr("Bundle {name}: {w} x {h} pixels.").format(name=manifest["name"], w=window[2], h=window[3]))
        client = self.client()
        try:
            out = self.run_guarded(lambda: runner.classify_pixels(
                client, manifest, layer, window, self.feedback(feedback, 0, 95)))
        finally:
            connection._close(client)
        if out is None or feedback.isCanceled():
            return {}
        labels, transform, classes = out
        feedback.setProgress(97)
        return self.write_output(parameters, context, layer, labels, transform, classes)
