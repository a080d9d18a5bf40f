"""Rasters (RGB, multispectral, hyperspectral, SAR): per-pixel bundles classify every pixel of a window,
scene bundles one tile at a time (tiles of the training images' size); a question reads the window as
one image, or, per pixel, its centre pixel or the pixels of the selected polygons."""

from __future__ import annotations

import os

from .. import layers, results, runner
from ..i18n import tr
from .base import Family, Run, Selection, TrainingInputs, result_name, safe_name, unique_path

MODALITIES = ("rgb", "msi", "hsi", "sar")
# trained from a label raster (every pixel inside a drawn polygon, the pixel of each point), not from
# image patches around points
PIXEL_LABEL_MODALITIES = ("hsi",)
# a per-pixel bundle of any raster modality: dense tiles of DENSE_TILE px, each read with DENSE_MARGIN px
# of context, one LLM sequence per tile
DENSE_TILE, DENSE_MARGIN = 16, 4


def per_pixel(manifest: dict) -> bool:
    """Whether a bundle answers per pixel (hyperspectral samples, dense tasks), not per scene."""
    return manifest.get("modality") in PIXEL_LABEL_MODALITIES or manifest.get("task") == "pixel_classification"


def spec_bands(manifest: dict) -> int | None:
    spec = manifest.get("input") or {}
    for key in ("bands", "channels", "in_channels", "n_bands"):
        v = spec.get(key)
        if isinstance(v, int):
            return v
        if isinstance(v, list):
            return len(v)
    return None


class RasterFamily(Family):
    name = "raster"
    modalities = MODALITIES
    layer_kind = "raster"
    uses_region = True

    def fit_problem(self, manifest, facts):
        name = manifest.get("name", "?")
        if facts.kind != "raster":
            return tr("Bundle '{name}' needs a raster layer.").format(name=name)
        bands = spec_bands(manifest)
        if bands is not None and facts.band_count != bands:
            return tr("Bundle '{name}' needs {bands} band(s); this raster has {count}.").format(
                name=name, bands=bands, count=facts.band_count)
        return None

    def window(self, layer, sel: Selection):
        """The native window the selection covers (the region's polygons' when there is a region)."""
        window = layers.window_for_extent(layers.raster_grid(layer), sel.extent)
        if window is None:
            raise layers.LayerError(tr("The extent does not overlap the raster layer '{name}'.").format(name=layer.name()))
        if sel.region is not None:
            window = layers.region_window(layer, sel.region, window)
        return window

    def question(self, layer, modality, manifest, sel):
        window = self.window(layer, sel)
        provider = sel.provider or layer.dataProvider().clone()
        dense = per_pixel(manifest)
        kind = "hsi" if dense else modality
        context = runner.context_px(manifest) if dense else 0
        return lambda: layers.raster_question_payload(layer, kind, window, sel.region, provider, context=context,
                                                      tile=runner.dense_tile(manifest))

    def prepare(self, layer, modality, manifest, sel, out_dir):
        window = self.window(layer, sel)
        provider = sel.provider = sel.provider or layer.dataProvider().clone()
        region = sel.region
        tile = runner.tile_size(manifest, window=window)
        dense = per_pixel(manifest)
        made = {}  # the map this run made: the written answer's summary is about it

        def predict(client, fb):
            if dense:
                lab, gt, classes, made["run"] = runner.classify_pixels_for_answer(client, manifest, layer, window, fb,
                                                                                  provider, region)
            else:
                lab, conf, gt, classes = runner.classify_tiles(client, manifest, layer, window, tile, fb, provider,
                                                               region=region)
                made["run"] = runner.run_of_pixels(lab, conf, classes, gt, layers.crs_wkt(layer), region, "tile")
            path = unique_path(os.path.join(out_dir, f"{safe_name(layer.name())}_{safe_name(manifest['name'])}.tif"))
            results.write_class_raster(path, lab, gt, layers.crs_wkt(layer.crs()), classes)
            return {"raster": path, "classes": classes}

        cols, rows = layers.tile_grid(window, tile)
        return Run(predict=predict, question=self.question(layer, modality, manifest, sel),
                   total=window[2] * window[3] if dense else cols * rows, made=lambda: made.get("run"))

    def add_layers(self, result, layer, manifest):
        return [results.class_raster_layer(result["raster"], result["classes"], result_name(layer, manifest))]

    def training_problem(self, layer, modality, inputs: TrainingInputs):
        if not self.is_own_kind(layer):
            return tr("A {modality} bundle trains on a raster layer.").format(modality=modality)
        if inputs.labels is None:
            return tr("Training on a raster needs a labelled point or polygon layer (Labels).")
        if not inputs.label_field:
            return tr("Choose the labels' class field.")
        return None

    def training_config(self, layer, modality, inputs, out_dir, name, epochs):
        from .. import training

        if modality in PIXEL_LABEL_MODALITIES or inputs.per_pixel:  # every pixel inside the polygons, the
            # pixel of each point
            lab = os.path.join(inputs.work, "labels.tif")
            classes = training.rasterize_labels(layer, inputs.labels, inputs.label_field, lab, inputs.transform_context)
            inputs.info(tr("Classes from the field '{field}': {names}").format(
                field=inputs.label_field, names=", ".join(classes)))
            data = layer.source() if runner.is_file_raster(layer) else training.write_raster_file(
                layer, os.path.join(inputs.work, "image.tif"))
            if not inputs.per_pixel:
                return training.config(modality, data, out_dir, name, epochs, labels=lab,
                                       read_options={"classes": classes})
            dense = {"classes": classes, "tile": DENSE_TILE, "margin": DENSE_MARGIN, "block": DENSE_TILE}
            return training.config(modality, data, out_dir, name, epochs, task="pixel_classification", labels=lab,
                                   read_options=dense, head={"encoder_skip": True, "encoder_head": "elements"})
        grid = layers.raster_grid(layer)
        pts = training.label_points(inputs.labels, inputs.label_field, layer.crs(), inputs.transform_context,
                                    spacing=inputs.patch * grid.xres)
        patches = os.path.join(inputs.work, "patches")
        counts = training.write_patches(layer, pts, inputs.patch, patches, feedback=inputs.feedback)
        inputs.info(tr("Patches per class: {counts}").format(
            counts=", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
        # the patch size is kept as the bundle's reader tile, so classify_raster tiles like the training
        return training.config(modality, patches, out_dir, name, epochs, read_options={"tile": inputs.patch})

    def training_parameters(self, layer):
        """The labels layer, when the project holds exactly one point / polygon layer over the raster."""
        from qgis.core import Qgis, QgsCoordinateTransform, QgsProject

        from ..modality import layer_kind

        labels = []
        for other in QgsProject.instance().mapLayers().values():
            if other is layer or layer_kind(other) != "vector" or other.geometryType() not in (
                    Qgis.GeometryType.Point, Qgis.GeometryType.Polygon):
                continue
            ct = QgsCoordinateTransform(other.crs(), layer.crs(), QgsProject.instance())
            try:
                if ct.transformBoundingBox(other.extent()).intersects(layer.extent()):
                    labels.append(other)
            except Exception:  # noqa: BLE001 - a layer that cannot be transformed is no candidate
                continue
        return {"LABELS": labels[0]} if len(labels) == 1 else {}


FAMILY = RasterFamily()
