"""What every modality family does on the QGIS side, in the same few functions.

A family (raster, table, trajectory, point cloud; the new modalities add theirs) answers, for a layer
and a bundle of one of its modalities:
- `fit_problem`: why the layer does not fit the bundle (a sentence), or None;
- `question`: the payload of a written question about the layer (the dock and Processing's "ask" call
  the same function, so they send the same samples);
- `prepare`: what a run over the layer does in a background task (`Run.predict`), read on the main
  thread where QGIS requires it (vector features), through a cloned provider otherwise (rasters);
- `add_layers`: the run's result as styled layers;
- `training_problem` / `training_config` / `training_parameters`: what "Train a bundle" needs.

The GUI and the Processing algorithms look the family up (`families.of(modality)`) and call these;
they never branch on modality names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

from ..i18n import tr


@dataclass
class Selection:
    """The part of a layer a run or a question covers, as the user chose it.

    extent: in the layer's CRS (None: all); feature_ids: the selected features of a vector layer (None:
    all); region: the selected polygons of another layer (layers.Region, read on the main thread);
    time_field / id_field: a trajectory layer's fields (None: detected); source: the feature source to
    read (Processing's parameterAsSource; None: the layer); provider: a cloned raster provider for
    reading outside the main thread."""

    extent: Any = None
    feature_ids: list | None = None
    region: Any = None
    time_field: str | None = None
    id_field: str | None = None
    source: Any = None
    provider: Any = None


@dataclass
class Run:
    """A run prepared on the main thread: `predict(client, feedback)` and `question()` are safe to call
    in a QgsTask; `total` counts the run's units (pixels, tiles, rows, tracks) for the progress words;
    `made()` is the map the run made (for the written answer's summary), or None."""

    predict: Callable
    question: Callable
    total: int | None = None
    made: Callable = field(default=lambda: None)


@dataclass
class TrainingInputs:
    """What "Train a bundle" was given, resolved from its parameters (the Processing algorithm reads them)."""

    labels: Any = None          # raster: a point / polygon layer of labels
    label_field: str = ""
    target_field: str = ""      # table
    time_field: str = ""        # trajectory
    id_field: str = ""
    time_units: tuple = ("auto", None)  # trajectory: (units, frame rate)
    patch: int = 64             # scene rasters: patch side in pixels
    per_pixel: bool = False     # rasters: a class for every pixel (dense tiles), not one per patch
    source: Any = None          # the feature source (selected features only, ...)
    transform_context: Any = None
    work: str = ""              # a temporary folder for the files the backend trains on
    feedback: Any = None        # a runner.Feedback for the preparation (writing patches)
    info: Callable = field(default=lambda text: None)  # tells the user what was found


class Family(ABC):
    name = ""
    modalities: tuple = ()
    layer_kind = ""           # the QGIS layer kind its layers are: raster | vector | pointcloud
    uses_region = False       # a run may be limited to the selected polygons of another layer
    uses_track_fields = False  # a time field and a track id field are chosen

    @abstractmethod
    def fit_problem(self, manifest: dict, facts) -> str | None:
        """Why the layer (modality.LayerFacts) does not fit the bundle (a sentence), or None."""

    @abstractmethod
    def question(self, layer, modality: str, manifest: dict, sel: Selection):
        """A callable that returns (arrays, meta) for a written question about the layer."""

    @abstractmethod
    def prepare(self, layer, modality: str, manifest: dict, sel: Selection, out_dir: str) -> Run:
        """What a run over the layer does in a background task (files it writes go to `out_dir`)."""

    @abstractmethod
    def add_layers(self, result, layer, manifest: dict) -> list:
        """The run's result as styled layers (not yet added to the project)."""

    @abstractmethod
    def training_problem(self, layer, modality: str, inputs: TrainingInputs) -> str | None:
        """Why "Train a bundle" cannot train on `layer` with these inputs (a sentence), or None."""

    @abstractmethod
    def training_config(self, layer, modality: str, inputs: TrainingInputs, out_dir: str, name: str,
                        epochs: int) -> dict:
        """The backend's training configuration, the training files written under inputs.work."""

    def is_own_kind(self, layer) -> bool:
        """Whether the layer is of this family's QGIS kind (raster, vector, point cloud)."""
        from ..modality import layer_kind

        return layer_kind(layer) == self.layer_kind

    def training_parameters(self, layer) -> dict:
        """Parameters of "Train a bundle" this family can fill in for `layer` (the dock's Train button)."""
        return {}


class FeatureFieldFamily(Family):
    """A family whose features each hold one input in a field (a text, a video clip's path): a run
    classifies every (selected) feature's input, in payloads of several features (meta `fids` and the
    inputs under `item_key`), and adds a copy of the layer with `pred_class` / `pred_prob`; the written
    answer is about every feature's class (runner.Kept), the LLM reading the first one's input."""

    layer_kind = "vector"
    item_key = ""  # the payload meta key holding the features' inputs

    @abstractmethod
    def input_field(self, layer, source, manifest: dict | None = None, exclude: str | None = None) -> str:
        """The field holding the features' inputs (a LayerError naming what is missing)."""

    @abstractmethod
    def payloads(self, layer, source, manifest: dict, feature_ids=None) -> list:
        """[(arrays, meta)] of the (selected) features' inputs."""

    @abstractmethod
    def training_needs(self) -> str:
        """What "Train a bundle" needs of the layer (a sentence)."""

    def question(self, layer, modality, manifest, sel):
        from .. import layers

        source = sel.source or layer
        (payload,) = self.payloads(layer, source, manifest, layers.first_feature_ids(source, sel.feature_ids))
        return lambda: payload

    def prepare(self, layer, modality, manifest, sel, out_dir):
        from .. import runner

        payloads = self.payloads(layer, sel.source or layer, manifest, sel.feature_ids)  # read now, on this thread
        arrays, first = payloads[0]
        kept = runner.Kept()  # the written answer is about every feature's class, not the one the LLM reads
        return Run(predict=kept.wrap(lambda client, fb: runner.predict_payloads(client, manifest, payloads, fb)),
                   question=lambda: (arrays, {**first, self.item_key: first[self.item_key][:1], "fids": first["fids"][:1]}),
                   total=sum(len(m["fids"]) for _, m in payloads), made=kept.run)

    def add_layers(self, result, layer, manifest):
        from .. import results

        predictions, fids = result
        return [results.copy_with_predictions(layer, predictions, fids, result_name(layer, manifest))]

    def training_problem(self, layer, modality, inputs):
        from .. import layers

        if not self.is_own_kind(layer) or not inputs.target_field:
            return self.training_needs()
        if layer.fields().indexOf(inputs.target_field) < 0:
            return tr("The layer has no field '{field}'.").format(field=inputs.target_field)
        try:
            self.input_field(layer, inputs.source or layer, exclude=inputs.target_field)
        except layers.LayerError as e:
            return str(e)
        return None


def result_name(layer, manifest: dict) -> str:
    """The name of a result layer: "<layer> - <bundle>"."""
    return tr("{layer} - {bundle}").format(layer=layer.name(), bundle=manifest["name"])


def safe_name(name: str) -> str:
    """A name fit for a file or a bundle: letters, digits, - and _ only."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60] or "layer"


def unique_path(path: str) -> str:
    """`path`, or `path` with _2, _3, ... before the extension when a file has the name already."""
    import os

    base, ext = os.path.splitext(path)
    k, out = 1, path
    while os.path.exists(out):
        k += 1
        out = f"{base}_{k}{ext}"
    return out
