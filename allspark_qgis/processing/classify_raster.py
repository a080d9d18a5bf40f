"""allspark:classify_raster - scene classification of a raster, tile by tile (RGB, multispectral, SAR
bundles): one class per tile, written as a paletted GeoTIFF on the tile grid."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterNumber

from ..i18n import N_, tr
from ._raster import RasterAlgorithm


class ClassifyRasterAlgorithm(RasterAlgorithm):
    TILE = "TILE"
    MODALITIES = ("rgb", "msi", "sar")
    TASKS = ("classification",)

    def offers(self, manifest):
        from ..families.raster import per_pixel

        return not per_pixel(manifest)  # scene bundles: one class per tile

    NAME, DISPLAY_NAME = "classify_raster", N_("Classify raster (tiled)")
    HELP = N_(
        "Cuts the raster into tiles of the bundle's input size (or the given size), asks the bundle for "
        "the class of each tile, and writes a classified raster on the tile grid with the class names in "
        "its legend. Tiles that are all nodata stay nodata."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_parameters()
        p = QgsProcessingParameterNumber(self.TILE, tr("Tile size in pixels (0: the size of the bundle's training images)"),
                                         QgsProcessingParameterNumber.Integer, 0, optional=True, minValue=0)
        self.addParameter(p)
        self.add_raster_output()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import runner

        layer, manifest, window, region = self.inputs(parameters, context)
        cluster = self.cluster(parameters, context)
        if cluster is not None:  # on Ray: the backend's windows, a label GeoTIFF on the input's grid
            return self.run_on_cluster(parameters, context, feedback, layer, manifest, window, region, cluster)
        tile = runner.tile_size(manifest, self.parameterAsInt(parameters, self.TILE, context) or None, window=window)
        feedback.pushInfo(tr("Bundle {name}: tiles of {tile} px over a window of {w} x {h} px.").format(
            name=manifest["name"], tile=tile, w=window[2], h=window[3]))
        out = self.call_backend(lambda client: runner.classify_tiles(
            client, manifest, layer, window, tile, self.feedback(feedback, 0, 95), region=region))
        return self.finish(parameters, context, feedback, layer, out)
