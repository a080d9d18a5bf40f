"""allspark:depth_from_views - multi-view depth from overlapping oblique images with known cameras (an
oblique bundle): a folder of views (a WHU-OMVS area or split folder, an MVSNet-style scene folder, or a
folder of such scenes) in, the depth map of each reference view out, as a float32 GeoTIFF (nodata where
no source view sees the pixel), styled with a pseudocolour ramp.

The backend reads the folder itself (meta `path`, the bundle's reader options: views per sample, size /
scale) in a batch job (progress, cancel); each result carries the depth maps (NaN = nodata), their grids'
transforms (`depth_transform`, NaN when the reference image is not georeferenced) and CRS (`depth_crs`),
and each sample's reference view (`samples[i]["reference"]`). The plugin writes the rasters, as it writes
the class rasters of the other algorithms."""

from __future__ import annotations

import os
import re

import numpy as np
from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from .. import runner
from ..i18n import N_, tr
from . import base

NODATA = -9999.0
PIXEL_GRID = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]  # the reference image's pixel grid, north up


class DepthFromViewsAlgorithm(base.AllSparkAlgorithm):
    FOLDER, REFERENCES, OUTPUT, OUTPUTS = "FOLDER", "REFERENCES", "OUTPUT", "OUTPUTS"
    MODALITIES = ("oblique",)
    TASKS = ("depth",)
    GROUP, GROUP_ID = N_("Raster"), "raster"

    NAME, DISPLAY_NAME = "depth_from_views", N_("Depth from oblique images")
    HELP = N_(
        "Computes the depth of every pixel of a reference view from overlapping oblique aerial images with "
        "known cameras, with an oblique photography bundle. The folder is a WHU-OMVS area (info/viewpair.txt, "
        "images/, cams/) or a folder of areas, or an MVSNet-style scene (cams/0000000X_cam.txt, images/, "
        "optionally pair.txt) or a folder of scenes. Each reference view is read with its best source views "
        "as the bundle was trained (views per sample, image size). The depth map is written as a float32 "
        "GeoTIFF (georeferenced like the reference image when that is a GeoTIFF, else on its pixel grid, one "
        "unit per pixel); pixels no source view sees are nodata. With more than one reference view, the others "
        "are written beside the output, named after their views."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            self.FOLDER, tr("Folder of views and cameras (WHU-OMVS or MVSNet layout)"),
            behavior=QgsProcessingParameterFile.Folder))
        self.add_bundle_parameter()
        p = QgsProcessingParameterNumber(
            self.REFERENCES, tr("Reference views to compute (0: every view of the folder)"),
            QgsProcessingParameterNumber.Integer, 1, optional=True, minValue=0)
        p.setHelp(tr("How many reference views get a depth map: the first view of each scene in turn, then "
                     "each scene's second, ...; 0 computes one for every view."))
        self.addParameter(p)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Depth map")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUTS, tr("Depth maps (every reference view)")))

    def check_layer_parameters(self, parameters, context):
        folder = self.parameterAsFile(parameters, self.FOLDER, context)
        if not folder:
            return False, tr("Choose the folder of views and cameras.")
        if not os.path.isdir(folder):
            return False, tr("{path} is not a folder.").format(path=folder)
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = self.parameterAsFile(parameters, self.FOLDER, context)
        if not folder or not os.path.isdir(folder):
            raise QgsProcessingException(tr("Choose the folder of views and cameras."))
        manifest = self.bundle(parameters, context)
        count = self.parameterAsInt(parameters, self.REFERENCES, context)  # 1 unless given; 0: all
        dest = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        meta = {"path": folder, "max_samples": count or None}
        feedback.pushInfo(tr("Bundle {name}: {views} views per reference view.").format(
            name=manifest["name"], views=(manifest.get("input") or {}).get("views", "?")))
        result = self.call_backend(lambda client: runner.batch(
            client, manifest["name"], [({}, meta)], DepthFeedback(self.feedback(feedback, 0, 95))))
        if result is None or feedback.isCanceled():
            return {}
        maps = np.asarray(result.get("depth_map"), np.float32)
        if maps.ndim != 3 or not len(maps):
            raise QgsProcessingException(tr("The backend returned no depth map for {path}.").format(path=folder))
        samples = list(result.get("samples") or [])
        transforms = np.asarray(result.get("depth_transform", np.full((len(maps), 6), np.nan)), np.float64)
        crs = str(result.get("depth_crs") or "")
        feedback.setProgress(96)
        written = []
        for i, depth in enumerate(maps):
            if feedback.isCanceled():
                return {}
            reference = str((samples[i] if i < len(samples) else {}).get("reference", i))
            path = dest if i == 0 else sibling(dest, i, reference)
            t = transforms[i] if i < len(transforms) else np.full(6, np.nan)
            try:
                write_depth_raster(path, depth, t if np.isfinite(t).all() else None, crs)
            except OSError as exc:
                raise QgsProcessingException(str(exc)) from exc
            save_style(path)
            valid = depth[np.isfinite(depth)]
            if valid.size:
                feedback.pushInfo(tr("Reference view {view}: {w} x {h} px, {share} % with a depth ({lo} to {hi}); "
                                     "written to {path}.").format(
                    view=reference, w=depth.shape[1], h=depth.shape[0], share=round(100 * valid.size / depth.size),
                    lo=f"{float(valid.min()):.4g}", hi=f"{float(valid.max()):.4g}", path=path))
            else:
                feedback.pushWarning(tr("Reference view {view}: no source view sees any of its pixels; {path} is all "
                                        "nodata.").format(view=reference, path=path))
            written.append((path, reference))
        base.set_output_style(context, dest, style_depth)
        if len(written) > 1 and context.willLoadLayerOnCompletion(dest):
            for path, reference in written[1:]:
                details = QgsProcessingContext.LayerDetails(tr("Depth {view}").format(view=reference),
                                                            context.project(), self.OUTPUT)
                details.setPostProcessor(base.StylePostProcessor.create(style_depth))
                context.addLayerToLoadOnCompletion(path, details)
        return {self.OUTPUT: dest, self.OUTPUTS: [p for p, _ in written]}


class DepthFeedback(runner.Feedback):
    """Progress in the plugin's words: the backend's step messages ("samples 1-4: 2 of 4 samples") become
    "Computing the depth maps..." (the bar shows how far); the plugin's own messages pass unchanged."""

    def __init__(self, parent):
        self.parent = parent

    def progress(self, fraction, message=""):
        from ..i18n import progress_text

        if message and progress_text(message, "tiles") is not None:
            message = tr("Computing the depth maps...")
        self.parent.progress(fraction, message)

    def canceled(self):
        return self.parent.canceled()

    def info(self, message):
        self.parent.info(message)


def sibling(dest: str, i: int, reference: str) -> str:
    """The file of reference view `i` (> 0) beside the output: <stem>_<i>_<view><ext>."""
    stem, ext = os.path.splitext(dest)
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", reference).strip("_") or str(i)
    return f"{stem}_{i:04d}_{tag}{ext or '.tif'}"


def write_depth_raster(path: str, depth: np.ndarray, transform=None, crs_wkt: str = "") -> str:
    """(H, W) depths (NaN = nodata) -> a float32 raster (GeoTIFF: tiled, DEFLATE with the floating-point
    predictor; another format by the file's extension), nodata -9999; georeferenced with a GDAL-order
    `transform` and `crs_wkt` when given, else on the reference image's pixel grid (PIXEL_GRID)."""
    from osgeo import gdal
    from qgis.core import QgsRasterFileWriter

    depth = np.asarray(depth, np.float32)
    h, w = depth.shape
    ext = os.path.splitext(path)[1].lower().lstrip(".") or "tif"
    driver = "GTiff" if ext in ("tif", "tiff") else (QgsRasterFileWriter.driverForExtension(ext) or "GTiff")
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Float32)
    # the pixel grid: x = column, y = -row (as QGIS shows a raster without georeferencing, minus the warning)
    mem.SetGeoTransform([float(v) for v in transform] if transform is not None else PIXEL_GRID)
    if transform is not None and crs_wkt:
        mem.SetProjection(crs_wkt)
    band = mem.GetRasterBand(1)
    band.SetNoDataValue(NODATA)
    band.WriteArray(np.where(np.isfinite(depth), depth, NODATA).astype(np.float32))
    band.SetDescription("depth")
    options = []
    if driver == "GTiff":
        block = 256 if max(w, h) > 256 else max(16, 16 * ((max(w, h) + 15) // 16))
        options = ["TILED=YES", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}", "COMPRESS=DEFLATE", "PREDICTOR=3"]
    drv = gdal.GetDriverByName(driver) or gdal.GetDriverByName("GTiff")
    out = drv.CreateCopy(path, mem, options=options)
    if out is None:
        raise OSError(tr("Cannot write {path}: {error}").format(path=path, error=gdal.GetLastErrorMsg()))
    out.FlushCache()
    out = None
    return path


def style_depth(layer) -> None:
    """A pseudocolour ramp (Viridis: near dark, far bright) over the layer's valid depths."""
    from qgis.core import (
        QgsColorRampShader,
        QgsGradientColorRamp,
        QgsSingleBandPseudoColorRenderer,
        QgsStyle,
    )
    from qgis.PyQt.QtGui import QColor

    provider = layer.dataProvider()
    stats = provider.bandStatistics(1)  # all of them (a depth map is one band of one view's size)
    lo, hi = float(stats.minimumValue), float(stats.maximumValue)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        lo, hi = (lo, lo + 1.0) if np.isfinite(lo) else (0.0, 1.0)
    ramp = QgsStyle.defaultStyle().colorRamp("Viridis") or QgsGradientColorRamp(QColor("#440154"), QColor("#fde725"))
    renderer = QgsSingleBandPseudoColorRenderer(provider, 1)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    renderer.createShader(ramp, QgsColorRampShader.Interpolated, QgsColorRampShader.Continuous, 5)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def save_style(path: str) -> None:
    """Store the depth style as the file's default (.qml beside it), so whoever opens it sees it styled."""
    from qgis.core import QgsMapLayer, QgsRasterLayer

    try:
        layer = QgsRasterLayer(path, "depth", "gdal")
        if layer.isValid():
            style_depth(layer)
            layer.saveDefaultStyle(QgsMapLayer.StyleCategory.Symbology)
    except Exception:  # noqa: BLE001 - styling never fails a run
        pass
