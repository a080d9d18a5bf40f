"""AllSpark for QGIS. QGIS calls classFactory; nothing here imports qgis at module level, so the
protocol (allspark_qgis.protocol: wire, connection_file, client; the backend's allspark_protocol) and
BackendProcess (allspark_qgis.client) import in any Python."""


def classFactory(iface):  # noqa: N802 - QGIS's name
    from .plugin import AllSparkPlugin

    return AllSparkPlugin(iface)
