"""The contract every modality file fulfils, and the registry that finds them.

A modality answers: what input it accepts (`check`), how it is read from the files users hold
(`read`), how samples become normalised encoder inputs (`to_inputs`), which encoder turns them into
tokens (`build_encoder`), and which prompts and tasks it offers. Adding a modality means adding a
file with a `@register`-ed class and its name in `KNOWN` (and its reader options in options.py); the
core never changes.

What the modality files share is here once: `input_spec` / `encoder_spec` (a bundle's sections over the
class's `input_defaults` / `encoder_defaults`), `options` (reader options checked by the modality's
`options_class`), `fit_mean_std` / `rms_scale` (the normalisation statistics bundles store).
"""

from __future__ import annotations

import importlib
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from .options import Options

# module name -> modality names it registers; imported on demand by all_modalities()/get()
KNOWN = {
    "rgb": ["rgb"],
    "msi": ["msi"],
    "hsi": ["hsi"],
    "sar": ["sar"],
    "table": ["table"],
    "trajectory": ["trajectory"],
    "pointcloud": ["pointcloud"],
    "graph": ["graph"],
    "infrared": ["infrared"],
    "oblique": ["oblique"],
    "text": ["text"],
    "code": ["code"],
    "video": ["video"],
}

_REGISTRY: dict[str, "Modality"] = {}


# payload meta keys that describe the layer or what the client wants back, not how to read the file
PAYLOAD_DESCRIPTION = frozenset({"crs", "layer", "source", "return_xyz", "output_las", "transform", "band_names",
                                 "fids", "track_ids", "time_field", "id_field"})

@dataclass
class Sample:
    """One sample of a modality: arrays, a validity mask and geographic metadata."""

    data: dict[str, np.ndarray]
    mask: np.ndarray | None = None  # True = valid; nodata / NaN -> False
    meta: dict[str, Any] = field(default_factory=dict)  # crs (WKT), transform, units, ids, times, source


@dataclass
class LabelledSet:
    """Training / evaluation data: samples with their targets."""

    samples: list[Sample]
    targets: np.ndarray  # (B,) class ids | (B, T) values | (B, 12, 2) futures | (B, M) element ids
    classes: list[str] | None = None
    target_info: list[dict] | None = None  # [{"name": "PM2.5", "unit": "ug/m3"}]
    groups: np.ndarray | None = None  # (B,) scene / month / tile id for honest validation splits
    info: dict = field(default_factory=dict)

    def subset(self, idx) -> "LabelledSet":
        idx = np.asarray(idx)
        return LabelledSet([self.samples[i] for i in idx], self.targets[idx], self.classes, self.target_info,
                           None if self.groups is None else np.asarray(self.groups)[idx], self.info)


class Modality(ABC):
    name: str = "?"
    title: str = "?"
    layer_kind: str = "raster"  # raster | vector | pointcloud | text
    prompts: list[str] = []
    tasks: list[str] = []
    file_types: list[str] = []  # extensions read() accepts, lower-case with dot
    input_defaults: dict = {}  # a bundle's `input` section before its own settings
    encoder_defaults: dict = {}  # its `encoder` section before its own settings
    options_class: type[Options] | None = None  # the reader options read() / read_labelled() accept

    def baseline_options(self, options: dict) -> dict:
        """The reader options the alternatives (baselines.py) read a bundle's data with: its own."""
        return options

    def task_for(self, options: dict | None) -> str:
        """The task a training run does when none is given, for these reader options (the first task)."""
        return self.tasks[0]

    def payload_options(self, meta: dict | None) -> dict:
        """The reader options of a payload that names a file (meta `path`): its keys less the ones that only
        describe the layer (PAYLOAD_DESCRIPTION: the layer's name, CRS, what the client wants back), unless
        this modality's readers take them; what is left is checked as options() checks it."""
        declared = set(self.options_class.allowed()) if self.options_class is not None else set()
        return self.options({k: v for k, v in (meta or {}).items()
                             if k != "path" and (k in declared or k not in PAYLOAD_DESCRIPTION)})

    def options(self, options: dict | None) -> dict:
        """Reader options checked against `options_class` (an InputError naming a bad key or value), as
        keyword arguments for read() / read_labelled(): what `--options`, a bundle's `read_options`, a job's
        `options` and a training config's `read_options` go through."""
        if self.options_class is None:
            return dict(options or {})
        return self.options_class.from_dict(options, f"{self.name} reader option").kwargs()

    @abstractmethod
    def read(self, path: str, **options) -> list[Sample]:
        """Read samples from a file the user holds."""

    @abstractmethod
    def check(self, sample: Sample, spec: dict) -> None:
        """Raise InputError naming the problem when the sample doesn't fit the bundle's input spec."""

    @abstractmethod
    def normalise_stats(self, samples: Sequence[Sample], spec: dict) -> dict:
        """Statistics fitted on training samples, stored in the bundle's manifest."""

    @abstractmethod
    def to_inputs(self, samples: Sequence[Sample], spec: dict, stats: dict) -> dict[str, np.ndarray]:
        """Batched, normalised encoder inputs (float32 arrays, first axis = sample)."""

    @abstractmethod
    def build_encoder(self, spec: dict):
        """A torch.nn.Module: forward(**inputs as tensors) -> (B, n, d_enc) tokens; spec['encoder']['dim'] = d_enc."""

    @abstractmethod
    def from_payload(self, arrays: dict[str, np.ndarray], meta: dict) -> list[Sample]:
        """Samples from what the plugin sends over the wire (see docs/DESIGN.md, Payloads)."""

    @abstractmethod
    def read_labelled(self, path: str, **options) -> LabelledSet:
        """Training / evaluation data in the formats users and ../shared/data hold."""

    def input_spec(self, spec: dict | None) -> dict:
        """The bundle's `input` section over the modality's `input_defaults`."""
        return merged(self.input_defaults, section(spec, "input"))

    def encoder_defaults_for(self, inp: dict) -> dict:
        """The encoder defaults for an `input` section (one encoder unless a modality picks by input)."""
        return self.encoder_defaults

    def encoder_spec(self, spec: dict | None) -> dict:
        """The bundle's `encoder` section over the defaults for its input (`encoder_defaults_for`)."""
        return merged(self.encoder_defaults_for(self.input_spec(spec)), section(spec, "encoder"))

    def to_tensor_inputs(self, samples: Sequence[Sample], spec: dict, stats: dict) -> dict[str, np.ndarray]:
        """The name docs/DESIGN.md uses for `to_inputs`."""
        return self.to_inputs(samples, spec, stats)

    def prompt_for(self, prompt: "str | dict | None" = None, classes: Sequence[str] | None = None,
                   index: int = 0) -> str:
        """A prompt with "[category list]" filled from `classes` ("a, b, c").

        `prompt`: a prompt string; or a manifest / spec dict whose "prompts" are used; or None for the
        modality's own prompts. `index` picks from a list (0, the inference prompt, by default).
        """
        if isinstance(prompt, str):
            return fill_prompt(prompt, classes)
        prompts = list((prompt or {}).get("prompts") or self.prompts)
        if not prompts:
            return ""
        return fill_prompt(prompts[index % len(prompts)], classes)

    def default_spec(self, samples: Sequence[Sample] | None = None) -> dict:
        """The `input` and `encoder` sections a new bundle of this modality starts from."""
        return {"input": {}, "encoder": {}}

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "layer_kind": self.layer_kind,
            "prompts": list(self.prompts),
            "tasks": list(self.tasks),
            "file_types": list(self.file_types),
        }


# ---- small helpers shared by the modality files -------------------------------------------------

CATEGORY_LIST = "[category list]"


def fill_prompt(prompt: str, classes: Sequence[str] | None) -> str:
    """Replace "[category list]" with the bundle's class names ("a, b, c"); dropped when there are none."""
    if CATEGORY_LIST not in prompt:
        return prompt
    if not classes:
        return prompt.replace(": " + CATEGORY_LIST, "").replace(CATEGORY_LIST, "").rstrip()
    return prompt.replace(CATEGORY_LIST, ", ".join(str(c) for c in classes))


def section(spec: dict | None, name: str) -> dict:
    """spec["input"] / spec["encoder"], or {} when absent."""
    return dict((spec or {}).get(name) or {})


def merged(defaults: dict, given: dict | None) -> dict:
    """`defaults` overridden by the non-None entries of `given`."""
    out = dict(defaults)
    out.update({k: v for k, v in (given or {}).items() if v is not None})
    return out


def fit_mean_std(x, axis: int = 0, floor: float = 1e-6, fallback: float | None = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of `x` along `axis`, ignoring NaN and +-inf: the one fitting of
    normalisation statistics every modality and the trainer use (bundles store the result).

    A standard deviation not above `floor` (or not finite) becomes `fallback` (1.0: a constant column is
    only centred), or `floor` itself when `fallback` is None (clamped, so it can still be divided by).
    A column without a finite value gets mean 0. float64 arrays."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        x = np.where(finite, x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: handled below
        mean = np.nanmean(x, axis=axis)
        std = np.nanstd(x, axis=axis)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    keep = np.isfinite(std) & (std > floor)
    std = np.where(keep, std, floor if fallback is None else fallback)
    return mean, std


def rms_scale(x, fallback: float = 1.0) -> float:
    """One scale for a whole array: its root mean square (the trajectory's lengths, which have no useful
    mean: offsets from the last observed point); `fallback` when that is 0."""
    return float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64))))) or fallback


def target_stats(targets: np.ndarray) -> dict:
    """Mean / std per target column (regression), ignoring NaN; std floored so it can be divided by."""
    t = np.asarray(targets, dtype=np.float64)
    mean, std = fit_mean_std(t.reshape(len(t), -1), floor=1e-8)
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def need_samples(samples: Sequence[Sample], what: str) -> None:
    if not samples:
        raise InputError(f"no {what} samples: the input is empty")


def required_array(sample: "Sample", key: str, what: str) -> np.ndarray:
    """The sample's array `key`, or an InputError saying which input lacks it."""
    value = sample.data.get(key) if sample.data else None
    if value is None:
        raise InputError(f"{what}: sample from {sample.meta.get('source', 'input')} has no '{key}' array")
    return np.asarray(value)


def read_text_file(path, kind: str = "text") -> str:
    """A user's text file (CSV, TSV) as str: UTF-8 (with or without BOM), else Latin-1; an InputError
    naming the file when it is missing, unreadable or binary."""
    import os

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    try:
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                text = f.read()
        except UnicodeDecodeError:
            with open(path, newline="", encoding="latin-1") as f:
                text = f.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}") from None
    if "\x00" in text[:4096]:
        raise InputError(f"cannot read {path}: not a {kind} file")
    return text


def register(cls):
    """Class decorator: make a modality findable by its name."""
    _REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> Modality:
    if name not in _REGISTRY:
        for module, names in KNOWN.items():
            if name in names:
                importlib.import_module(f"{__package__}.{module}")
    if name not in _REGISTRY:
        raise InputError(f"unknown modality {name!r}; known: {', '.join(sorted(n for v in KNOWN.values() for n in v))}")
    return _REGISTRY[name]


def all_modalities() -> list[Modality]:
    for module in KNOWN:
        importlib.import_module(f"{__package__}.{module}")
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]
