"""allspark:find_person - an infrared image of a person searched for in a folder of visible-light images
(cross-modality re-identification, an infrared bundle): a table (no geometry) of the gallery images
nearest to the person, best first: rank, file, distance, and the person / camera when the gallery's
folders name them (SYSU-MM01's layout, or a folder per person)."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)

from ..i18n import N_, tr
from . import base


class FindPersonAlgorithm(base.AllSparkAlgorithm):
    QUERY, GALLERY, TOP_K, OUTPUT = "QUERY", "GALLERY", "TOP_K", "OUTPUT"
    MODALITIES = ("infrared",)
    TASKS = ("reid",)
    GROUP, GROUP_ID = N_("Infrared"), "infrared"

    NAME, DISPLAY_NAME = "find_person", N_("Find a person in visible images")
    HELP = N_(
        "Searches a folder of visible-light images of people (chips; or a folder per person; or a SYSU-MM01 "
        "folder) for the person in an infrared image, with an infrared re-identification bundle. The output "
        "is a table of the nearest images, best first: rank, file and distance (0 = the same appearance, "
        "2 = the most different), and the person and camera where the gallery's folders name them."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        query = QgsProcessingParameterFile(self.QUERY, tr("Infrared image of the person"))
        query.setHelp(tr("One image file (JPEG, PNG, BMP, TIFF) taken in infrared light."))
        self.addParameter(query)
        gallery = QgsProcessingParameterFile(self.GALLERY, tr("Folder of visible-light images"),
                                             behavior=QgsProcessingParameterFile.Folder)
        gallery.setHelp(tr("Image chips of people, a folder per person, or a SYSU-MM01 folder (cam1 .. cam6)."))
        self.addParameter(gallery)
        self.add_bundle_parameter()
        self.addParameter(QgsProcessingParameterNumber(self.TOP_K, tr("Number of matches"),
                                                       QgsProcessingParameterNumber.Integer, 10, minValue=1))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Matches"), QgsProcessing.TypeVector))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import runner

        query = self.parameterAsFile(parameters, self.QUERY, context)
        gallery = self.parameterAsFile(parameters, self.GALLERY, context)
        if not query or not gallery:
            raise QgsProcessingException(tr("Choose an infrared image and a folder of visible-light images."))
        top_k = max(1, self.parameterAsInt(parameters, self.TOP_K, context))
        manifest = self.bundle(parameters, context)
        feedback.pushInfo(tr("Reading the gallery and ranking it for the person; a few images a second."))
        result = self.call_backend(lambda client: runner.ask(
            client, manifest["name"], {}, {"path": gallery, "query": query}, None, False,
            self.feedback(feedback, 0, 95)))
        if result is None or feedback.isCanceled():
            return {}
        if result.get("ranking") is None:
            raise QgsProcessingException(tr("The bundle '{name}' gave no ranking for the image.").format(
                name=manifest["name"]))
        order = np.asarray(result["ranking"], np.int64)[:top_k]
        files = list(result.get("gallery_files") or [])
        dist = np.asarray(result["distances"], np.float64)
        extra = [(key, name) for key, name in (("gallery_persons", "person"), ("gallery_cameras", "camera"))
                 if result.get(key) is not None]
        columns = [("rank", "int"), ("file", "string"), ("distance", "double")] + [(n, "int") for _, n in extra]

        def row(rank, j):
            known = [int(np.asarray(result[key])[j]) for key, _ in extra]
            return [rank, files[j], float(dist[j])] + [v if v >= 0 else None for v in known]

        dest_id = self.write_table(parameters, context, self.OUTPUT, columns,
                                   (row(rank, j) for rank, j in enumerate(order, start=1)))
        feedback.setProgress(100)
        feedback.pushInfo(result.get("summary", ""))
        return {self.OUTPUT: dest_id}
