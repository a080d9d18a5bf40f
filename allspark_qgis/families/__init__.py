"""The plugin's modality families, one module each (raster, table, trajectory, point cloud, graph, text, video): what the
dock, the context menu and the Processing algorithms do with a layer of a modality, without branching
on modality names. A new modality joins a family's `modalities`, or adds a module with a `FAMILY` and
its line in FAMILIES."""

from __future__ import annotations

from . import graph, pointcloud, raster, table, text, trajectory, video
from .base import Family, Run, Selection, TrainingInputs, safe_name, unique_path

FAMILIES: tuple[Family, ...] = (raster.FAMILY, table.FAMILY, trajectory.FAMILY, pointcloud.FAMILY, graph.FAMILY,
                                text.FAMILY, video.FAMILY)
_BY_MODALITY = {m: f for f in FAMILIES for m in f.modalities}


def of(modality: str | None) -> Family | None:
    """The family of a modality (None for None or a modality the plugin does not know)."""
    return _BY_MODALITY.get(modality or "")


def by_layer_kind(kind: str) -> Family | None:
    """The first family whose layers are of this QGIS kind (raster, vector, pointcloud), for a layer
    whose modality is not known."""
    return next((f for f in FAMILIES if f.layer_kind == kind), None)


def modalities() -> tuple[str, ...]:
    return tuple(_BY_MODALITY)


__all__ = ["FAMILIES", "Family", "Run", "Selection", "TrainingInputs", "by_layer_kind", "modalities", "of", "safe_name",
           "unique_path"]
