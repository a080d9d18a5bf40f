"""allspark:predict_attribute - table regression or classification: a copy of the layer (any vector
layer or table) with the predicted value(s) or class as new fields."""

from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
)

from ..i18n import N_, tr
from . import base


class PredictAttributeAlgorithm(base.AllSparkAlgorithm):
    INPUT, OUTPUT = "INPUT", "OUTPUT"
    MODALITIES = ("table",)
    GROUP, GROUP_ID = N_("Vector"), "vector"

    NAME, DISPLAY_NAME = "predict_attribute", N_("Predict attribute")
    HELP = N_(
        "Predicts a value (regression, e.g. PM2.5 in ug/m3) or a class for every feature from the fields the "
        "bundle was trained on. The output is a copy of the layer with the prediction as new fields "
        "(<target>_pred, or pred_class and pred_prob)."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(self.INPUT, tr("Input layer or table"), [QgsProcessing.TypeVector]))
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Predictions"), QgsProcessing.TypeVectorAnyGeometry))

    def check_layer_parameters(self, parameters, context):
        return self.check_bundle_fit(parameters, context, self.parameterAsVectorLayer(parameters, self.INPUT, context), "table")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import layers, results, runner

        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(tr("The input layer is missing or invalid."))
        manifest = self.bundle(parameters, context)
        numeric, categorical = layers.bundle_table_columns(manifest)
        arrays, meta = self.run_guarded(lambda: layers.table_payload(source, numeric=numeric, categorical=categorical))
        feedback.pushInfo(tr("{n} rows, {c} columns.").format(n=len(meta["fids"]), c=len(arrays) + len(meta["categorical"])))
        out = self.call_backend(lambda client: runner.predict_table(
            client, manifest, arrays, meta, self.feedback(feedback, 0, 85)))
        if out is None or feedback.isCanceled():
            return {}
        result, fids = out
        new = results.prediction_fields(result, [f.name() for f in source.fields()])
        fields = QgsFields(source.fields())
        for f in new:
            fields.append(f)
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, source.wkbType(), source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        row_of = {int(fid): i for i, fid in enumerate(fids)}
        total = max(1, source.featureCount())
        for k, f in enumerate(source.getFeatures()):
            if feedback.isCanceled():
                break
            nf = QgsFeature(fields)
            nf.setGeometry(f.geometry())
            i = row_of.get(int(f.id()))
            extra = results.prediction_values(result, i) if i is not None else [None] * len(new)
            nf.setAttributes(list(f.attributes()) + extra)
            sink.addFeature(nf, QgsFeatureSink.FastInsert)
            feedback.setProgress(85 + 15 * k / total)
        del sink
        names = [f.name() for f in new]
        base.set_output_style(context, dest_id, lambda lyr, r=result, n=names: results.style_predictions(lyr, r, n))
        return {self.OUTPUT: dest_id}
