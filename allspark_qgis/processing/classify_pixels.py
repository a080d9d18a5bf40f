"""allspark:classify_pixels - per-pixel classification of a raster: every pixel gets a class (a
hyperspectral pixel from its spectrum and neighbourhood, any raster modality's dense bundle tile by tile,
one LLM pass per tile); written block by block as a paletted Cloud Optimized GeoTIFF on the input's grid."""

from __future__ import annotations

from ..i18n import N_, tr
from ._raster import RasterAlgorithm


class ClassifyPixelsAlgorithm(RasterAlgorithm):
    MODALITIES = ("rgb", "msi", "hsi", "sar")
    TASKS = ()

    NAME, DISPLAY_NAME = "classify_pixels", N_("Classify pixels (per-pixel bundles)")
    HELP = N_(
        "Sends the raster block by block; the bundle classifies every valid pixel (hyperspectral bundles from "
        "its spectrum, dense bundles of any raster tile by tile). The output has the input's grid, nodata "
        "where the input is nodata, and the class names in its legend."
    )

    def offers(self, manifest):
        from ..families.raster import per_pixel

        return per_pixel(manifest)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_parameters()
        self.add_raster_output()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import layers, results, runner

        layer, manifest, window, region = self.inputs(parameters, context)
        cluster = self.cluster(parameters, context)
        if cluster is not None:  # on Ray: the backend writes the label GeoTIFF block by block itself
            return self.run_on_cluster(parameters, context, feedback, layer, manifest, window, region, cluster)
        feedback.pushInfo(tr("Bundle {name}: {w} x {h} pixels.").format(name=manifest["name"], w=window[2], h=window[3]))
        path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        grid = layers.raster_grid(layer)
        # written block by block as the answers come (memory: one block), a COG once complete
        sink = results.ClassRasterWriter(path, window[2], window[3], grid.transform(window), layers.crs_wkt(layer.crs()),
                                         manifest.get("classes") or [])
        try:
            out = self.call_backend(lambda client: runner.classify_pixels(
                client, manifest, layer, window, self.feedback(feedback, 0, 95), region=region, sink=sink))
        except BaseException:
            sink.abort()
            raise
        if out is None or feedback.isCanceled():
            sink.abort()
            return {}
        feedback.setProgress(97)
        sink.close()
        return self.styled_output(context, path, out[-1])
