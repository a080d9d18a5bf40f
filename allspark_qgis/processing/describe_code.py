"""allspark:describe_code - scripts and expression files described and searched: a table (no geometry)
with a row per script or function (a CodeXGLUE-style JSON lines file holds many): the docstring the LLM
writes for it and, with a search sentence, how close it is to the sentence and its rank."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)

from ..i18n import N_, tr
from . import base


class DescribeCodeAlgorithm(base.AllSparkAlgorithm):
    SCRIPT, FOLDER, QUERY, OUTPUT = "SCRIPT", "FOLDER", "QUERY", "OUTPUT"
    MODALITIES = ("code",)
    GROUP, GROUP_ID = N_("Code"), "code"

    NAME, DISPLAY_NAME = "describe_code", N_("Describe and search scripts")
    HELP = N_(
        "Writes a one-sentence docstring for a script, an expression file or every script of a folder (Python, "
        "R, SQL, Ruby, JavaScript, QGIS expressions, ...), with a code bundle. With a search sentence, every "
        "script is also ranked by how close it is to the sentence (1 = the closest). The output is a table: "
        "file, function, docstring, similarity and rank."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(self.SCRIPT, tr("Script or expression file"), optional=True))
        self.addParameter(QgsProcessingParameterFile(self.FOLDER, tr("Folder of scripts"),
                                                     behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterString(self.QUERY, tr("Search sentence (optional)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Described scripts"),
                                                            QgsProcessing.TypeVector))

    def check_layer_parameters(self, parameters, context):
        if not (self.parameterAsFile(parameters, self.SCRIPT, context)
                or self.parameterAsFile(parameters, self.FOLDER, context)):
            return False, tr("Choose a script or a folder of scripts.")
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import runner

        path = self.parameterAsFile(parameters, self.SCRIPT, context) or self.parameterAsFile(
            parameters, self.FOLDER, context)
        if not path:
            raise QgsProcessingException(tr("Choose a script or a folder of scripts."))
        manifest = self.bundle(parameters, context)
        query = self.parameterAsString(parameters, self.QUERY, context).strip() or None
        feedback.pushInfo(tr("The LLM reads and describes every script; this takes a few seconds each."))
        result = self.call_backend(lambda client: runner.ask(
            client, manifest["name"], {}, {"path": path}, query, False, self.feedback(feedback, 0, 95)))
        if result is None or feedback.isCanceled():
            return {}
        docs = list(result.get("docstrings") or [])
        functions = list(result.get("functions") or [""] * len(docs))
        sources = list(result.get("sources") or [path] * len(docs))
        sim = result.get("similarity")
        rank = np.empty(len(docs), np.int64)
        if result.get("ranking") is not None:
            rank[np.asarray(result["ranking"], np.int64)] = np.arange(1, len(docs) + 1)
        columns = [("file", "string"), ("function", "string"), ("docstring", "string"), ("similarity", "double"),
                   ("rank", "int")]
        dest_id = self.write_table(parameters, context, self.OUTPUT, columns, (
            [sources[i], functions[i], doc, None if sim is None else float(sim[i]), None if sim is None else int(rank[i])]
            for i, doc in enumerate(docs)))
        feedback.pushInfo(result.get("summary", ""))
        return {self.OUTPUT: dest_id}
