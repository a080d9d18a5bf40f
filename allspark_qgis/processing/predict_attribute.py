"""allspark:predict_attribute - a value or a class per feature: a copy of the layer (any vector layer or
table) with the prediction as new fields. Table bundles read the fields they were trained on, text
bundles a text field; the bundle's family (families.table / families.text) reads the features."""

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

from .. import connection
from ..i18n import N_, tr
from . import base


class PredictAttributeAlgorithm(base.AllSparkAlgorithm):
    INPUT, OUTPUT = "INPUT", "OUTPUT"
    MODALITIES = ("table", "text", "video")
    GROUP, GROUP_ID = N_("Vector"), "vector"

    NAME, DISPLAY_NAME = "predict_attribute", N_("Predict attribute")
    HELP = N_(
        "Predicts a value (regression, e.g. PM2.5 in ug/m3) or a class for every feature from the fields the "
        "bundle was trained on, or a class for every feature's text (a text bundle: reports, comments, "
        "reviews). The output is a copy of the layer with the prediction as new fields (<target>_pred, or "
        "pred_class and pred_prob)."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(self.INPUT, tr("Input layer or table"), [QgsProcessing.TypeVector]))
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Predictions"), QgsProcessing.TypeVectorAnyGeometry))

    def check_layer_parameters(self, parameters, context):
        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        manifest = connection.bundle(self.parameterAsEnumString(parameters, self.BUNDLE, context) or "") or {}
        return self.check_bundle_fit(parameters, context, layer, manifest.get("modality"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import families, results

        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(tr("The input layer is missing or invalid."))
        manifest = self.bundle(parameters, context)
        family = families.of(manifest.get("modality"))
        run = self.run_guarded(lambda: family.prepare(None, manifest["modality"], manifest,
                                                      families.Selection(source=source), ""))
        if run is None:
            return {}
        if run.total:
            feedback.pushInfo(tr("{n} rows.").format(n=run.total))
        out = self.call_backend(lambda client: run.predict(client, self.feedback(feedback, 0, 85)))
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
