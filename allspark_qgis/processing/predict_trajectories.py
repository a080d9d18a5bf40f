"""allspark:predict_trajectories - candidate future paths of every track in a point or line layer
(with a time field and a track id field): a line layer in the input's CRS, one feature per candidate
(track id, rank, score), each starting at its track's last observed fix.

TIME_UNITS / FRAME_RATE say what the time field holds (seconds, frame numbers at a rate, date-times;
detected by default); `add_time_parameters` / `time_units` are shared with allspark:train_bundle."""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
)

from ..i18n import N_, tr
from . import base


TIME_UNITS, FRAME_RATE = "TIME_UNITS", "FRAME_RATE"
# the options of TIME_UNITS, in the order of layers.TIME_UNITS (auto, seconds, frames, datetime)
TIME_UNIT_LABELS = (N_("Detect (date-times; whole numbers in a 'frame' field are frames)"), N_("Seconds"),
                    N_("Frame numbers (at the frame rate below)"), N_("Date-times"))


def add_time_parameters(alg, optional_help: str = "") -> None:
    """The "time field holds" choice and the frame rate, on a trajectory algorithm."""
    from .. import layers

    units = QgsProcessingParameterEnum(TIME_UNITS, tr("Time field holds"), options=[tr(t) for t in TIME_UNIT_LABELS],
                                       defaultValue=0, optional=True)
    units.setHelp(tr("What the time field holds: seconds, frame numbers (at the frame rate below) or date-times. "
                     "Detect reads date and time fields and text such as 2024-05-01T10:00:00 as date-times, whole "
                     "numbers in a field named frame or frame_id as frames, and other numbers as seconds."))
    alg.addParameter(units)
    rate = QgsProcessingParameterNumber(FRAME_RATE, tr("Frame rate (frames per second, for frame numbers)"),
                                        QgsProcessingParameterNumber.Double, layers.DEFAULT_FRAME_RATE,
                                        optional=True, minValue=0.001)
    rate.setHelp(tr("Frames per second of the time field's frame numbers: 25 for ETH-UCY (10 frames = 0.4 s)."))
    alg.addParameter(rate)


def time_units(alg, parameters, context) -> tuple[str, float | None]:
    """(layers.TIME_UNITS entry, frame rate) from the algorithm's parameters."""
    from .. import layers

    idx = alg.parameterAsEnum(parameters, TIME_UNITS, context)
    units = layers.TIME_UNITS[idx] if 0 <= idx < len(layers.TIME_UNITS) else "auto"
    rate = alg.parameterAsDouble(parameters, FRAME_RATE, context)
    return units, (rate if rate and rate > 0 else None)


class PredictTrajectoriesAlgorithm(base.AllSparkAlgorithm):
    INPUT, TIME_FIELD, ID_FIELD, OUTPUT = "INPUT", "TIME_FIELD", "ID_FIELD", "OUTPUT"
    MODALITIES = ("trajectory",)
    GROUP, GROUP_ID = N_("Vector"), "vector"

    NAME, DISPLAY_NAME = "predict_trajectories", N_("Predict trajectories")
    HELP = N_(
        "Reads the tracks of a point layer (one fix per feature) or line layer (vertex times from M values, "
        "or from the time field), and predicts candidate future paths for each track. The output has one "
        "line per candidate with its rank (1 = most likely) and score (the scores of a track sum to 1), in the "
        "layer's CRS, starting at the track's last observed fix. Time and track id fields are found "
        "automatically when left empty; say what the time field holds (seconds, frame numbers at a rate, "
        "date-times) when detection gets it wrong."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, tr("Trajectory layer"), [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorLine]))
        self.addParameter(QgsProcessingParameterField(self.TIME_FIELD, tr("Time field"), parentLayerParameterName=self.INPUT,
                                                      optional=True))
        self.addParameter(QgsProcessingParameterField(self.ID_FIELD, tr("Track id field"), parentLayerParameterName=self.INPUT,
                                                      optional=True))
        add_time_parameters(self)
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Predicted trajectories"),
                                                            QgsProcessing.TypeVectorLine))

    def fields(self, parameters, context, source):
        from .. import modality

        kinds = modality.field_kinds(source)
        t = self.parameterAsString(parameters, self.TIME_FIELD, context) or modality.find_time_field(kinds)
        i = self.parameterAsString(parameters, self.ID_FIELD, context) or modality.find_id_field(kinds, exclude=t)
        if not t or not i:
            from ..layers import source_name

            raise QgsProcessingException(tr(
                "The layer '{name}' needs a time field and a track id field (none was given and none could be found)."
            ).format(name=source_name(source)))
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
        units, rate = time_units(self, parameters, context)
        arrays, meta = self.run_guarded(lambda: layers.trajectory_payload(source, time_field, id_field,
                                                                          time_units=units, frame_rate=rate))
        feedback.pushInfo(tr("{points} fixes in {tracks} tracks (time: {t}, as {units}; id: {i}).").format(
            points=len(arrays["t"]), tracks=len(meta["track_ids"]), t=time_field, i=id_field,
            units=layers.describe_time_units(meta["time_units"], meta.get("frame_rate"))))
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
