"""Shared by the two raster algorithms: parameters, the fit check, writing the styled class raster."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterString,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterRasterDestination,
    QgsProcessing,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
    QgsRasterLayer,
)

from ..i18n import N_, tr
from . import base


class RasterAlgorithm(base.AllSparkAlgorithm):
    INPUT, EXTENT, OUTPUT, CLASSES, REGION, CLUSTER = "INPUT", "EXTENT", "OUTPUT", "CLASSES", "REGION", "CLUSTER"
    GROUP, GROUP_ID = N_("Raster"), "raster"

    def add_raster_parameters(self):
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Input raster")))
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Extent (default: the whole raster)"), optional=True))
        add_region_parameter(self)
        add_cluster_parameter(self)

    def add_raster_output(self):
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Classified raster")))
        self.addOutput(QgsProcessingOutputString(self.CLASSES, tr("Class names")))

    def check_layer_parameters(self, parameters, context):
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        return self.check_bundle_fit(parameters, context, layer,
                                     then=lambda lyr: check_region(self, parameters, context, lyr))

    def inputs(self, parameters, context):
        """(layer, bundle manifest, native window, region or None) of a run, the layer checked against the
        bundle; with a region, the window holds its polygons."""
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        manifest = self.bundle(parameters, context)
        self.check_fit(manifest, layer)
        window = self.window(parameters, context, layer)
        region = region_of(self, parameters, context, layer)
        if region is not None:
            from .. import layers

            window = self.run_guarded(lambda: layers.region_window(layer, region, window))
        return layer, manifest, window, region

    def finish(self, parameters, context, feedback, layer, out):
        """Write the backend's (labels, ..., transform, classes) as the styled output; {} when cancelled."""
        if out is None or feedback.isCanceled():
            return {}
        labels, transform, classes = out[0], out[-2], out[-1]
        feedback.setProgress(97)
        return self.write_output(parameters, context, layer, labels, transform, classes)

    def cluster(self, parameters, context) -> str | None:
        """The CLUSTER parameter: None to run in the backend (the default), else "local" (a local Ray on
        the backend's machine) or a Ray cluster's address."""
        text = (self.parameterAsString(parameters, self.CLUSTER, context) or "").strip()
        return text or None

    def run_on_cluster(self, parameters, context, feedback, layer, manifest, window, region, cluster: str):
        """The raster's native `window` (the extent; the whole raster without one) on Ray
        (runner.cluster_batch): the backend reads the file itself, windows become Ray tasks, each read with
        the `region`'s polygons when given (pixels outside them nodata, windows they miss not run); the
        label GeoTIFF (the input's grid over the window, as classify_pixels writes it) is written at
        OUTPUT, then styled."""
        from .. import runner

        if not runner.is_file_raster(layer):
            raise QgsProcessingException(tr("Running on Ray needs a raster file the backend can read; the layer "
                                            "'{name}' is not a local file.").format(name=layer.name()))
        area = None if list(window) == [0, 0, layer.width(), layer.height()] else [int(v) for v in window]
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        where = tr("a local Ray") if cluster.lower() == runner.LOCAL_RAY else cluster
        feedback.pushInfo(tr("Running bundle {name} on Ray ({where}).").format(name=manifest["name"], where=where))
        res = self.call_backend(lambda client: runner.cluster_batch(
            client, manifest["name"], [layer.source()], out, self.feedback(feedback, 0, 95), address=cluster,
            area=area, region=region))
        if res is None or feedback.isCanceled():
            return {}
        feedback.pushInfo(tr("Ray: {workers} workers, {tasks} windows, {seconds} s.").format(
            workers=res.get("workers"), tasks=res.get("tasks"), seconds=f"{float(res.get('seconds') or 0):.1f}"))
        feedback.setProgress(97)
        return self.styled_output(context, res.get("output") or out, res.get("classes") or manifest.get("classes") or [])

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
        return self.styled_output(context, out, classes)

    def styled_output(self, context, out: str, classes):
        """The written class raster `out` styled (legend with the class names), now and when loaded."""
        from .. import results

        styled = QgsRasterLayer(out, "classes", "gdal")
        if styled.isValid():
            results.style_class_raster(styled, classes)  # saves <output>.qml beside the GeoTIFF
        del styled

        def apply(lyr, classes=tuple(classes)):
            results.style_class_raster(lyr, list(classes), save_default=False)

        if context.willLoadLayerOnCompletion(out):
            context.layerToLoadOnCompletionDetails(out).setPostProcessor(base.StylePostProcessor.create(apply))
        return {self.OUTPUT: out, self.CLASSES: ", ".join(map(str, classes))}


def add_region_parameter(alg) -> None:
    """REGION: limit the run to the selected features of a polygon layer (a field boundary, a parcel)."""
    p = QgsProcessingParameterVectorLayer(
        alg.REGION, tr("Limit to the selected features of this polygon layer"), [QgsProcessing.TypeVectorPolygon],
        optional=True)
    p.setHelp(tr("Only the pixels inside the selected polygons of this layer are used, and the areas in the "
                 "answer are theirs."))
    alg.addParameter(p)


def add_cluster_parameter(alg) -> None:
    """CLUSTER (advanced): run the raster (its extent, its region) on Ray instead of in the backend."""
    p = QgsProcessingParameterString(
        alg.CLUSTER, tr("Run on a Ray cluster: empty = in the backend (default), local = a local Ray, or a "
                        "cluster address"), optional=True)
    p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    p.setHelp(tr("local starts Ray on the backend's machine; an address (host:port) joins a running Ray cluster "
                 "whose nodes see the raster and the bundle at the same paths. Each Ray worker holds one model "
                 "and classifies many windows; the output is a label GeoTIFF on the input's grid."))
    alg.addParameter(p)


def check_region(alg, parameters, context, raster_layer):
    """(ok, message) for check_layer_parameters: the REGION's selection, its polygons and their overlap
    with the raster, before the run starts."""
    try:
        region = region_of(alg, parameters, context, raster_layer)
        if region is not None:
            from .. import layers

            alg.run_guarded(lambda: layers.region_window(raster_layer, region))
    except QgsProcessingException as exc:
        return False, str(exc)
    return True, ""


def region_of(alg, parameters, context, raster_layer):
    """The REGION parameter as layers.Region (its selected polygons in the raster's CRS), or None."""
    if parameters.get(alg.REGION) in (None, ""):
        return None
    from .. import layers

    polygons = alg.parameterAsVectorLayer(parameters, alg.REGION, context)
    if polygons is None:
        raise QgsProcessingException(tr("The layer to limit the question to is missing or invalid."))
    return alg.run_guarded(lambda: layers.selected_region(polygons, raster_layer, context.transformContext()))
