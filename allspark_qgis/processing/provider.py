"""The `allspark` Processing provider."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider

from ..i18n import tr
from ..icons import icon, icon_path


class AllSparkProvider(QgsProcessingProvider):
    def id(self):
        return "allspark"

    def name(self):
        return tr("AllSpark")

    def longName(self):  # noqa: N802
        return tr("AllSpark multimodal model")

    def icon(self):
        return icon("allspark")

    def svgIconPath(self):  # noqa: N802
        return icon_path("allspark")

    def supportedOutputPointCloudLayerExtensions(self):  # noqa: N802
        return ["copc.laz"]  # the point clouds the algorithms write are COPC, which QGIS opens without PDAL

    def loadAlgorithms(self):  # noqa: N802
        from .ask import AskAlgorithm
        from .classify_pixels import ClassifyPixelsAlgorithm
        from .classify_pointcloud import ClassifyPointCloudAlgorithm
        from .classify_raster import ClassifyRasterAlgorithm
        from .convert_to_copc import ConvertToCopcAlgorithm
        from .depth_from_views import DepthFromViewsAlgorithm
        from .describe_code import DescribeCodeAlgorithm
        from .find_person import FindPersonAlgorithm
        from .predict_attribute import PredictAttributeAlgorithm
        from .predict_trajectories import PredictTrajectoriesAlgorithm
        from .train_bundle import TrainBundleAlgorithm

        for cls in (
            ClassifyRasterAlgorithm,
            ClassifyPixelsAlgorithm,
            PredictTrajectoriesAlgorithm,
            PredictAttributeAlgorithm,
            ClassifyPointCloudAlgorithm,
            ConvertToCopcAlgorithm,
            DescribeCodeAlgorithm,
            DepthFromViewsAlgorithm,
            FindPersonAlgorithm,
            AskAlgorithm,
            TrainBundleAlgorithm,
        ):
            self.addAlgorithm(cls())
