"""AllSpark for QGIS. QGIS calls classFactory; nothing here imports qgis at module level, so the
wire protocol (allspark_qgis.wire) and client (allspark_qgis.client) import in any Python."""


def classFactory(iface):  # noqa: N802 - QGIS's name
    from .plugin import AllSparkPlugin

    return AllSparkPlugin(iface)
