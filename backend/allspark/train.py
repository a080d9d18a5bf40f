"""`allspark train`: encoder + bridge + head trained against the frozen LLM (torch runtime), then a bundle.

AdamW with a cosine schedule after a linear warm-up; each step draws one of the modality's prompts
at random (the whole batch shares it, so no padding is needed); validation every epoch with the
first prompt (the one used at inference); checkpoints every epoch and resume; fixed seed.
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import metrics, prompts
from .bundle import Bundle, save_bundle
from .errors import AllSparkError, Cancelled, InputError
from .modalities import LabelledSet
from .modalities import get as get_modality

DENSE = ("point_classification", "pixel_classification")


@dataclass
class TrainConfig:
    modality: str
    data: str
    out: str
    task: str | None = None
    name: str | None = None
    llm: str | None = None
    labels: str | None = None  # label raster for raster modalities (0 = unlabelled)
    epochs: int = 10
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    batch_size: int = 8
    seed: int = 0
    val_fraction: float = 0.15
    max_samples: int | None = None
    bridge: dict = field(default_factory=dict)
    encoder: dict = field(default_factory=dict)
    head: dict = field(default_factory=dict)
    read_options: dict = field(default_factory=dict)
    checkpoint_dir: str | None = None
    resume: bool = False
    bf16: bool | None = None  # None: bf16 autocast where the CPU has native bf16 (AVX-512 BF16 / AMX), else fp32
    device: str = "auto"
    threads: int | None = None


def sample_subset(data: "LabelledSet", max_samples: int | None, seed: int) -> "LabelledSet":
    """The samples a run with `max_samples` trains and validates on (a fixed random subset, in order)."""
    if max_samples and len(data.samples) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(data.samples), max_samples, replace=False))
        return data.subset(keep)
    return data


def split_indices(data: "LabelledSet", fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation split by group (scene, tile, month) when the data has groups, else by sample.
    Time-ordered groups (info['split'] == 'time') put the latest groups in validation."""
    n = len(data.samples)
    rng = np.random.default_rng(seed)
    if data.groups is None or len(np.unique(data.groups)) < 2:
        order = rng.permutation(n)
        k = max(1, int(round(n * fraction)))
        return np.sort(order[k:]), np.sort(order[:k])
    groups = np.asarray(data.groups)
    uniq = np.unique(groups)
    uniq = uniq[::-1] if data.info.get("split") == "time" else rng.permutation(uniq)
    val_groups, count = [], 0
    for g in uniq:
        if count >= fraction * n:
            break
        val_groups.append(g)
        count += int((groups == g).sum())
    val = np.isin(groups, val_groups)
    if val.all():
        raise InputError("cannot make a validation split: all samples fall in one group")
    return np.flatnonzero(~val), np.flatnonzero(val)


def target_normalisation(task: str, targets: np.ndarray) -> dict:
    if task == "regression":
        t = targets.reshape(len(targets), -1).astype(np.float64)
        return {"mean": t.mean(0).tolist(), "std": np.maximum(t.std(0), 1e-6).tolist()}
    if task == "trajectory":
        steps = np.diff(np.concatenate([np.zeros_like(targets[:, :1]), targets], 1), axis=1)
        return {"scale": float(max(np.sqrt((steps ** 2).mean()) * 4, 1e-6))}
    return {}


def normalised_targets(task: str, targets: np.ndarray, norm: dict) -> np.ndarray:
    if task == "regression":
        t = targets.reshape(len(targets), -1)
        return ((t - np.asarray(norm["mean"])) / np.asarray(norm["std"])).astype(np.float32)
    if task == "trajectory":
        return (targets / norm["scale"]).astype(np.float32)
    return targets.astype(np.int64)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class PromptEmbeddings:
    """Each prompt's prefix as a KV cache and the suffix's token embeddings, computed once (the LLM is
    frozen, attention causal: the prefix's keys and values don't depend on the sample after it)."""

    def __init__(self, runtime, prompt_list: list[str], device):
        import torch

        self.prefixes = []
        with torch.no_grad():
            for p in prompt_list:
                ids = torch.tensor([prompts.head_prefix(runtime, p)], device=device)
                self.prefixes.append(runtime.prefix_cache(runtime.embed_ids(ids)[0].float()))
            ids = torch.tensor([prompts.head_suffix(runtime)], device=device)
            self.suffix = runtime.embed_ids(ids)[0].float()


def embedding_rms(runtime) -> float:
    """RMS of the LLM's (scaled) input token embeddings: the scale bridge tokens are given. Any runtime."""
    rows = np.asarray(runtime.embed_tokens(range(min(8192, runtime.n_vocab))), np.float64)
    return float(np.sqrt((rows**2).mean()))


def make_manifest(modality, task: str, spec: dict, stats: dict, tnorm: dict, runtime, llm_info: dict,
                  classes=None, targets=None, name: str = "bundle", bridge: dict | None = None,
                  head: dict | None = None, read_options: dict | None = None) -> dict:
    """A new bundle's manifest (weights to come) for `modality` / `task` against the runtime's LLM."""
    prompt_list = list(modality.prompts)
    if hasattr(modality, "prompt_for"):
        prompt_list = [modality.prompt_for(p, classes) for p in prompt_list]
    return {
        "name": name, "modality": modality.name, "task": task,
        "classes": list(classes) if classes is not None and task in ("classification", *DENSE) else None,
        "targets": targets if task == "regression" else None,
        "prompts": prompt_list, "input": spec["input"], "read_options": read_options or {},
        "normalisation": {**stats, "target": tnorm}, "encoder": spec["encoder"],
        "bridge": {"queries": 32, "layers": 3, "heads": 8, "head_dim": 64, "ffn_mult": 4, **(bridge or {}),
                   "output_rms": embedding_rms(runtime)},
        "head": {**({"k": 20, "horizon": 12} if task == "trajectory" else {}), **(head or {})},
        "llm": {"file": llm_info["file"], "sha256": llm_info["sha256"], "n_embd": llm_info["n_embd"],
                "arch": llm_info.get("arch")},
    }


def cpu_has_native_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="ignore").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def llm_forward(runtime, model, inputs, prefix, suffix, bf16: bool):
    """Encoder -> bridge -> LLM after the cached prompt prefix (frozen, differentiable) -> head output."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and suffix.device.type == "cpu"):
        bridge, elements = model.encode(inputs)
        embeds = torch.cat([bridge, suffix.expand(bridge.shape[0], -1, -1).to(bridge.dtype)], 1)
        hidden = runtime.forward_after_prefix(embeds, prefix)
        return model.decide(hidden, elements)


def evaluate_outputs(task: str, outputs: list, targets: np.ndarray, manifest: dict) -> dict:
    """Metrics of head outputs (torch, normalised) against raw targets."""
    import torch

    from .heads import decode

    if task == "trajectory":
        out = decode(task, (torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])), manifest)
        return metrics.trajectory(targets, out["paths"], out["scores"])
    out = decode(task, torch.cat(outputs), manifest)
    if task == "classification":
        return metrics.classification(targets, out["probabilities"].argmax(1), len(manifest["classes"]))
    if task == "regression":
        return metrics.regression(targets.reshape(len(targets), -1), out["values"])
    return metrics.classification(targets, out["element_labels"], len(manifest["classes"]))


def train(cfg: TrainConfig, progress: Callable[[float, str], None] | None = None,
          cancel: threading.Event | None = None, runtime=None) -> Bundle:
    import torch

    from .device import pick_device
    from .llm.default import gguf_info, resolve_llm_path
    from .model import AllSparkModel, to_tensors

    t_start = time.time()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    if cfg.bf16 is None:  # emulated bf16 (AVX2) is several times slower than fp32
        cfg.bf16 = device == "cpu" and cpu_has_native_bf16()
    modality = get_modality(cfg.modality)
    task = cfg.task or modality.tasks[0]
    if task not in modality.tasks:
        raise InputError(f"modality {modality.name} offers tasks {', '.join(modality.tasks)}, not {task!r}")

    read_opts = dict(cfg.read_options)
    if cfg.labels:
        read_opts["labels"] = cfg.labels
    data = modality.read_labelled(cfg.data, **read_opts)
    if len(data.samples) == 0:
        raise InputError(f"no labelled samples in {cfg.data}")
    data = sample_subset(data, cfg.max_samples, cfg.seed)
    train_idx, val_idx = split_indices(data, cfg.val_fraction, cfg.seed)
    train_samples = [data.samples[i] for i in train_idx]

    llm_path = resolve_llm_path(cfg.llm)
    if runtime is None:
        from .llm.torch_runtime import TorchRuntime

        runtime = TorchRuntime(llm_path, device=device)
    info = gguf_info(llm_path)

    spec = modality.default_spec(train_samples)
    # reader options that are also input settings (points per tile, tile size, ...) must agree with the
    # data as read: the encoder's inputs and the targets are shaped by them
    spec["input"].update({k: v for k, v in cfg.read_options.items() if k in spec["input"]})
    spec["encoder"].update(cfg.encoder)
    for s in train_samples[:50]:
        modality.check(s, spec)
    stats = modality.normalise_stats(train_samples, spec)
    tnorm = target_normalisation(task, data.targets[train_idx])
    manifest = make_manifest(modality, task, spec, stats, tnorm, runtime, info, classes=data.classes,
                             targets=data.target_info, name=cfg.name or Path(cfg.out).name, bridge=cfg.bridge,
                             head=cfg.head, read_options=cfg.read_options)
    manifest["trained_on"] = str(cfg.data)
    manifest["training"] = {k: v for k, v in asdict(cfg).items() if k != "out"}
    prompt_list = manifest["prompts"]
    model = AllSparkModel(manifest).to(device)
    n_params = sum(p.numel() for p in model.parameters())

    all_inputs = modality.to_inputs(data.samples, spec, manifest["normalisation"])
    targets = normalised_targets(task, data.targets, tnorm)
    emb = PromptEmbeddings(runtime, prompt_list, device)

    def batch(idx):
        return to_tensors({k: v[idx] for k, v in all_inputs.items()}, device), torch.as_tensor(targets[idx], device=device)

    steps_per_epoch = max(1, math.ceil(len(train_idx) / cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    ckpt_dir = Path(cfg.checkpoint_dir or (str(cfg.out).rstrip("/") + ".ckpt"))
    ckpt = ckpt_dir / "last.pt"
    start_epoch, best, best_state, history = 0, None, None, []
    if cfg.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start_epoch, best, best_state, history = state["epoch"], state["best"], state["best_state"], state["history"]
        torch.set_rng_state(state["rng"])
    head_loss = type(model.head).loss
    say = _reporter(progress)
    say(0.0, f"training {manifest['name']}: {len(train_idx)} train / {len(val_idx)} val samples, "
             f"{n_params / 1e6:.2f} M parameters, {cfg.epochs} epochs")
    rng = np.random.default_rng(cfg.seed + start_epoch)
    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        order = rng.permutation(train_idx)
        losses, t_epoch = [], time.time()
        for i in range(steps_per_epoch):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"training cancelled in epoch {epoch + 1}")
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            if len(idx) == 0:
                continue
            inputs, y = batch(idx)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, cfg.lr)
            p = int(rng.integers(len(prompt_list)))
            out = llm_forward(runtime, model, inputs, emb.prefixes[p], emb.suffix, cfg.bf16)
            out = tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()
            loss = head_loss(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            losses.append(loss.item())
            say((epoch + (i + 1) / steps_per_epoch) / cfg.epochs,
                f"epoch {epoch + 1}/{cfg.epochs} step {i + 1}/{steps_per_epoch} loss {np.mean(losses[-20:]):.4f}")
        val = validate(runtime, model, batch, val_idx, data.targets[val_idx], emb, task, manifest, cfg)
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val": {k: v for k, v in val.items() if k != "confusion"},
                 "seconds": time.time() - t_epoch}
        history.append(entry)
        if metrics.better(task, val, best):
            best = val
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        key = metrics.MAIN_METRIC[task]
        say((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}: loss {entry['loss']:.4f}, val {key} {val[key]:.4f} "
                                      f"(best {best[key]:.4f}), {entry['seconds']:.0f} s")
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1, "best": best,
                    "best_state": best_state, "history": history, "rng": torch.get_rng_state()}, ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)
    manifest["metrics"] = {"validation": {k: v for k, v in (best or {}).items() if k != "confusion"},
                           "split": f"{len(train_idx)} train / {len(val_idx)} validation samples"
                                    + (" by group" if data.groups is not None else ""),
                           "runtime": "torch (training)", "history": history,
                           "train_seconds": round(time.time() - t_start, 1), "parameters": n_params}
    bundle = save_bundle(cfg.out, manifest, best_state or model.state_dict(), dtype=torch.float16)
    say(1.0, f"bundle written to {bundle.path}")
    return bundle


def validate(runtime, model, batch, val_idx, raw_targets, emb, task, manifest, cfg) -> dict:
    import torch

    model.eval()
    outputs = []
    with torch.no_grad():
        for i in range(0, len(val_idx), cfg.batch_size * 2):
            inputs, _ = batch(val_idx[i:i + cfg.batch_size * 2])
            out = llm_forward(runtime, model, inputs, emb.prefixes[0], emb.suffix, cfg.bf16)
            outputs.append(tuple(o.float() for o in out) if isinstance(out, tuple) else out.float())
    return evaluate_outputs(task, outputs, raw_targets, manifest)


def _reporter(progress):
    """Progress to the caller's callback, else a one-line progress bar on stderr."""
    if progress is not None:
        return progress
    last = [0.0]

    def say(fraction: float, message: str):
        now = time.time()
        if message.startswith("epoch") and " step " in message and now - last[0] < 2 and fraction < 1:
            return
        last[0] = now
        bar = "#" * int(fraction * 30)
        end = "\n" if " step " not in message else "\r"
        sys.stderr.write(f"[{bar:<30}] {fraction:6.1%} {message}\033[K{end}")
        sys.stderr.flush()

    return say


__all__ = ["TrainConfig", "train", "AllSparkError"]
