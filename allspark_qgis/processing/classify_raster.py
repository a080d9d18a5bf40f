"""allspark:classify_raster - scene classification of a raster, tile by tile (RGB, multispectral, SAR
bundles): one class per tile, written as a paletted GeoTIFF on the tile grid."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterNumber

from ..i18n import tr
from ._raster import RasterAlgorithm


class ClassifyRasterAlgorithm(RasterAlgorithm):
    TILE = "TILE"
    MODALITIES = ("rgb", "msi", "sar")
    TASKS = ("classification",)

    def name(self):
        return "classify_raster"

    def displayName(self):  # noqa: N802
        return tr("Classify raster (tiled)")

    def shortHelpString(self):  # noqa: N802
        return tr(
            "Cuts the raster into tiles of the bundle's input size (or the given size), asks the bundle for "
            "the class of each tile, and writes a classified raster on the tile grid with the class names in "
            "its legend. Tiles that are all nodata stay nodata."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_parameters()
        p = QgsProcessingParameterNumber(self.TILE, tr("Tile size in pixels (0: the bundle's input size)"),
                                         QgsProcessingParameterNumber.Integer, 0, optional=True, minValue=0)
        self.addParameter(p)
        self.add_raster_output()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import connection, runner

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        manifest = self.bundle(parameters, context)
        self.check_fit(manifest, layer)
        window = self.window(parameters, context, layer)
        tile = runner.tile_size(manifest, self.parameterAsInt(parameters, self.TILE, context) or None)
        feedback.pushInfo(tr("Bundle {name}: tiles of {tile} px over a window of {w} x {h} px.").format(
            name=manifest["name"], tile=tile, w=window[2], h=window[3]))
        client = self.client()
        try:
            out = self.run_guarded(lambda: runner.classify_tiles(
                client, manifest, layer, window, tile, self.feedback(feedback, 0, 95)))
        finally:
            connection._close(client)
        if out is None or feedback.isCanceled():
            return {}
        labels, _, transform, classes = out
        feedback.setProgress(97)
        return self.write_output(parameters, context, layer, labels, transform, classes)
