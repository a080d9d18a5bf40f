"""allspark:ask - a free prompt about a layer; the bundle's head result and the LLM's written answer
come back as text outputs (and optionally a text file)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..i18n import tr
from . import base
from ._raster import add_region_parameter, check_region, region_of


class AskAlgorithm(base.AllSparkAlgorithm):
    INPUT, PROMPT, MODALITY, MAX_TOKENS, REGION = "INPUT", "PROMPT", "MODALITY", "MAX_TOKENS", "REGION"
    OTHER_LAYERS = "OTHER_LAYERS"
    MAX_OTHER_LAYERS = 3  # the backend takes up to 4 layers in one question
    OUTPUT, ANSWER, SUMMARY, BUNDLE_USED = "OUTPUT", "ANSWER", "SUMMARY", "BUNDLE_USED"
    GROUP, GROUP_ID = "", ""

    def name(self):
        return "ask"

    def displayName(self):  # noqa: N802
        return tr("Ask about a layer")

    def shortHelpString(self):  # noqa: N802
        return tr(
            "Sends the layer (a raster extent, the attribute rows, the tracks or the point-cloud file) with a "
            "prompt to a bundle of its modality; the answer is written in words by the LLM. Without a bundle, the "
            "first bundle of the layer's detected modality is used; without a prompt, the bundle's own prompt. "
            "A raster question may be limited to the selected polygons of another layer (a field, a parcel). "
            "With other layers, one question is asked about all of them at once: each layer is read by the first "
            "bundle of its modality, and the LLM reads them side by side."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        from .. import modality

        self.addParameter(QgsProcessingParameterMapLayer(self.INPUT, tr("Layer")))
        self.add_bundle_parameter(optional=True)
        self.addParameter(QgsProcessingParameterString(self.PROMPT, tr("Prompt"), optional=True, multiLine=True))
        m = QgsProcessingParameterEnum(self.MODALITY, tr("Modality (default: detected from the layer)"),
                                       options=list(modality.MODALITIES), optional=True, defaultValue=None)
        m.setUsesStaticStrings(True)
        self.addParameter(m)
        add_region_parameter(self)
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.OTHER_LAYERS, tr("Also ask about these layers (one question about all of them)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(self.MAX_TOKENS, tr("Longest answer (tokens)"),
                                                       QgsProcessingParameterNumber.Integer, 96, minValue=1, maxValue=2048))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, tr("Answer file"), tr("Text files (*.txt)"), optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.ANSWER, tr("Answer")))
        self.addOutput(QgsProcessingOutputString(self.SUMMARY, tr("Head result in words")))
        self.addOutput(QgsProcessingOutputString(self.BUNDLE_USED, tr("Bundle used")))

    def pick(self, parameters, context, layer):
        from .. import connection, modality

        m = self.parameterAsEnumString(parameters, self.MODALITY, context) or modality.detect_layer(layer)
        name = self.parameterAsEnumString(parameters, self.BUNDLE, context)
        if name:
            manifest = connection.bundle(name)
            if manifest is None:
                raise QgsProcessingException(tr("The backend has no bundle named '{name}'.").format(name=name))
            return manifest, m
        cands = modality.bundles_for(connection.bundles(), m)
        if not cands:
            raise QgsProcessingException(tr("The backend has no bundle for {modality} layers.").format(modality=m or "?"))
        return cands[0], m

    def other_items(self, parameters, context) -> list:
        """(layer, manifest, modality) of each other layer: the first bundle of its detected modality."""
        from .. import connection, modality

        layers = self.parameterAsLayerList(parameters, self.OTHER_LAYERS, context) or []
        if len(layers) > self.MAX_OTHER_LAYERS:
            raise QgsProcessingException(tr("One question can hold at most {n} other layers.").format(
                n=self.MAX_OTHER_LAYERS))
        out = []
        for layer in layers:
            m = modality.detect_layer(layer)
            cands = modality.bundles_for(connection.bundles(), m)
            if not cands:
                raise QgsProcessingException(tr("The backend has no bundle for the layer '{name}' ({modality}).").format(
                    name=layer.name(), modality=m or "?"))
            self.check_fit(cands[0], layer, m)
            out.append((layer, cands[0], m))
        return out

    def check_layer_parameters(self, parameters, context):
        from .. import families, modality

        layer = self.parameterAsLayer(parameters, self.INPUT, context)
        if layer is None:
            return True, ""
        try:
            manifest, m = self.pick(parameters, context, layer)
        except QgsProcessingException as exc:
            return False, str(exc)
        problem = modality.fit_problem(manifest, modality.facts_from_layer(layer), m)
        if problem:
            return False, problem
        if families.of(m).uses_region:
            return check_region(self, parameters, context, layer)
        if parameters.get(self.REGION) not in (None, ""):
            return False, tr("Only a question about a raster can be limited to polygons.")
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import families

        layer = self.parameterAsLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(tr("The input layer is missing or invalid."))
        manifest, m = self.pick(parameters, context, layer)
        self.check_fit(manifest, layer, m)
        prompt = self.parameterAsString(parameters, self.PROMPT, context).strip() or None
        max_tokens = self.parameterAsInt(parameters, self.MAX_TOKENS, context)
        family = families.of(m)
        sel = families.Selection()
        if family.uses_region:
            sel.region = region_of(self, parameters, context, layer)
        elif parameters.get(self.REGION) not in (None, ""):
            raise QgsProcessingException(tr("Only a question about a raster can be limited to polygons."))
        if family.layer_kind == "vector":
            sel.source = self.parameterAsSource(parameters, self.INPUT, context)
        # the same samples as the prompt dock's question (the family's)
        arrays, meta = self.run_guarded(lambda: family.question(layer, m, manifest, sel)())
        others = self.other_items(parameters, context)
        if others:
            return self.ask_together(parameters, context, feedback, [(layer, manifest, arrays, meta)] + [
                (lyr, man, *self.run_guarded(lambda lyr=lyr, man=man, om=om: families.of(om).question(
                    lyr, om, man, families.Selection())())) for lyr, man, om in others], prompt, max_tokens)
        feedback.pushInfo(tr("Asking bundle {name}...").format(name=manifest["name"]))
        res, pieces = self.streamed(feedback, max_tokens, lambda client, on_token: client.ask(
            manifest["name"], arrays, meta, prompt=prompt, text=True, on_token=on_token, max_tokens=max_tokens))
        if res is None or feedback.isCanceled():
            return {}
        answer = (res.get("text") or "".join(pieces)).strip()
        summary = (res.get("summary") or "").strip()
        feedback.pushInfo(tr("Answer: {text}").format(text=answer))
        if summary:
            feedback.pushInfo(summary)
        return self.outputs(parameters, context, prompt or manifest.get("prompts", [""])[0], answer, summary,
                            manifest["name"])

    def ask_together(self, parameters, context, feedback, items, prompt, max_tokens):
        """One question about several layers: every layer's bundle tokens in one LLM context; the answer,
        each layer's head result in words, the bundles used."""
        names = ", ".join(lyr.name() for lyr, *_ in items)
        feedback.pushInfo(tr("Asking one question about {names}...").format(names=names))
        question = prompt or tr("What do these layers show, and how do they relate?")
        res, pieces = self.streamed(feedback, max_tokens, lambda client, on_token: client.ask_together(
            [(man["name"], arrays, meta) for _, man, arrays, meta in items], question, on_token=on_token,
            max_tokens=max_tokens))
        if res is None or feedback.isCanceled():
            return {}
        answer = (res.get("text") or "".join(pieces)).strip()
        summary = "\n".join(f"{lyr.name()}: {(r.get('summary') or '').strip()}"
                             for (lyr, *_), r in zip(items, res.get("results") or []))
        feedback.pushInfo(tr("Answer: {text}").format(text=answer))
        feedback.pushInfo(summary)
        return self.outputs(parameters, context, question, answer, summary,
                            ", ".join(man["name"] for _, man, *_ in items))

    def outputs(self, parameters, context, question: str, answer: str, summary: str, bundles: str) -> dict:
        """The algorithm's outputs; the question, the answer and the summary written to OUTPUT when asked."""
        out = {self.ANSWER: answer, self.SUMMARY: summary, self.BUNDLE_USED: bundles}
        path = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"{question}\n\n{answer}\n\n{summary}\n")
            out[self.OUTPUT] = path
        return out

    def streamed(self, feedback, max_tokens: int, call):
        """call(client, on_token) on a fresh client, the answer's pieces counted into the progress (cancel
        honoured between pieces): (the result, or None when cancelled / failed as run_guarded says; the
        pieces)."""
        from .. import connection, runner

        feedback.setProgress(10)
        client = self.client()
        pieces = []

        def on_token(piece):
            pieces.append(piece)
            if feedback.isCanceled():
                raise runner.Cancelled()
            feedback.setProgress(min(95, 10 + len(pieces) * 85 / max(1, max_tokens)))

        try:
            return self.run_guarded(lambda: call(client, on_token)), pieces
        finally:
            connection._close(client)
