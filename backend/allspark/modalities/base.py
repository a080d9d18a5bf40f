"""The contract every modality file fulfils, and the registry that finds them.

A modality answers: what input it accepts (`check`), how it is read from the files users hold
(`read`), how samples become normalised encoder inputs (`to_inputs`), which encoder turns them into
tokens (`build_encoder`), and which prompts and tasks it offers. Adding a modality means adding a
file with a `@register`-ed class and its name in `KNOWN`; the core never changes.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InputError

# module name -> modality names it registers; imported on demand by all_modalities()/get()
KNOWN = {
    "rgb": ["rgb"],
    "msi": ["msi"],
    "hsi": ["hsi"],
    "sar": ["sar"],
    "table": ["table"],
    "trajectory": ["trajectory"],
    "pointcloud": ["pointcloud"],
}

_REGISTRY: dict[str, "Modality"] = {}


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


def target_stats(targets: np.ndarray) -> dict:
    """Mean / std per target column (regression), ignoring NaN; std floored so it can be divided by."""
    t = np.asarray(targets, dtype=np.float64)
    t = t.reshape(len(t), -1)
    mean = np.nanmean(t, axis=0)
    std = np.nanstd(t, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
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
