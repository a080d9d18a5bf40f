"""allspark:classify_pixels - per-pixel classification of a hyperspectral raster: every pixel's
spectrum gets a class; written as a paletted GeoTIFF on the input's grid."""

from __future__ import annotations

from ..i18n import N_, tr
from ._raster import RasterAlgorithm


class ClassifyPixelsAlgorithm(RasterAlgorithm):
    MODALITIES = ("hsi",)
    TASKS = ()

    NAME, DISPLAY_NAME = "classify_pixels", N_("Classify pixels (hyperspectral)")
    HELP = N_(
        "Sends the raster block by block; the bundle classifies every valid pixel from its spectrum. "
        "The output has the input's grid, nodata where the input is nodata, and the class names in its legend."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_parameters()
        self.add_raster_output()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import runner

        layer, manifest, window, region = self.inputs(parameters, context)
        feedback.pushInfo(tr("Bundle {name}: {w} x {h} pixels.").format(name=manifest["name"], w=window[2], h=window[3]))
        out = self.call_backend(lambda client: runner.classify_pixels(
            client, manifest, layer, window, self.feedback(feedback, 0, 95), region=region))
        return self.finish(parameters, context, feedback, layer, out)
