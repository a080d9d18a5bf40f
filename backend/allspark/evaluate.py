"""`allspark eval`: a bundle's standard metrics on labelled data, through the inference path (llama.cpp
by default), at one or several encoder precisions (fp32 and int8 on CPU; fp32 and fp16 on CUDA)."""

from __future__ import annotations

import inspect
import time

import numpy as np

from . import metrics
from .bundle import resolve_bundle
from .errors import InputError
from .modalities import LabelledSet
from .modalities import get as get_modality


def load_eval_data(bundle_path: str, data: str, labels: str | None = None, split: str = "all",
                   max_samples: int | None = None, seed: int = 0) -> tuple[dict, LabelledSet]:
    """The labelled data; `split="validation"` re-creates the bundle's own validation split (the part
    training never saw: the training run's sample subset, then its split), so evaluating on the
    training data set stays honest; `split="unused"`: the samples the training run's subset (`max_samples`)
    left out, which training never read at all."""
    from .train import capped, sample_subset, split_indices, subset_indices

    bundle = resolve_bundle(bundle_path)
    m = bundle.manifest
    modality = get_modality(m["modality"])
    opts = modality.options(m.get("read_options"))
    if labels:
        opts["labels"] = labels
    if m.get("classes") and m["task"] in ("classification", "pixel_classification") \
            and "classes" in inspect.signature(modality.read_labelled).parameters:
        opts["classes"] = list(m["classes"])  # label value v is the bundle's class v (1-based; 0 = unlabelled)
    ds = modality.read_labelled(data, **opts)
    training = m.get("training", {})
    if split == "unused":  # what the training run's sample subset left out: never read in training
        n, cap = len(ds.samples), training.get("max_samples")
        if not cap or n <= cap:
            raise InputError(f"bundle {m['name']!r} was trained on all {n} samples of this data: none is unused "
                             f"(use --split validation)")
        used = np.zeros(n, bool)
        used[subset_indices(n, cap, training.get("seed", 0))] = True
        ds = ds.subset(np.flatnonzero(~used))
    if split == "validation":
        ds = sample_subset(ds, training.get("max_samples"), training.get("seed", 0))
        _, val_idx = split_indices(ds, training.get("val_fraction", 0.15), training.get("seed", 0))
        ds = ds.subset(val_idx)
    if max_samples and len(ds.samples) > max_samples:
        ds = ds.subset(capped(np.arange(len(ds.samples)), max_samples, seed))
    return m, ds


def score(task: str, manifest: dict, ds: LabelledSet, result: dict) -> dict:
    if task == "classification":
        index = {c: i for i, c in enumerate(manifest["classes"])}
        if ds.classes is not None and list(ds.classes) != list(manifest["classes"]):
            y = np.array([index.get(ds.classes[t], -1) for t in ds.targets])
        else:
            y = ds.targets
        if not (y >= 0).any():
            raise InputError(
                f"no labelled sample can be scored: the data's classes ({_names(ds.classes)}) match none of the "
                f"bundle's ({_names(manifest['classes'])})")
        return metrics.classification(y, result["probabilities"].argmax(1), len(manifest["classes"]))
    if task == "regression":
        return metrics.regression(ds.targets.reshape(len(ds.targets), -1), result["values"])
    if task == "trajectory":
        return metrics.trajectory(ds.targets, result["paths"], result["scores"])
    if task == "forecast":
        return metrics.forecast(ds.targets, result["values"])
    if task == "reid":  # SYSU-MM01's protocol: infrared queries against single-shot visible galleries
        return metrics.reid_protocol(result["embeddings"], ds.targets, **metrics.reid_settings(manifest))
    if task == "depth":
        return metrics.depth(ds.targets, result["depth"])
    if task == "docstring":
        return metrics.docstring(list(ds.targets), result["docstrings"], result.get("similarity"))
    return metrics.classification(ds.targets, result["element_labels"], len(manifest["classes"]))


def encoder_only(engine, loaded, samples, batch: int = 64) -> dict:
    """Head results of a bundle with `head.encoder_skip` from its encoder's head alone (no LLM)."""
    import torch

    from .engine import merge_results
    from .heads import decode

    parts = []
    for i in range(0, len(samples), batch):
        _, encoded = engine.bridge_tokens(loaded, samples[i:i + batch])
        with torch.inference_mode():
            tokens = encoded.tokens.float()
            elements = None if encoded.elements is None else encoded.elements.float()
            out = loaded.model.encoder_head(tokens, tokens.shape[1], elements)
        parts.append(decode(loaded.bundle.manifest["task"], out, loaded.bundle.manifest))
    return merge_results(parts)


def _names(classes, n: int = 6) -> str:
    classes = list(classes or [])
    return ", ".join(map(str, classes[:n])) + (f", ... ({len(classes)} in all)" if len(classes) > n else "")


def evaluate(bundle: str, data: str, labels: str | None = None, runtime: str = "llamacpp",
             precisions=("auto",), llm: str | None = None, device: str = "auto", split: str = "all",
             max_samples: int | None = None, progress=None) -> dict:
    from .engine import Engine

    manifest, ds = load_eval_data(bundle, data, labels, split, max_samples)
    report = {"bundle": manifest["name"], "task": manifest["task"], "data": data, "split": split,
              "samples": len(ds.samples), "runtime": runtime, "results": {}}
    for precision in precisions:
        engine = Engine(llm_path=llm, device=device, runtime=runtime, precision=precision)
        try:
            summary = engine.load_bundle(bundle)
            loaded = engine.loaded[summary["name"]]
            t0 = time.perf_counter()
            result = engine.predict(summary["name"], ds.samples, progress=progress)
            if manifest["task"] == "docstring":  # code search: every reference docstring ranks every function
                result["similarity"] = engine.search(summary["name"], list(ds.targets), ds.samples,
                                                     vectors=result["vectors"])["similarity"]
            seconds = time.perf_counter() - t0
            m = score(manifest["task"], manifest, ds, result)
            m["seconds"] = round(seconds, 2)
            m["samples_per_s"] = round(len(ds.samples) / seconds, 2)
            report["results"][loaded.precision] = m
            if loaded.model.encoder_head is not None and "encoder_only" not in report:
                # what the encoder's own head answers without the LLM: how much the LLM's reading adds
                report["encoder_only"] = score(manifest["task"], manifest, ds, encoder_only(engine, loaded, ds.samples))
        finally:
            engine.close()
    if "fp32" in report["results"] and "int8" in report["results"]:  # positive = int8 is worse
        report["int8_cost"] = metrics.precision_cost(manifest["task"], report["results"]["fp32"],
                                                     report["results"]["int8"])
    return report
