"""allspark:train_bundle - train a new bundle from the user's own layers, as a backend train job with
progress and cancel; the new bundle then appears in the pickers and the algorithms' bundle lists."""

from __future__ import annotations

import json
import os

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFolder,
    QgsProcessingParameterDefinition,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsProcessing,
)

from ..i18n import N_, tr
from . import base


class TrainBundleAlgorithm(base.AllSparkAlgorithm):
    INPUT, MODALITY, LABELS, LABEL_FIELD = "INPUT", "MODALITY", "LABELS", "LABEL_FIELD"
    TARGET_FIELD, TIME_FIELD, ID_FIELD = "TARGET_FIELD", "TIME_FIELD", "ID_FIELD"
    NAME, EPOCHS, PATCH, FOLDER, OPTIONS = "NAME", "EPOCHS", "PATCH", "FOLDER", "OPTIONS"
    # the backend's training settings (allspark.train.TrainConfig) a user may set in OPTIONS; the backend
    # checks each value and names a bad one
    OPTION_KEYS = ("bridge", "encoder", "head", "batch_size", "lr", "weight_decay", "warmup_epochs", "max_samples",
                   "val_fraction", "select_fraction", "seed", "bf16", "read_options", "threads", "pretrain_epochs",
                   "pretrain_lr", "pretrain_batch_size", "encoder_lr", "class_balance", "llm_max_samples",
                   "score_max_samples", "cpu_precision")
    BUNDLE_NAME, BUNDLE_PATH, METRICS = "BUNDLE_NAME", "BUNDLE_PATH", "METRICS"
    GROUP, GROUP_ID = N_("Training"), "training"

    def name(self):
        return "train_bundle"

    def displayName(self):  # noqa: N802
        return tr("Train a bundle")

    def icon(self):
        from ..icons import icon

        return icon("train")

    def shortHelpString(self):  # noqa: N802
        return tr(
            "Trains encoder, bridge and head against the backend's frozen LLM from your layers: a raster with a "
            "labelled point or polygon layer (RGB, multispectral and SAR learn one class per patch, hyperspectral "
            "one class per pixel), a trajectory layer (time and track id fields), a table with a target field "
            "(numbers: regression; text: classification), or a point cloud with a classification attribute "
            "(ground = 2). The bundle is written to the bundles folder and is listed right away."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        from .. import modality

        self.addParameter(QgsProcessingParameterMapLayer(self.INPUT, tr("Training layer")))
        m = QgsProcessingParameterEnum(self.MODALITY, tr("Modality (default: detected from the layer)"),
                                       options=list(modality.MODALITIES), optional=True, defaultValue=None)
        m.setUsesStaticStrings(True)
        self.addParameter(m)
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.LABELS, tr("Labels (points or polygons, for a raster)"),
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(self.LABEL_FIELD, tr("Class field of the labels"),
                                                      parentLayerParameterName=self.LABELS, optional=True))
        self.addParameter(QgsProcessingParameterString(self.TARGET_FIELD, tr("Target field (table)"), optional=True))
        self.addParameter(QgsProcessingParameterString(self.TIME_FIELD, tr("Time field (trajectory)"), optional=True))
        self.addParameter(QgsProcessingParameterString(self.ID_FIELD, tr("Track id field (trajectory)"), optional=True))
        from .predict_trajectories import add_time_parameters

        add_time_parameters(self)
        self.addParameter(QgsProcessingParameterString(self.NAME, tr("Bundle name")))
        self.addParameter(QgsProcessingParameterNumber(self.EPOCHS, tr("Epochs"), QgsProcessingParameterNumber.Integer,
                                                       10, minValue=1, maxValue=1000))
        self.addParameter(QgsProcessingParameterNumber(self.PATCH, tr("Patch size in pixels (RGB, multispectral, SAR)"),
                                                       QgsProcessingParameterNumber.Integer, 64, minValue=4, maxValue=1024))
        self.addParameter(QgsProcessingParameterFile(self.FOLDER, tr("Bundles folder (default: the backend's)"),
                                                     behavior=QgsProcessingParameterFile.Folder, optional=True))
        opts = QgsProcessingParameterString(self.OPTIONS, tr("Training options (JSON)"), optional=True)
        opts.setFlags(opts.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        opts.setHelp(tr('Advanced settings passed to the backend\'s trainer, e.g. {"batch_size": 16, "lr": 0.0003, '
                        '"max_samples": 2000, "bridge": {"queries": 16}}.'))
        self.addParameter(opts)
        self.addOutput(QgsProcessingOutputString(self.BUNDLE_NAME, tr("Bundle name")))
        self.addOutput(QgsProcessingOutputFolder(self.BUNDLE_PATH, tr("Bundle folder")))
        self.addOutput(QgsProcessingOutputString(self.METRICS, tr("Validation metrics (JSON)")))

    def _modality(self, parameters, context, layer):
        from .. import modality

        return self.parameterAsEnumString(parameters, self.MODALITY, context) or modality.detect_layer(layer)

    def check_layer_parameters(self, parameters, context):
        from .. import modality

        layer = self.parameterAsLayer(parameters, self.INPUT, context)
        if layer is None:
            return True, ""
        m = self._modality(parameters, context, layer)
        kind = modality.layer_kind(layer)
        if m is None:
            return False, tr("AllSpark cannot train on this kind of layer.")
        if m in modality.RASTER_MODALITIES:
            if kind != "raster":
                return False, tr("A {modality} bundle trains on a raster layer.").format(modality=m)
            if self.parameterAsVectorLayer(parameters, self.LABELS, context) is None:
                return False, tr("Training on a raster needs a labelled point or polygon layer (Labels).")
            if not self.parameterAsString(parameters, self.LABEL_FIELD, context):
                return False, tr("Choose the labels' class field.")
        elif m == "table":
            t = self.parameterAsString(parameters, self.TARGET_FIELD, context)
            if kind != "vector" or not t:
                return False, tr("A table bundle trains on a vector layer or table with a target field.")
            if layer.fields().indexOf(t) < 0:
                return False, tr("The layer has no field '{field}'.").format(field=t)
        elif m == "trajectory":
            if kind != "vector":
                return False, tr("A trajectory bundle trains on a point or line layer.")
            kinds = modality.field_kinds(layer)
            t = self.parameterAsString(parameters, self.TIME_FIELD, context) or modality.find_time_field(kinds)
            i = self.parameterAsString(parameters, self.ID_FIELD, context) or modality.find_id_field(kinds, exclude=t)
            if not t or not i:
                return False, tr("The layer '{name}' needs a time field and a track id field.").format(name=layer.name())
        elif m == "pointcloud":
            if kind != "pointcloud":
                return False, tr("A point-cloud bundle trains on a point-cloud layer.")
            src = modality.pointcloud_source(layer)
            if not src.lower().endswith(modality.POINTCLOUD_SUFFIXES):
                return False, tr("The point cloud must be a LAS, LAZ or COPC file.")
        name = self.parameterAsString(parameters, self.NAME, context).strip()
        if not name or any(ch in name for ch in "/\\:"):
            return False, tr("Give the bundle a name without slashes.")
        try:
            self.options(parameters, context)
        except QgsProcessingException as exc:
            return False, str(exc)
        return True, ""

    def options(self, parameters, context) -> dict:
        text = self.parameterAsString(parameters, self.OPTIONS, context).strip()
        if not text:
            return {}
        try:
            opts = json.loads(text)
        except ValueError as exc:
            raise QgsProcessingException(tr("Training options are not valid JSON: {error}").format(error=exc)) from None
        if not isinstance(opts, dict):
            raise QgsProcessingException(tr("Training options must be a JSON object."))
        unknown = sorted(set(opts) - set(self.OPTION_KEYS))
        if unknown:
            raise QgsProcessingException(tr("Unknown training option(s): {names}; known: {known}").format(
                names=", ".join(unknown), known=", ".join(self.OPTION_KEYS)))
        return opts

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import connection, events, layers, modality, runner, training

        layer = self.parameterAsLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(tr("The input layer is missing or invalid."))
        ok, msg = self.check_layer_parameters(parameters, context)
        if not ok:
            raise QgsProcessingException(msg)
        m = self._modality(parameters, context, layer)
        name = self.parameterAsString(parameters, self.NAME, context).strip()
        epochs = self.parameterAsInt(parameters, self.EPOCHS, context)
        folder = self.parameterAsFile(parameters, self.FOLDER, context) or training.default_bundles_folder()
        os.makedirs(folder, exist_ok=True)
        out_dir = os.path.join(folder, name)
        work = runner.temp_dir("allspark-train-")
        fb = self.feedback(feedback, 0, 100)
        prep = runner.Sub(fb, 0.0, 0.15)

        def prepare():
            if m in modality.RASTER_MODALITIES:
                labels = self.parameterAsVectorLayer(parameters, self.LABELS, context)
                field = self.parameterAsString(parameters, self.LABEL_FIELD, context)
                if m in modality.PIXEL_LABEL_MODALITIES:  # every pixel inside the polygons, the pixel of each point
                    lab = os.path.join(work, "labels.tif")
                    classes = training.rasterize_labels(layer, labels, field, lab, context.transformContext())
                    feedback.pushInfo(tr("Classes from the field '{field}': {names}").format(
                        field=field, names=", ".join(classes)))
                    data = layer.source() if runner.is_file_raster(layer) else training.write_raster_file(
                        layer, os.path.join(work, "image.tif"))
                    return training.config(m, data, out_dir, name, epochs, labels=lab,
                                           read_options={"classes": classes})
                patch = self.parameterAsInt(parameters, self.PATCH, context)
                grid = layers.raster_grid(layer)
                pts = training.label_points(labels, field, layer.crs(), context.transformContext(),
                                            spacing=patch * grid.xres)
                counts = training.write_patches(layer, pts, patch, os.path.join(work, "patches"), feedback=prep)
                feedback.pushInfo(tr("Patches per class: {counts}").format(
                    counts=", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
                # the patch size is kept as the bundle's reader tile, so classify_raster tiles like the training
                return training.config(m, os.path.join(work, "patches"), out_dir, name, epochs,
                                       read_options={"tile": patch})
            if m == "table":
                target = self.parameterAsString(parameters, self.TARGET_FIELD, context)
                source = self.parameterAsSource(parameters, self.INPUT, context) or layer
                path = training.write_table_csv(source, os.path.join(work, "table.csv"), target)
                task = "regression" if training.is_numeric_field(source, target) else "classification"
                return training.config(m, path, out_dir, name, epochs, task=task, read_options={"target": target})
            if m == "trajectory":
                source = self.parameterAsSource(parameters, self.INPUT, context) or layer
                kinds = modality.field_kinds(source)
                t = self.parameterAsString(parameters, self.TIME_FIELD, context) or modality.find_time_field(kinds)
                i = self.parameterAsString(parameters, self.ID_FIELD, context) or modality.find_id_field(kinds, exclude=t)
                from .predict_trajectories import time_units

                units, rate = time_units(self, parameters, context)
                path = training.write_tracks_csv(source, t, i, os.path.join(work, "tracks.csv"), units, rate)
                return training.config(m, path, out_dir, name, epochs)
            return training.config(m, modality.pointcloud_source(layer), out_dir, name, epochs,
                                   task="point_classification")

        cfg = self.run_guarded(prepare)
        if cfg is None or feedback.isCanceled():
            return {}
        opts = self.options(parameters, context)
        cfg["read_options"] = {**cfg.get("read_options", {}), **opts.pop("read_options", {})}
        cfg.update(opts)
        feedback.pushInfo(tr("Training {name} ({modality}) on {data}").format(name=name, modality=m, data=cfg["data"]))
        client = self.client()
        try:
            summary = self.run_guarded(lambda: runner.train(client, cfg, runner.Sub(fb, 0.15, 1.0)))
        finally:
            connection._close(client)
        if summary is None or feedback.isCanceled():
            return {}
        events.bundles_changed()
        metrics = summary.get("metrics") or {}
        feedback.pushInfo(tr("New bundle {name} in {path}").format(name=summary.get("name", name), path=summary.get("path", out_dir)))
        return {self.BUNDLE_NAME: summary.get("name", name), self.BUNDLE_PATH: summary.get("path", out_dir),
                self.METRICS: json.dumps(metrics, default=str)}
