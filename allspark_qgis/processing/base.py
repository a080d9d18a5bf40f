"""What every AllSpark algorithm shares: the bundle parameter (bundles of the algorithm's modalities,
listed by the backend, passed by name from qgis_process and models), the backend check that makes an
algorithm inactive with a clear warning when no backend answers, the layer-fits-bundle check, and the
feedback adapter."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterEnum,
)

from .. import connection, modality, runner
from ..i18n import tr
from ..icons import icon


class AllSparkAlgorithm(QgsProcessingAlgorithm):
    BUNDLE = "BUNDLE"
    MODALITIES: tuple = ()  # bundles of these modalities are offered (empty: all)
    TASKS: tuple = ()  # and of these tasks (empty: all)
    GROUP, GROUP_ID = "", ""
    NAME, DISPLAY_NAME, HELP = "", "", ""  # the id, and N_()-marked title and help text

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802
        return tr(self.DISPLAY_NAME)

    def shortHelpString(self):  # noqa: N802
        return tr(self.HELP)

    def tr(self, text):  # noqa: D401 - Processing's convention
        return tr(text)

    def createInstance(self):  # noqa: N802
        return type(self)()

    def icon(self):
        return icon("allspark")

    def group(self):
        return tr(self.GROUP) if self.GROUP else ""

    def groupId(self):  # noqa: N802
        return self.GROUP_ID

    # ---- the backend ------------------------------------------------------------------------
    def canExecute(self):  # noqa: N802
        ok, message = connection.reachable()
        return ok, message

    def bundle_manifests(self) -> list[dict]:
        out = []
        for b in connection.bundles():
            if self.MODALITIES and b.get("modality") not in self.MODALITIES:
                continue
            if self.TASKS and b.get("task") not in self.TASKS:
                continue
            if not self.offers(b):
                continue
            out.append(b)
        return out

    def offers(self, manifest: dict) -> bool:
        """Whether this algorithm runs the bundle (beyond its MODALITIES and TASKS)."""
        return True

    def add_bundle_parameter(self, optional: bool = False) -> None:
        names = [b["name"] for b in self.bundle_manifests()]
        p = QgsProcessingParameterEnum(
            self.BUNDLE, tr("Bundle"), options=names, allowMultiple=False,
            defaultValue=None if optional or not names else names[0], optional=optional or not names,
        )
        p.setUsesStaticStrings(True)
        p.setHelp(tr("The trained AllSpark bundle (encoder + bridge + head) to use; its name."))
        self.addParameter(p)

    def bundle(self, parameters, context) -> dict:
        name = self.parameterAsEnumString(parameters, self.BUNDLE, context)
        if not name:
            raise QgsProcessingException(self.no_bundle_message())
        manifest = connection.bundle(name) or connection.bundle(name, refresh=True)
        if manifest is None:
            raise QgsProcessingException(tr("The backend has no bundle named '{name}'.").format(name=name))
        return manifest

    def no_bundle_message(self) -> str:
        kinds = ", ".join(modality.title(m) for m in self.MODALITIES) or tr("any layer")
        return tr("No bundle is selected, and the backend has none for {kinds}; train one on your layer with "
                  "AllSpark > Train a Bundle... or add one to the bundles folder.").format(kinds=kinds)

    def client(self):
        try:
            return connection.client()
        except connection.NoBackend as exc:
            raise QgsProcessingException(str(exc)) from None

    def write_table(self, parameters, context, name: str, columns, rows) -> str:
        """A table without geometry in the feature sink `name`: `columns` [(field, int | double | string)],
        `rows` lists of values in that order (None: NULL); returns the sink's id."""
        from qgis.core import QgsFeature, QgsFeatureSink, QgsFields, QgsWkbTypes

        from .. import results

        fields = QgsFields()
        for field, kind in columns:
            fields.append(results._qfield(field, kind))
        sink, dest_id = self.parameterAsSink(parameters, name, context, fields, QgsWkbTypes.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, name))
        for row in rows:
            f = QgsFeature(fields)
            f.setAttributes(list(row))
            sink.addFeature(f, QgsFeatureSink.FastInsert)
        return dest_id

    def call_backend(self, fn):
        """fn(client) on a fresh client, closed afterwards; errors as run_guarded makes them (None: cancelled)."""
        client = self.client()
        try:
            return self.run_guarded(lambda: fn(client))
        finally:
            connection._close(client)

    def check_fit(self, manifest: dict, layer, modality_override: str | None = None) -> None:
        if layer is None:
            raise QgsProcessingException(tr("The input layer is missing or invalid."))
        problem = modality.fit_problem(manifest, modality.facts_from_layer(layer), modality_override)
        if problem:
            raise QgsProcessingException(problem)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        reachable, why = connection.reachable()
        if not reachable:  # before the parameters: an empty bundle list would only confuse
            return False, why
        ok, msg = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, msg
        return self.check_layer_parameters(parameters, context)

    def check_layer_parameters(self, parameters, context):
        """Refuse a layer that doesn't fit the chosen bundle, saying why (before the run starts)."""
        return True, ""

    def check_bundle_fit(self, parameters, context, layer, modality_override: str | None = None, then=None):
        """(ok, message) for check_layer_parameters: whether the layer fits the chosen bundle, then then(layer)
        if given; fine while the layer or the bundle is not chosen yet."""
        name = self.parameterAsEnumString(parameters, self.BUNDLE, context)
        if layer is None or not name:
            return True, ""
        manifest = connection.bundle(name)
        if manifest is None:
            return False, tr("The backend has no bundle named '{name}'.").format(name=name)
        problem = modality.fit_problem(manifest, modality.facts_from_layer(layer), modality_override)
        if problem:
            return False, problem
        return then(layer) if then else (True, "")

    def feedback(self, feedback, lo: float = 0.0, hi: float = 100.0) -> runner.ProcessingFeedback:
        return runner.ProcessingFeedback(feedback, lo, hi)

    def run_guarded(self, fn):
        """Run fn(); backend errors become QgsProcessingException with the backend's message."""
        try:
            return fn()
        except QgsProcessingException:
            raise
        except runner.Cancelled:
            return None
        except Exception as exc:  # noqa: BLE001 - BackendError / BackendUnavailable / LayerError
            raise QgsProcessingException(str(exc)) from exc


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies a style function to an output layer once Processing has loaded it into the project.

    PyQGIS rule: the instance must outlive the algorithm run, so `create` keeps it referenced."""

    _keep: list = []

    def __init__(self, apply):
        super().__init__()
        self.apply = apply

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if layer is not None and layer.isValid():
            self.apply(layer)

    @classmethod
    def create(cls, apply) -> "StylePostProcessor":
        inst = cls(apply)
        cls._keep.append(inst)
        del cls._keep[:-32]
        return inst


def set_output_style(context: QgsProcessingContext, dest_id: str, apply) -> None:
    """Style an output: now for file outputs (default style stored with the file), and when loaded."""
    from ..results import save_style_to_output

    try:
        save_style_to_output(dest_id, apply)
    except Exception:  # noqa: BLE001 - styling never fails a run
        pass
    if context.willLoadLayerOnCompletion(dest_id):
        context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(StylePostProcessor.create(apply))


def load_on_completion_as(context: QgsProcessingContext, dest_id: str, path: str) -> None:
    """An output written under another name than asked (e.g. given the .copc.laz a COPC file needs):
    the layer loaded on completion is the file written, named after it."""
    import os

    if not context.willLoadLayerOnCompletion(dest_id):
        return
    todo = dict(context.layersToLoadOnCompletion())
    details = todo.pop(dest_id)
    name = os.path.basename(path)
    details.name = name[: -len(".copc.laz")] if name.lower().endswith(".copc.laz") else name
    todo[path] = details
    context.setLayersToLoadOnCompletion(todo)
