"""Modalities: one file each (reader + encoder + prompts + tasks)."""

from .base import KNOWN, LabelledSet, Modality, Sample, all_modalities, get, register  # noqa: F401
