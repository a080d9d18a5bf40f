"""allspark:predict_trajectories - candidate future paths of every track in a point or line layer
(with a time field and a track id field): a line layer, one feature per candidate (track id, rank,
score)."""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
)

from ..i18n import N_, tr
from . import base


class PredictTrajectoriesAlgorithm(base.AllSparkAlgorithm):
    INPUT, TIME_FIELD, ID_FIELD, OUTPUT = "INPUT", "TIME_FIELD", "ID_FIELD", "OUTPUT"
    MODALITIES = ("trajectory",)
    GROUP, GROUP_ID = N_("Vector"), "vector"

    NAME, DISPLAY_NAME = "predict_trajectories", N_("Predict trajectories")
    HELP = N_(
        "Reads the tracks of a point layer (one fix per feature) or line layer (vertex times from M values, "
        "or from the time field), and predicts candidate future paths for each track. The output has one "
        "line per candidate with its rank (1 = most likely) and score (the scores of a track sum to 1). "
        "Time and track id fields are found automatically when left empty."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, tr("Trajectory layer"), [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorLine]))
        self.addParameter(QgsProcessingParameterField(self.TIME_FIELD, tr("Time field"), parentLayerParameterName=self.INPUT,
                                                      optional=True))
        self.addParameter(QgsProcessingParameterField(self.ID_FIELD, tr("Track id field"), parentLayerParameterName=self.INPUT,
                                                      optional=True))
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Predicted trajectories"),
                                                            QgsProcessing.TypeVectorLine))

    def fields(self, parameters, context, source):
        from .. import modality

        kinds = modality.field_kinds(source)
        t = self.parameterAsString(parameters, self.TIME_FIELD, context) or modality.find_time_field(kinds)
        i = self.parameterAsString(parameters, self.ID_FIELD, context) or modality.find_id_field(kinds, exclude=t)
        if not t or not i:
            raise QgsProcessingException(tr(
                "The layer needs a time field and a track id field (none was given and none could be found)."))
        return t, i

    def check_layer_parameters(self, parameters, context):
        def fields_found(layer):
            try:
                self.fields(parameters, context, layer)
            except QgsProcessingException as exc:
                return False, str(exc)
            return True, ""

        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        return self.check_bundle_fit(parameters, context, layer, "trajectory", then=fields_found)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import layers, results, runner

        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(tr("The input layer is missing or invalid."))
        manifest = self.bundle(parameters, context)
        time_field, id_field = self.fields(parameters, context, source)
        arrays, meta = self.run_guarded(lambda: layers.trajectory_payload(source, time_field, id_field))
        feedback.pushInfo(tr("{points} fixes in {tracks} tracks (time: {t}, id: {i}).").format(
            points=len(arrays["t"]), tracks=len(meta["track_ids"]), t=time_field, i=id_field))
        out = self.call_backend(lambda client: runner.predict_trajectories(
            client, manifest, arrays, meta, self.feedback(feedback, 0, 90)))
        if out is None or feedback.isCanceled():
            return {}
        result, ids, last = out
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, results.trajectory_fields(),
                                             Qgis.WkbType.LineString, source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        feats = results.trajectory_features(result, ids, last)
        sink.addFeatures(feats, QgsFeatureSink.FastInsert)
        del sink
        feedback.pushInfo(tr("{n} candidate paths for {tracks} tracks.").format(n=len(feats), tracks=len(set(ids))))
        base.set_output_style(context, dest_id, results.style_trajectories)
        return {self.OUTPUT: dest_id}
