"""The engine: one LLM runtime, loaded bundles, and the LaRF pipeline for a batch of samples.

sample -> modality inputs -> encoder -> bridge tokens -> [prompt prefix | bridge | suffix] in the
frozen LLM (the prefix's KV cache shared by the batch) -> hidden states -> head -> result; and,
when asked, the LLM's own text answer, streamed, continuing from the same context.
The CLI and the ZeroMQ service both use this class; one Engine serialises work on its LLM.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import prompts
from .bundle import Bundle, find_bundles, resolve_bundle
from .errors import AllSparkError, BundleError, Cancelled, InputError
from .llm.base import Segment
from .modalities import Modality, Sample
from .modalities import get as get_modality

Progress = Callable[[float, str], None]


@dataclass
class Loaded:
    bundle: Bundle
    modality: Modality
    model: object  # AllSparkModel
    precision: str
    prefix_ids: list[int]
    suffix_ids: list[int]


def merge_results(parts: list[dict]) -> dict:
    """Concatenate per-batch head results along the sample axis: arrays (not scalars) are concatenated,
    per-sample lists (`labels`, `samples`) joined, anything else kept from the first part; a key the
    parts do not share, or arrays that do not line up, become the list of each part's value. The one
    merge the engine, evaluation and the service's jobs use."""
    if not parts:
        return {}
    out = dict(parts[0])
    if len(parts) == 1:
        return out
    for key, value in parts[0].items():
        try:
            if isinstance(value, np.ndarray) and value.ndim > 0:
                out[key] = np.concatenate([np.asarray(p[key]) for p in parts])
            elif key in ("labels", "samples", "docstrings", "functions", "sources"):
                out[key] = [x for p in parts for x in p.get(key, [])]
        except (KeyError, ValueError):
            out[key] = [p.get(key) for p in parts]
    return out


def summarise(result: dict, index: int = 0) -> str:
    """One line in words for sample `index` of a head result (shown to users, fed to the LLM as a note)."""
    task = result.get("task")
    if task == "classification":
        p = result["probabilities"][index]
        order = np.argsort(p)[::-1][:3]
        best = ", ".join(f"{result['classes'][i]} ({p[i]:.0%})" for i in order)
        return f"Classified as {result['classes'][order[0]]}; top classes: {best}."
    if task == "regression":
        vals = result["values"][index]
        return "Predicted " + ", ".join(
            f"{t['name']} = {v:.4g} {t.get('unit', '')}".strip() for t, v in zip(result["targets"], vals)) + "."
    if task == "trajectory":
        s = result["scores"][index]
        end = result["paths"][index, int(s.argmax()), -1]
        return (f"{result['paths'].shape[1]} candidate futures of {result['paths'].shape[2]} steps; the most likely "
                f"({s.max():.0%}) ends {np.hypot(*end):.2f} units from the last observed position.")
    if task in ("point_classification", "pixel_classification"):
        labels = result["element_labels"][index]
        counts = np.bincount(labels[labels >= 0], minlength=len(result["classes"]))
        share = ", ".join(f"{c} {n / max(counts.sum(), 1):.0%}" for c, n in zip(result["classes"], counts) if n)
        return f"Per-element classes: {share}."
    if task == "docstring":  # code: what the LLM wrote, and the search's rank when a sentence was given
        doc = (result.get("docstrings") or [""] * (index + 1))[index] or "(nothing written)"
        name = (result.get("functions") or [""] * (index + 1))[index]
        rank = ""
        if result.get("ranking") is not None:
            rank = f" (rank {int(np.flatnonzero(np.asarray(result['ranking']) == index)[0]) + 1} for the search, " \
                   f"similarity {float(result['similarity'][index]):.2f})"
        return f"{name + ': ' if name else ''}{doc}{rank}"
    if task == "depth":  # (B, pixels) depths of the reference view (oblique photography)
        v = np.asarray(result.get("depth_map", result["depth"])[index], np.float64)
        unit = result.get("unit") or ""
        return (f"Depth of the reference view: from {np.nanmin(v):.4g} to {np.nanmax(v):.4g} {unit} (mean "
                f"{np.nanmean(v):.4g} {unit}) over {int(np.isfinite(v).sum()):,} pixels.").replace(" )", ")")
    if task == "reid":  # an L2-normalised embedding per image (infrared re-identification)
        e = np.asarray(result["embeddings"][index])
        return (f"A {e.shape[-1]}-number appearance embedding of this person (L2-normalised): rank a gallery by "
                f"its distance (allspark rank).")
    if task == "forecast":  # (B, K sensors, H steps) in the data's units
        v = np.asarray(result["values"][index], np.float64)
        unit = ((result.get("targets") or [{}])[0] or {}).get("unit", "")
        u = f" {unit}" if unit else ""
        mins = result.get("horizon_minutes") or list(range(1, v.shape[-1] + 1))
        return (f"Forecast for {v.shape[0]} sensors over the next {mins[-1]:g} min: mean {v[:, 0].mean():.4g}{u} "
                f"at +{mins[0]:g} min, {v[:, -1].mean():.4g}{u} at +{mins[-1]:g} min (lowest sensor "
                f"{v[:, -1].min():.4g}{u}).")
    return ""


def element_coordinates(samples: Sequence[Sample], width: int) -> np.ndarray:
    """(B, width, 3) coordinates (the file's CRS and units) of each sample's elements, NaN-padded, so
    per-point results can become a layer without re-reading the file (LAZ included)."""
    out = np.full((len(samples), width, 3), np.nan)
    for i, s in enumerate(samples):
        xyz = np.asarray(s.meta["xyz"], np.float64)[:width]
        out[i, :len(xyz)] = xyz
    return out


def representative(result: dict) -> int:
    """The sample whose bridge tokens the LLM reads beside the whole run's summary: the most confident
    sample of the commonest class; for regression the one nearest the median; else the first."""
    task = result.get("task")
    if task == "classification":
        p = np.asarray(result["probabilities"])
        idx = p.argmax(1)
        common = np.bincount(idx).argmax()
        conf = np.where(idx == common, p.max(1), -1.0)
        return int(conf.argmax())
    if task == "regression":
        v = np.asarray(result["values"])[:, 0]
        return int(np.abs(v - np.median(v)).argmin())
    return 0


SENTENCE_END = re.compile(r"[.!?;](?=\s)\s*")


class Engine:
    def __init__(self, llm_path: str | None = None, device: str = "auto", bundles_dir: str | None = None,
                 runtime: str = "llamacpp", precision: str = "auto", batch_size: int = 16, threads: int | None = None):
        from .device import pick_device

        self.device = pick_device(device)
        self.runtime_kind = runtime
        self.precision = precision
        self.batch_size = max(1, int(batch_size))
        self.threads = threads
        self.bundles_dir = [Path(p) for p in ([bundles_dir] if isinstance(bundles_dir, (str, os.PathLike)) else (bundles_dir or []))]
        from .llm.default import resolve_llm_path

        self.llm_path = resolve_llm_path(llm_path)
        self._runtime = None
        self._llm_info = None
        self.loaded: dict[str, Loaded] = {}
        self.lock = threading.RLock()  # one LLM, one user of it at a time

    # ---- the LLM -------------------------------------------------------------------------------
    @property
    def runtime(self):
        with self.lock:
            if self._runtime is None:
                from .llm import open_runtime

                kwargs = {"n_threads": self.threads} if self.runtime_kind == "llamacpp" and self.threads else {}
                self._runtime = open_runtime(self.runtime_kind, self.llm_path, device=self.device, **kwargs)
            return self._runtime

    def llm_info(self) -> dict:
        if self._llm_info is None:
            from .llm.default import gguf_info

            self._llm_info = gguf_info(self.llm_path)
        return self._llm_info

    def close(self) -> None:
        with self.lock:
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None

    # ---- bundles -------------------------------------------------------------------------------
    def list_bundles(self) -> list[dict]:
        return [{**b.summary(), "loaded": b.name in self.loaded} for b in find_bundles(self.bundles_dir)]

    def load_bundle(self, name_or_path: str) -> dict:
        from .model import AllSparkModel
        from .quantize import for_inference

        bundle = resolve_bundle(name_or_path, self.bundles_dir)
        bundle.check_llm(self.llm_info())
        with self.lock:
            if bundle.name in self.loaded and self.loaded[bundle.name].bundle.path == bundle.path:
                return bundle.summary()
            model = AllSparkModel(bundle.manifest)
            state = bundle.load_state()
            try:
                model.load_state_dict({k: v.float() for k, v in state.items()})
            except RuntimeError as exc:
                raise BundleError(f"bundle {bundle.name!r}: weights do not fit its manifest ({str(exc)[:300]})") from exc
            model, precision = for_inference(model, self.device, self.precision,
                                             preferred=(bundle.manifest.get("inference") or {}).get(self.device))
            prefix, suffix = prompts.head_ids(self.runtime, bundle.manifest["prompts"][0])
            self.loaded[bundle.name] = Loaded(bundle, get_modality(bundle.manifest["modality"]), model,
                                              precision, prefix, suffix)
        return bundle.summary()

    def unload_bundle(self, name: str) -> None:
        with self.lock:
            if self.loaded.pop(name, None) is None:
                raise BundleError(f"bundle {name!r} is not loaded")

    def _get(self, name_or_path: str) -> Loaded:
        if name_or_path not in self.loaded:
            summary = self.load_bundle(name_or_path)
            return self.loaded[summary["name"]]
        return self.loaded[name_or_path]

    # ---- inputs --------------------------------------------------------------------------------
    def read(self, bundle: str, path: str, **options) -> list[Sample]:
        loaded = self._get(bundle)
        options = {**loaded.bundle.manifest.get("read_options", {}), **options}
        return loaded.modality.read(path, **loaded.modality.options(options))

    def read_payload_file(self, bundle: str, meta: dict) -> list[Sample]:
        """Samples of a payload that names a file (meta `path`): read with the payload's reader options,
        the keys that only describe the layer set aside (Modality.payload_options)."""
        loaded = self._get(bundle)
        options = {**loaded.bundle.manifest.get("read_options", {}), **loaded.modality.payload_options(meta)}
        return loaded.modality.read(meta["path"], **loaded.modality.options(options))

    def from_payload(self, bundle: str, arrays: dict, meta: dict) -> list[Sample]:
        """Samples from a plugin's payload, read the way the bundle was trained (its `read_options`, e.g. a
        pixel's neighbourhood) unless the payload says otherwise."""
        loaded = self._get(bundle)
        meta = {**loaded.bundle.manifest.get("read_options", {}), **(meta or {})}
        return loaded.modality.from_payload(arrays, meta)

    # ---- the pipeline --------------------------------------------------------------------------
    def bridge_tokens(self, loaded: Loaded, samples: Sequence[Sample]):
        """Encoder + bridge for a batch: (bridge tokens (B, N, D) float32 numpy, the encoder's output)."""
        import torch

        from .model import to_tensors

        m = loaded.bundle.manifest
        spec = {"input": m["input"], "encoder": m["encoder"]}
        if getattr(loaded.modality, "reads_llm_tokens", False):  # text: the LLM's own token embeddings
            ids = loaded.modality.token_ids(samples, self.runtime, spec)
            return [self.runtime.embed_tokens(i) for i in ids], None
        for s in samples:
            loaded.modality.check(s, spec)
        inputs = to_tensors(loaded.modality.to_inputs(samples, spec, m["normalisation"]), self.device)
        if loaded.precision == "fp16":
            inputs = {k: v.half() if v.is_floating_point() else v for k, v in inputs.items()}
        with torch.inference_mode():
            tokens, encoded = loaded.model.encode(inputs)
        return tokens.float().cpu().numpy(), encoded

    def predict(self, bundle: str, samples: Sequence[Sample], progress: Progress | None = None,
                cancel: threading.Event | None = None, timing: dict | None = None) -> dict:
        """Head results for all samples, in batches that share the prompt prefix's KV cache."""
        import torch

        from .heads import decode

        if not samples:
            raise InputError("no samples to run: the input is empty")
        loaded = self._get(bundle)
        task = loaded.bundle.manifest["task"]
        parts, t = [], {"encode_s": 0.0, "llm_s": 0.0, "head_s": 0.0}
        n = len(samples)
        for start in range(0, n, self.batch_size):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"cancelled after {start} of {n} samples")
            chunk = samples[start:start + self.batch_size]
            t0 = time.perf_counter()
            reads_tokens = getattr(loaded.modality, "reads_llm_tokens", False)
            if reads_tokens:  # text, code: the LLM reads the sample's own tokens, no encoder
                m = loaded.bundle.manifest
                token_ids = loaded.modality.token_ids(chunk, self.runtime, {"input": m["input"], "encoder": m["encoder"]})
                inputs = [Segment(ids=i) for i in token_ids]
                encoded = None
            else:
                tokens, encoded = self.bridge_tokens(loaded, chunk)
                inputs = [Segment(embeds=b) for b in tokens]
            t1 = time.perf_counter()
            with self.lock:
                hidden = self.runtime.sample_hidden_batch(
                    loaded.prefix_ids, [[x, Segment(ids=loaded.suffix_ids)] for x in inputs])
            t2 = time.perf_counter()
            if reads_tokens:
                from .modalities.tokens import pooled_rows

                hidden = pooled_rows(hidden, len(loaded.suffix_ids))
            with torch.inference_mode():
                h = torch.as_tensor(np.stack(hidden), device=self.device)
                part = decode(task, loaded.model.decide(h, encoded), loaded.bundle.manifest)
            if task == "docstring":  # code: the LLM writes each function's docstring
                with self.lock:
                    part["docstrings"] = self._docstrings(loaded, token_ids, cancel)
                part["functions"] = [str(s.meta.get("func_name") or s.meta.get("source") or "") for s in chunk]
                part["sources"] = [str(s.meta.get("source") or "") for s in chunk]
            if "element_labels" in part and all("xyz" in s.meta for s in chunk):
                part["element_xyz"] = element_coordinates(chunk, part["element_labels"].shape[1])
            place = getattr(loaded.modality, "place_result", None)  # e.g. trajectory paths in the input's CRS
            if place is not None:
                part.update(place(chunk, part))
            parts.append(part)
            t3 = time.perf_counter()
            t["encode_s"] += t1 - t0
            t["llm_s"] += t2 - t1
            t["head_s"] += t3 - t2
            if progress is not None:
                progress(min(start + self.batch_size, n) / n, f"{min(start + self.batch_size, n)} of {n} samples")
        if timing is not None:
            timing.update(t)
        return merge_results(parts)

    def _docstrings(self, loaded: Loaded, token_ids, cancel) -> list[str]:
        from .modalities.code import demonstration_ids, write_docstrings

        m = loaded.bundle.manifest
        demos = (m.get("head") or {}).get("demonstrations") or []
        spec = {"input": m["input"], "encoder": m["encoder"]}
        demo_ids = loaded.modality.token_ids([loaded.modality.sample(d["code"]) for d in demos], self.runtime, spec) \
            if demos else []
        prefix = demonstration_ids(self.runtime, m["prompts"][0], demos, demo_ids)
        return write_docstrings(self.runtime, prefix, token_ids, int(m["input"].get("docstring_tokens", 32)), cancel)

    def search(self, bundle: str, sentences: Sequence[str], samples: Sequence[Sample],
               vectors: np.ndarray | None = None) -> dict:
        """Code search: the functions (`samples`) ranked for each sentence, most similar first (cosine of the
        bundle's search vectors; `vectors`: the functions' when already computed):
        {"ranking": (Q, N) int, "similarity": (Q, N) float32}."""
        import torch

        from .modalities.tokens import pooled_rows

        loaded = self._get(bundle)
        if loaded.bundle.manifest["task"] != "docstring":
            raise InputError(f"bundle {bundle!r} does not search code (task {loaded.bundle.manifest['task']})")
        m = loaded.bundle.manifest
        spec = {"input": m["input"], "encoder": m["encoder"]}
        ids = loaded.modality.query_ids(sentences, self.runtime, spec)
        code = self.vectors(bundle, samples) if vectors is None else np.asarray(vectors, np.float32)
        prefix, suffix = prompts.head_ids(self.runtime, loaded.modality.query_prompt)
        with self.lock:
            hidden = self.runtime.sample_hidden_batch(prefix, [[Segment(ids=i), Segment(ids=suffix)] for i in ids])
        with torch.inference_mode():
            q = loaded.model.head.query(torch.as_tensor(pooled_rows(hidden, len(suffix)))).numpy()
        sim = (q @ code.T).astype(np.float32)
        return {"ranking": np.argsort(-sim, axis=1, kind="stable"), "similarity": sim}

    def vectors(self, bundle: str, samples: Sequence[Sample]) -> np.ndarray:
        """(N, d) the code-search vectors of functions (no docstrings written)."""
        import torch

        from .modalities.tokens import pooled_rows

        loaded = self._get(bundle)
        m = loaded.bundle.manifest
        ids = loaded.modality.token_ids(samples, self.runtime, {"input": m["input"], "encoder": m["encoder"]})
        out = []
        for start in range(0, len(ids), self.batch_size):
            part = ids[start:start + self.batch_size]
            with self.lock:
                hidden = self.runtime.sample_hidden_batch(
                    loaded.prefix_ids, [[Segment(ids=i), Segment(ids=loaded.suffix_ids)] for i in part])
            with torch.inference_mode():
                out.append(loaded.model.head(torch.as_tensor(pooled_rows(hidden, len(loaded.suffix_ids))), 1).numpy())
        return np.concatenate(out).astype(np.float32)

    def ask(self, bundle: str, samples: Sequence[Sample], prompt: str | None = None, text: bool = False,
            on_token: Callable[[str], None] | None = None, max_tokens: int = 96,
            cancel: threading.Event | None = None, run: dict | None = None) -> dict:
        """Head result for the samples, the whole run in numbers (`summary_stats`) and in one line
        (`summary`); with `text`, the LLM's written answer, asked with that summary and the question
        (`prompt`) and held to it: `text` keeps what the numbers support, `text_raw` is what the LLM
        wrote, `text_dropped` the sentences left out and why. `run`: the whole run's result when a
        client made it in parts (outputs.run_stats); the summary and the answer are then about it."""
        from .outputs import run_stats, summary_stats, summary_text

        timing: dict = {}
        result = self.predict(bundle, samples, cancel=cancel, timing=timing)
        if result.get("task") == "docstring" and prompt:  # code: the question is a search sentence
            found = self.search(bundle, [prompt], samples, vectors=result["vectors"])
            result["ranking"], result["similarity"] = found["ranking"][0], found["similarity"][0]
            result["query"] = prompt
        if result.get("task") == "reid" and any(s.meta.get("query") for s in samples):  # infrared: rank the gallery
            from .modalities.infrared import rank_samples

            result.update(rank_samples(result["embeddings"], samples))
        stats = result["summary_stats"] = run_stats(run) if run else summary_stats(result, samples)
        result["summary"] = summary_text(stats)
        if text and result.get("task") == "docstring":  # code: the answer is what the LLM wrote
            result["text"] = result["text_raw"] = result["summary"]
            result["text_dropped"] = []
        elif text:
            loaded = self._get(bundle)
            first_prompt = loaded.bundle.manifest["prompts"][0]
            tokens, _ = self.bridge_tokens(loaded, [samples[representative(result)]])
            question = prompt or first_prompt
            with self.lock:
                ctx = prompts.context(self.runtime, [(first_prompt, tokens[0])], question=question,
                                      note=prompts.result_note(result["summary"]))
                result["text"], result["text_raw"], result["text_dropped"] = self._answer(
                    ctx, on_token, max_tokens, cancel, [stats])
        result["timing"] = timing
        return result

    def ask_together(self, items: Sequence[tuple[str, Sequence[Sample]]], question: str,
                     on_token: Callable[[str], None] | None = None, max_tokens: int = 96,
                     cancel: threading.Event | None = None) -> dict:
        """One question about several inputs at once (e.g. two layers; items (bundle, samples) or (bundle,
        samples, run)): each input's head result and whole-run summary, and one LLM context holding every input's bridge tokens behind its own prompt, every
        input's summary, then the question; the answer is held to the inputs' numbers (see ask)."""
        from .outputs import run_stats, summary_stats, summary_text

        if len(items) < 1:
            raise InputError("ask_together needs at least one (bundle, samples) pair")
        results, parts, notes = [], [], []
        for i, (bundle, samples, *rest) in enumerate(items):
            run = rest[0] if rest else None  # the whole run's result when a client made it in parts (see ask)
            res = self.predict(bundle, samples, cancel=cancel)
            res["summary_stats"] = run_stats(run) if run else summary_stats(res, samples)
            res["summary"] = summary_text(res["summary_stats"])
            loaded = self._get(bundle)
            tokens, _ = self.bridge_tokens(loaded, [samples[representative(res)]])
            parts.append((loaded.bundle.manifest["prompts"][0], tokens[0]))
            notes.append(prompts.result_note(res["summary"], f"Input {i + 1} ({loaded.bundle.manifest['modality']})"))
            results.append(res)
        with self.lock:
            ctx = prompts.context(self.runtime, parts, question=question, note="\n".join(notes))
            text, raw, dropped = self._answer(ctx, on_token, max_tokens, cancel, [r["summary_stats"] for r in results])
        return {"results": results, "text": text, "text_raw": raw, "text_dropped": dropped,
                "context_tokens": sum(len(s) for s in ctx)}

    def _answer(self, ctx, on_token, max_tokens: int, cancel, stats: list[dict]) -> tuple[str, str, list[dict]]:
        """The LLM's answer, one line (a small base LLM otherwise runs on into lists), streamed sentence by
        sentence: a sentence the results do not support, or one that only restates the summary's list,
        is left out (outputs.ground_answer). Returns (answer, what the LLM wrote, [dropped sentences])."""
        from .outputs import ground_answer

        raw, pending, kept, dropped = "", "", "", []

        def settle(sentence: str) -> None:
            nonlocal kept
            ok, why = ground_answer(sentence, stats)
            if ok:
                piece = sentence if kept or not sentence[:1].isspace() else sentence.lstrip()
                kept += piece
                if on_token is not None:
                    on_token(piece)
            dropped.extend(why)

        for piece in self.runtime.generate(ctx, max_tokens=max_tokens):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled while writing the answer")
            last = bool(raw.strip()) and "\n" in piece
            if last:
                piece = piece.split("\n", 1)[0]
            raw += piece
            pending += piece
            while (m := SENTENCE_END.search(pending)) is not None:
                settle(pending[:m.end()])
                pending = pending[m.end():]
            if last:
                break
        if pending.strip():
            settle(pending)
        return kept.strip(), raw.strip(), dropped

    def health(self) -> dict:
        import psutil

        info = self.llm_info()
        return {
            "device": self.device,
            "runtime": self.runtime_kind,
            "llm": {"file": info.get("file"), "path": str(self.llm_path), "n_embd": info.get("n_embd"),
                    "sha256": info.get("sha256"), "loaded": self._runtime is not None},
            "bundles": {n: {"precision": l.precision, "modality": l.bundle.manifest["modality"],
                            "task": l.bundle.manifest["task"]} for n, l in self.loaded.items()},
            "memory_rss_mb": psutil.Process().memory_info().rss / 2**20,
        }

    def train(self, config: dict, progress: Progress | None = None, cancel: threading.Event | None = None) -> dict:
        """Train a bundle (see allspark.train.train) against this engine's LLM; returns its summary."""
        from .train import TrainConfig, train

        cfg = TrainConfig.from_dict({**config, "llm": str(self.llm_path)})
        bundle = train(cfg, progress=progress, cancel=cancel)
        return bundle.summary()


__all__ = ["Engine", "AllSparkError", "merge_results", "summarise"]
