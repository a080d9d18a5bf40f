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
    QgsProcessingParameterBoolean,
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
    PER_PIXEL = "PER_PIXEL"
    # the backend's training settings (allspark.train.TrainConfig) a user may set in OPTIONS; the backend
    # checks each value and names a bad one
    OPTION_KEYS = ("bridge", "encoder", "head", "batch_size", "lr", "weight_decay", "warmup_epochs", "max_samples",
                   "val_fraction", "select_fraction", "seed", "bf16", "read_options", "threads", "pretrain_epochs",
                   "pretrain_lr", "pretrain_batch_size", "encoder_lr", "class_balance", "llm_max_samples",
                   "score_max_samples", "cpu_precision", "task")
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
            "one class per pixel; with \"Classify every pixel\" any raster learns a class per pixel, read in "
            "16 x 16 px tiles, one LLM pass each), a trajectory layer (time and track id fields), a table with a target field "
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
        self.addParameter(QgsProcessingParameterBoolean(
            self.PER_PIXEL, tr("Classify every pixel (raster: dense tiles, one LLM pass per 16 x 16 px tile)"),
            defaultValue=False))
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

    def training_inputs(self, parameters, context, feedback=None, work: str = "") -> "families.TrainingInputs":
        """The parameters a family's training needs, resolved."""
        from .. import families, modality, runner
        from .predict_trajectories import time_units

        layer = self.parameterAsLayer(parameters, self.INPUT, context)
        vector = layer is not None and modality.layer_kind(layer) == "vector"
        source = self.parameterAsSource(parameters, self.INPUT, context) if vector else None
        return families.TrainingInputs(
            labels=self.parameterAsVectorLayer(parameters, self.LABELS, context),
            label_field=self.parameterAsString(parameters, self.LABEL_FIELD, context),
            target_field=self.parameterAsString(parameters, self.TARGET_FIELD, context),
            time_field=self.parameterAsString(parameters, self.TIME_FIELD, context),
            id_field=self.parameterAsString(parameters, self.ID_FIELD, context),
            time_units=time_units(self, parameters, context),
            patch=self.parameterAsInt(parameters, self.PATCH, context),
            per_pixel=self.parameterAsBoolean(parameters, self.PER_PIXEL, context),
            source=source, transform_context=context.transformContext(), work=work,
            feedback=runner.Sub(self.feedback(feedback, 0, 100), 0.0, 0.15) if feedback is not None else None,
            info=feedback.pushInfo if feedback is not None else (lambda text: None))

    def check_layer_parameters(self, parameters, context):
        from .. import families

        layer = self.parameterAsLayer(parameters, self.INPUT, context)
        if layer is None:
            return True, ""
        m = self._modality(parameters, context, layer)
        family = families.of(m)
        if family is None:
            return False, tr("AllSpark cannot train on this kind of layer.")
        problem = family.training_problem(layer, m, self.training_inputs(parameters, context))
        if problem:
            return False, problem
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
        from .. import connection, events, families, runner, training

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
        inputs = self.training_inputs(parameters, context, feedback, work)

        def prepare():
            return families.of(m).training_config(layer, m, inputs, out_dir, name, epochs)

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
