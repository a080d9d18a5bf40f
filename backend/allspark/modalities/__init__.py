"""Modalities: one file each (reader, prompts, tasks, and `build_encoder`); base.py the contract and
registry, options.py every modality's reader options (dataclasses with validation), encoders.py the
shared torch blocks and <name>_encoder(s).py a modality's own torch encoder, imported only by its
`build_encoder` so that listing and reading stay free of torch."""

from .base import (KNOWN, LabelledSet, Modality, Sample, all_modalities, fit_mean_std, get,  # noqa: F401
                   register)
