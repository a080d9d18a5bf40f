"""`allspark train`: a bundle in two stages, then its honest figures.

Splits (three, by group where the data has groups: spatial blocks, months, scenes, files): the
*validation* split (`val_fraction`) is cut first and only reported, never used to choose anything;
the rest is cut again into *training* and *model selection* (`select_fraction`), which picks the
epoch of each stage.

Stage 1 (`pretrain_epochs`, no LLM): the modality encoder with a temporary light head of the bundle's
task reading the encoder's own tokens: many cheap epochs with the modality's augmentation.
Stage 2 (`epochs`): bridge + head through the frozen LLM (torch runtime, the same GGUF); the
encoder frozen (its outputs computed once and cached) unless `encoder_lr` > 0. Each step draws one
of the modality's prompts (the batch shares it); the prompt prefix's KV cache is computed once.

Both stages use AdamW with a cosine schedule after a linear warm-up, a class-balanced loss where
the task has classes (`class_balance`), and the loss of the reported metric (MSE for RMSE).
Checkpoints go to the cache (`~/.cache/allspark/checkpoints/<name>`), resume with `resume`, and are
removed once the bundle is written (`keep_checkpoints` keeps them). Fixed seed.
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
from .atomic import atomic_path
from .bundle import Bundle, save_bundle
from .errors import AllSparkError, Cancelled, InputError
from .modalities import LabelledSet, fit_mean_std
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
    epochs: int = 10  # stage 2: through the LLM
    lr: float = 3e-4
    pretrain_epochs: int = 60  # stage 1: encoder + a temporary head, no LLM (0: skip, the encoder trains in stage 2)
    pretrain_lr: float = 1e-3
    pretrain_batch_size: int = 64
    encoder_lr: float = 0.0  # stage 2's encoder learning rate after stage 1 (0: frozen, outputs cached)
    class_balance: bool = True  # classes weighted by 1 / sqrt(frequency) in the loss
    select_fraction: float = 0.15  # model selection (picks epochs), cut from what validation leaves
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    batch_size: int = 8
    seed: int = 0
    val_fraction: float = 0.15
    max_samples: int | None = None
    llm_max_samples: int | None = None  # stage 2 trains on at most this many of the training samples (fixed subset)
    score_max_samples: int | None = 3000  # stage 2 scores at most this many model-selection / validation samples
    bridge: dict = field(default_factory=dict)
    encoder: dict = field(default_factory=dict)
    head: dict = field(default_factory=dict)
    read_options: dict = field(default_factory=dict)
    checkpoint_dir: str | None = None
    keep_checkpoints: bool = False
    resume: bool = False
    bf16: bool | None = None  # None: bf16 autocast where the CPU has native bf16 (AVX-512 BF16 / AMX), else fp32
    device: str = "auto"
    threads: int | None = None
    cpu_precision: str = "int8"  # what `auto` runs the encoder in on the CPU (fp32 where int8 costs accuracy)

    @classmethod
    def from_dict(cls, config: dict) -> "TrainConfig":
        """Training settings sent as an object (the service's `train`, a Processing run): each key must be
        one of the settings and hold the right kind of value; anything else is an input error naming the
        key (never a crash inside training)."""
        import dataclasses

        if not isinstance(config, dict):
            raise InputError("the training settings must be an object of setting: value")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise InputError(f"unknown training setting(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        missing = [k for k in ("modality", "data", "out") if not config.get(k)]
        if missing:
            raise InputError(f"the training settings need {', '.join(map(repr, missing))}")
        values = {}
        for key, value in config.items():
            values[key] = _setting(key, str(known[key].type), value)
        # the reader options are checked against the modality's (an InputError naming the option)
        get_modality(values["modality"]).options(values.get("read_options"))
        return cls(**values)


def _setting(key: str, kind: str, value):
    """`value` as the setting's declared kind ("int", "float | None", "dict", ...) or an InputError naming
    the key. Numbers may come as numeric strings (a form field); booleans only as true/false."""
    if value is None:
        if "None" in kind:
            return None
        raise InputError(f"training setting {key!r} needs a value")
    base = kind.split("|")[0].strip()
    try:
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
            return out
        if base == "dict":
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
        if base == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        raise InputError(f"training setting {key!r} must be {_KIND_WORDS.get(base, base)}, "
                         f"not {value!r}") from None
    return value


_KIND_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "dict": "an object",
               "str": "text"}


def subset_indices(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    """The indexes of the samples a run with `max_samples` reads of `n` (a fixed random subset, in order)."""
    if max_samples and n > max_samples:
        return np.sort(np.random.default_rng(seed).choice(n, max_samples, replace=False))
    return np.arange(n)


def sample_subset(data: "LabelledSet", max_samples: int | None, seed: int) -> "LabelledSet":
    """The samples a run with `max_samples` trains and validates on (a fixed random subset, in order)."""
    if max_samples and len(data.samples) > max_samples:
        return data.subset(subset_indices(len(data.samples), max_samples, seed))
    return data


def capped(idx: np.ndarray, n: int | None, seed: int = 0) -> np.ndarray:
    """At most `n` of `idx`: a fixed random subset in order (as `allspark eval --max-samples` draws it)."""
    idx = np.asarray(idx)
    if n and len(idx) > n:
        return idx[np.sort(np.random.default_rng(seed).choice(len(idx), n, replace=False))]
    return idx


def split_sizes(data: "LabelledSet") -> np.ndarray:
    """What each sample counts for in a split: 1, or (info split_weight = elements, dense tiles of sparse
    labels) its labelled elements, so a dense reader's split holds out the same pixels as a per-pixel one."""
    if data.info.get("split_weight") == "elements":
        return (np.asarray(data.targets).reshape(len(data.samples), -1) >= 0).sum(1)
    return np.ones(len(data.samples), np.int64)


def split_indices(data: "LabelledSet", fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation split by group (scene, tile, month) when the data has groups, else by sample.
    Time-ordered groups (info['split'] == 'time') put the latest groups in validation. A reader's own
    held-out list (info['split'] == 'given', sample meta 'held_out': UCF101's test list) is the validation
    split as it stands; what it leaves (no sample held out) is split by group as usual."""
    n = len(data.samples)
    if data.info.get("split") == "given":
        held = np.array([bool(s.meta.get("held_out")) for s in data.samples])
        if held.any() and not held.all():
            return np.flatnonzero(~held), np.flatnonzero(held)
        chosen = np.array([bool(s.meta.get("model_selection")) for s in data.samples])  # SYSU-MM01's val_id persons
        if chosen.any() and not chosen.all() and not held.any():
            return np.flatnonzero(~chosen), np.flatnonzero(chosen)
    sizes = split_sizes(data)
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
        if count >= fraction * sizes.sum():
            break
        val_groups.append(g)
        count += int(sizes[groups == g].sum())
    val = np.isin(groups, val_groups)
    if val.all():
        raise InputError("cannot make a validation split: all samples fall in one group")
    return np.flatnonzero(~val), np.flatnonzero(val)


def three_way_split(data: "LabelledSet", val_fraction: float, select_fraction: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training, model selection, validation) indices: validation is cut first exactly as
    `split_indices` cuts it (so `allspark eval --split validation` re-creates it), then model
    selection from the rest, by group as well."""
    rest, val = split_indices(data, val_fraction, seed)
    sub = data.subset(rest)
    sizes = split_sizes(data)
    fraction = select_fraction * sizes.sum() / max(1, sizes[rest].sum())
    tr, sel = split_indices(sub, min(0.5, fraction), seed + 1)
    return rest[tr], rest[sel], val


def class_weights(task: str, targets: np.ndarray, n_classes: int | None, enabled: bool):
    """Loss weights 1 / sqrt(class frequency) (mean 1 over the classes present), or None."""
    if not enabled or not n_classes or task not in ("classification", *DENSE):
        return None
    t = np.asarray(targets).ravel()
    counts = np.bincount(t[t >= 0].astype(int), minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, 1 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return (w / w[counts > 0].mean()).astype(np.float32)


def target_normalisation(task: str, targets: np.ndarray) -> dict:
    if task == "regression":
        mean, std = fit_mean_std(targets.reshape(len(targets), -1), floor=1e-6, fallback=None)
        return {"mean": mean.tolist(), "std": std.tolist()}
    if task == "trajectory":
        steps = np.diff(np.concatenate([np.zeros_like(targets[:, :1]), targets], 1), axis=1)
        return {"scale": float(max(np.sqrt((steps ** 2).mean()) * 4, 1e-6))}
    if task == "forecast":  # one mean / std over every sensor and step (missing targets, NaN, ignored)
        mean, std = fit_mean_std(np.asarray(targets, np.float64).reshape(-1, 1), floor=1e-6, fallback=None)
        return {"mean": float(mean[0]), "std": float(std[0])}
    return {}


def normalised_targets(task: str, targets: np.ndarray, norm: dict) -> np.ndarray:
    if task == "regression":
        t = targets.reshape(len(targets), -1)
        return ((t - np.asarray(norm["mean"])) / np.asarray(norm["std"])).astype(np.float32)
    if task == "trajectory":
        return (targets / norm["scale"]).astype(np.float32)
    if task == "forecast":  # NaN (missing) stays NaN: the loss skips it
        return ((targets - norm["mean"]) / norm["std"]).astype(np.float32)
    if task == "depth":  # depths in the data's units, NaN (invalid pixel) stays NaN: the loss skips it
        return np.asarray(targets, np.float32)
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
        "targets": targets if task in ("regression", "forecast") else None,
        "prompts": prompt_list, "input": spec["input"], "read_options": read_options or {},
        "normalisation": {**stats, "target": tnorm}, "encoder": spec["encoder"],
        "bridge": {"queries": 32, "layers": 3, "heads": 8, "head_dim": 64, "ffn_mult": 4, **(bridge or {}),
                   "output_rms": embedding_rms(runtime)},
        "head": {**({"k": 20, "horizon": 12} if task == "trajectory" else {}),
                 **({"horizon": int(spec["input"].get("pred") or 12)} if task == "forecast" else {}),
                 **({"hypotheses": int(spec["encoder"].get("hypotheses") or 32)} if task == "depth" else {}),
                 **({"identities": len(classes or []), "embedding": 128} if task == "reid" else {}),
                 **(head or {})},
        "llm": {"file": llm_info["file"], "sha256": llm_info["sha256"], "n_embd": llm_info["n_embd"],
                "arch": llm_info.get("arch")},
    }


def cpu_has_native_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="ignore").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def llm_forward(runtime, model, inputs, prefix, suffix, bf16: bool, encoded=None):
    """Encoder -> bridge -> LLM after the cached prompt prefix (frozen, differentiable) -> head output.
    `encoded`: the encoder's (tokens, elements) when already computed (a frozen encoder's cache)."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and suffix.device.type == "cpu"):
        if encoded is not None:
            bridge = model.bridge(encoded.tokens)
        else:
            bridge, encoded = model.encode(inputs)
        embeds = torch.cat([bridge, suffix.expand(bridge.shape[0], -1, -1).to(bridge.dtype)], 1)
        hidden = runtime.forward_after_prefix(embeds, prefix)
        return model.decide(hidden, encoded)


def evaluate_outputs(task: str, outputs: list, targets: np.ndarray, manifest: dict) -> dict:
    """Metrics of head outputs (torch, normalised) against raw targets."""
    import torch

    from .heads import decode

    if task == "trajectory":
        out = decode(task, (torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])), manifest)
        return metrics.trajectory(targets, out["paths"], out["scores"])
    if task == "reid":  # (embeddings, identity logits): the SYSU-MM01 protocol on the split's persons
        out = decode(task, (torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])), manifest)
        return metrics.reid_protocol(out["embeddings"], targets, **metrics.reid_settings(manifest))
    out = decode(task, torch.cat(outputs), manifest)
    if task == "forecast":
        return metrics.forecast(targets, out["values"])
    if task == "depth":
        return metrics.depth(targets, out["depth"])
    if task == "classification":
        return metrics.classification(targets, out["probabilities"].argmax(1), len(manifest["classes"]))
    if task == "regression":
        return metrics.regression(targets.reshape(len(targets), -1), out["values"])
    return metrics.classification(targets, out["element_labels"], len(manifest["classes"]))


def default_checkpoint_dir(name: str) -> Path:
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "allspark" / "checkpoints" / name


class Schedule:
    """AdamW over `params` with a linear warm-up then a cosine decay over `total` steps."""

    def __init__(self, params, lr: float, total: int, warmup: int, weight_decay: float):
        import torch

        self.opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
        self.base = [g["lr"] for g in self.opt.param_groups]
        self.total, self.warmup, self.step_no = total, max(1, warmup), 0

    def step(self, loss, params) -> None:
        import torch

        for g, base in zip(self.opt.param_groups, self.base):
            g["lr"] = lr_at(self.step_no, self.total, self.warmup, base)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self.opt.step()
        self.step_no += 1


def train(cfg: TrainConfig, progress: Callable[[float, str], None] | None = None,
          cancel: threading.Event | None = None, runtime=None) -> Bundle:
    import torch

    from .device import pick_device
    from .heads import build_encoder_head
    from .llm.default import gguf_info, resolve_llm_path
    from .model import AllSparkModel, head_config, to_tensors

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
    task = cfg.task or modality.task_for(cfg.read_options)
    if task not in modality.tasks:
        raise InputError(f"modality {modality.name} offers tasks {', '.join(modality.tasks)}, not {task!r}")

    read_opts = modality.options(cfg.read_options)
    if cfg.labels:
        read_opts["labels"] = cfg.labels
    data = modality.read_labelled(cfg.data, **read_opts)
    if len(data.samples) == 0:
        raise InputError(f"no labelled samples in {cfg.data}")
    if task in DENSE and np.asarray(data.targets).ndim != 2:
        raise InputError(f"task {task} needs a label per element: read the data as tiles (e.g. --options "
                         "'{\"tile\": 16}' for hyperspectral rasters)")
    if task not in DENSE and task != "trajectory" and np.asarray(data.targets).ndim == 2 \
            and data.info.get("split_weight") == "elements":
        raise InputError("the data was read as tiles (a label per pixel): train it with --task pixel_classification")
    if getattr(modality, "reads_llm_tokens", False):  # text: no encoder or bridge, only the head learns
        from .token_train import train_on_tokens

        return train_on_tokens(cfg, modality, task, data, progress, cancel)
    data = sample_subset(data, cfg.max_samples, cfg.seed)
    train_idx, sel_idx, val_idx = three_way_split(data, cfg.val_fraction, cfg.select_fraction, cfg.seed)
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
    if cfg.cpu_precision not in ("int8", "fp32"):
        raise InputError(f"training setting 'cpu_precision' must be int8 or fp32, not {cfg.cpu_precision!r}")
    manifest["inference"] = {"cpu": cfg.cpu_precision}
    manifest["trained_on"] = str(cfg.data)
    manifest["training"] = {k: v for k, v in asdict(cfg).items() if k not in ("out", "checkpoint_dir")}
    prompt_list = manifest["prompts"]
    model = AllSparkModel(manifest).to(device)
    n_params = sum(p.numel() for p in model.parameters())

    all_inputs = modality.to_inputs(data.samples, spec, manifest["normalisation"])
    targets = normalised_targets(task, data.targets, tnorm)
    weights = class_weights(task, targets[train_idx], len(data.classes or []), cfg.class_balance)
    weight_t = None if weights is None else torch.as_tensor(weights, device=device)
    augment = getattr(modality, "augment", None)

    def inputs_of(idx):
        return to_tensors({k: v[idx] for k, v in all_inputs.items()}, device)

    def targets_of(idx):
        return torch.as_tensor(targets[idx], device=device)

    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else default_checkpoint_dir(manifest["name"])
    ckpt = ckpt_dir / "last.pt"
    say = _reporter(progress)
    say(0.0, f"training {manifest['name']}: {len(train_idx)} training / {len(sel_idx)} model-selection / "
             f"{len(val_idx)} validation samples, {n_params / 1e6:.2f} M parameters")
    resumed = cfg.resume and ckpt.is_file()
    state = torch.load(ckpt, map_location=device, weights_only=True) if resumed else None
    head_loss = type(model.head).loss
    stages: dict = {}

    # ---- stage 1: the encoder with a temporary head, no LLM ----------------------------------------------
    stage1_share = 0.0 if cfg.pretrain_epochs <= 0 else 0.25
    if cfg.pretrain_epochs > 0 and state is None:
        enc_dim = int(manifest["encoder"]["dim"])
        element_dim = getattr(model.encoder, "element_dim", None) or enc_dim
        # the encoder's own head: kept in the bundle with `head.encoder_skip`, else a temporary one
        probe = model.encoder_head or build_encoder_head(task, head_config(manifest), enc_dim, element_dim).to(device)
        params = list(model.encoder.parameters()) + list(probe.parameters())
        bs = max(1, cfg.pretrain_batch_size)
        per_epoch = max(1, math.ceil(len(train_idx) / bs))
        sched = Schedule(params, cfg.pretrain_lr, per_epoch * cfg.pretrain_epochs, per_epoch, cfg.weight_decay)
        gen = torch.Generator().manual_seed(cfg.seed)
        rng1 = np.random.default_rng(cfg.seed)
        best1, best1_state, best1_epoch, hist1 = None, None, 0, []
        every = max(1, cfg.pretrain_epochs // 20)
        bar = _bar(cfg.pretrain_epochs * per_epoch, "stage 1 (encoder)", progress is None)

        def probe_out(inputs):
            out = model.encoder(**inputs)
            tokens, elements = out if isinstance(out, tuple) else (out, None)
            return probe(tokens, tokens.shape[1], elements)

        for epoch in range(cfg.pretrain_epochs):
            model.encoder.train()
            probe.train()
            order = rng1.permutation(train_idx)
            losses = []
            for i in range(per_epoch):
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"training cancelled in stage 1, epoch {epoch + 1}")
                idx = order[i * bs:(i + 1) * bs]
                if len(idx) < 2:  # BatchNorm needs two samples
                    continue
                inputs, y = inputs_of(idx), targets_of(idx)
                if augment is not None:
                    inputs, y = augment(inputs, y, gen)
                loss = weighted_loss(head_loss, probe_out(inputs), y, weight_t)
                sched.step(loss, params)
                losses.append(loss.item())
                bar.update()
            bar.set_postfix_str(f"epoch {epoch + 1}/{cfg.pretrain_epochs} loss "
                                f"{np.mean(losses) if losses else float('nan'):.4f}")
            if (epoch + 1) % every and epoch + 1 != cfg.pretrain_epochs:
                continue
            model.encoder.eval()
            probe.eval()
            with torch.no_grad():
                outs = [_float(probe_out(inputs_of(sel_idx[i:i + 256]))) for i in range(0, len(sel_idx), 256)]
            sel = evaluate_outputs(task, outs, data.targets[sel_idx], manifest)
            hist1.append({"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                          "selection": _plain(sel)})
            if metrics.better(task, sel, best1):
                best1, best1_epoch = sel, epoch + 1
                best1_state = ({k: v.detach().clone() for k, v in model.encoder.state_dict().items()},
                               {k: v.detach().clone() for k, v in probe.state_dict().items()})
            key = metrics.MAIN_METRIC[task]
            say(stage1_share * (epoch + 1) / cfg.pretrain_epochs,
                f"stage 1 (encoder) epoch {epoch + 1}/{cfg.pretrain_epochs}: loss {hist1[-1]['loss']:.4f}, "
                f"model-selection {key} {sel[key]:.4f} (best {best1[key]:.4f})")
        bar.close()
        model.encoder.load_state_dict(best1_state[0])
        probe.load_state_dict(best1_state[1])
        stages["encoder"] = {"epochs": cfg.pretrain_epochs, "best_selection": _plain(best1),
                             "best_epoch": best1_epoch,
                             "history": hist1}

    # ---- stage 2: bridge + head through the frozen LLM ----------------------------------------------------
    llm_train_idx = capped(train_idx, cfg.llm_max_samples, cfg.seed)
    sel_idx2, val_idx2 = capped(sel_idx, cfg.score_max_samples), capped(val_idx, cfg.score_max_samples)
    frozen = cfg.pretrain_epochs > 0 and cfg.encoder_lr <= 0
    if model.encoder_head is not None and cfg.pretrain_epochs > 0:
        for p in model.encoder_head.parameters():  # stage 1's answer stays what it was
            p.requires_grad_(False)
    if frozen:
        for p in model.encoder.parameters():
            p.requires_grad_(False)
        model.encoder.eval()
        say(stage1_share, "stage 2: caching the frozen encoder's outputs")
        cache = encode_all(model.encoder, inputs_of, len(data.samples))
    groups = [{"params": [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("encoder.")],
               "lr": cfg.lr}]
    if not frozen:
        enc_lr = cfg.encoder_lr if cfg.pretrain_epochs > 0 else cfg.lr
        groups.append({"params": list(model.encoder.parameters()), "lr": enc_lr})
    trainable = [p for g in groups for p in g["params"]]
    emb = PromptEmbeddings(runtime, prompt_list, device)

    def stage2_out(idx, prompt):
        if frozen:
            return llm_forward(runtime, model, None, emb.prefixes[prompt], emb.suffix, cfg.bf16,
                               encoded=cache.take(idx))
        return llm_forward(runtime, model, inputs_of(idx), emb.prefixes[prompt], emb.suffix, cfg.bf16)

    steps_per_epoch = max(1, math.ceil(len(llm_train_idx) / cfg.batch_size))
    sched = Schedule(groups, cfg.lr, steps_per_epoch * cfg.epochs, int(cfg.warmup_epochs * steps_per_epoch),
                     cfg.weight_decay)
    start_epoch, best, best_state, history = 0, None, None, []
    if state is not None:
        model.load_state_dict(state["model"])
        sched.opt.load_state_dict(state["opt"])
        start_epoch, best, best_state, history = state["epoch"], state["best"], state["best_state"], state["history"]
        stages = state.get("stages", {})
        torch.set_rng_state(state["rng"])
        sched.step_no = start_epoch * steps_per_epoch
        if frozen:
            cache = encode_all(model.encoder, inputs_of, len(data.samples))
    if start_epoch == 0 and model.encoder_head is not None and cfg.pretrain_epochs > 0:
        # with encoder_skip the untrained LLM head adds zero: "epoch 0" is the encoder's own answer, a
        # candidate like any epoch, so stage 2 is kept only where the model-selection split says it helps
        best = run_split(model, stage2_out, sel_idx2, data.targets[sel_idx2], task, manifest, cfg.batch_size * 2)
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append({"epoch": 0, "loss": None, "selection": _plain(best), "seconds": 0.0})
    rng = np.random.default_rng(cfg.seed + start_epoch)
    bar = _bar((cfg.epochs - start_epoch) * steps_per_epoch, "stage 2 (LLM)", progress is None)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        for part in (model.encoder, model.encoder_head):
            if part is not None and not any(p.requires_grad for p in part.parameters()):
                part.eval()  # frozen parts keep their inference behaviour (BatchNorm statistics, no dropout)
        order = rng.permutation(llm_train_idx)
        losses, t_epoch = [], time.time()
        for i in range(steps_per_epoch):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"training cancelled in epoch {epoch + 1}")
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            if len(idx) == 0:
                continue
            out = _float(stage2_out(idx, int(rng.integers(len(prompt_list)))))
            loss = weighted_loss(head_loss, out, targets_of(idx), weight_t)
            sched.step(loss, trainable)
            losses.append(loss.item())
            recent = np.mean(losses[-20:])
            bar.update()
            bar.set_postfix_str(f"epoch {epoch + 1}/{cfg.epochs} loss {recent:.4f}", refresh=False)
            say(stage1_share + (1 - stage1_share) * (epoch + (i + 1) / steps_per_epoch) / cfg.epochs,
                f"epoch {epoch + 1}/{cfg.epochs} step {i + 1}/{steps_per_epoch} loss {recent:.4f}")
        sel = run_split(model, stage2_out, sel_idx2, data.targets[sel_idx2], task, manifest, cfg.batch_size * 2)
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "selection": _plain(sel),
                 "seconds": time.time() - t_epoch}
        history.append(entry)
        if metrics.better(task, sel, best):
            best = sel
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        key = metrics.MAIN_METRIC[task]
        say(stage1_share + (1 - stage1_share) * (epoch + 1) / cfg.epochs,
            f"epoch {epoch + 1}: loss {entry['loss']:.4f}, model-selection {key} {sel[key]:.4f} "
            f"(best {best[key]:.4f}), {entry['seconds']:.0f} s")
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt, prefix=".last.", suffix=".pt.tmp", sync=False) as tmp:
            torch.save({"model": model.state_dict(), "opt": sched.opt.state_dict(), "epoch": epoch + 1, "best": best,
                        "best_state": best_state, "history": history, "stages": stages,
                        "rng": torch.get_rng_state()}, tmp)
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    kept = next((h["epoch"] for h in history if h["selection"] == _plain(best)), None)  # 0: the encoder's answer
    stages["llm"] = {"epochs": cfg.epochs, "encoder": "frozen, outputs cached" if frozen else "trained",
                     "best_selection": _plain(best or {}), "kept_epoch": kept, "history": history}
    say(0.99, "scoring the validation split (never used to choose anything)")
    val = run_split(model, stage2_out, val_idx2, data.targets[val_idx2], task, manifest, cfg.batch_size * 2)
    by_group = " by group" if data.groups is not None else ""
    manifest["metrics"] = {"validation": _plain(val), "model_selection": _plain(best or {}),
                           "split": f"{len(train_idx)} training / {len(sel_idx)} model-selection / "
                                    f"{len(val_idx)} validation samples{by_group}"
                                    + (f"; stage 2 trained on {len(llm_train_idx)}" if len(llm_train_idx) < len(train_idx) else "")
                                    + (f"; scored on {len(val_idx2)} validation samples (allspark eval --max-samples "
                                       f"{len(val_idx2)})" if len(val_idx2) < len(val_idx) else ""),
                           "runtime": "torch (training)", "stages": stages,
                           "train_seconds": round(time.time() - t_start, 1), "parameters": n_params}
    bundle = save_bundle(cfg.out, manifest, model.state_dict(), dtype=torch.float16)
    if not cfg.keep_checkpoints:
        import shutil

        shutil.rmtree(ckpt_dir, ignore_errors=True)
    say(1.0, f"bundle written to {bundle.path}")
    return bundle


class EncodedCache:
    """The frozen encoder's outputs for every sample, computed once (tokens, per-element features)."""

    def __init__(self, tokens, elements):
        self.tokens, self.elements = tokens, elements

    def take(self, idx):
        import torch

        from .model import Encoded

        i = torch.as_tensor(np.asarray(idx))
        return Encoded(self.tokens[i], None if self.elements is None else self.elements[i])


def encode_all(encoder, inputs_of, n: int, batch: int = 256) -> EncodedCache:
    import torch

    toks, elems = [], []
    with torch.no_grad():
        for i in range(0, n, batch):
            out = encoder(**inputs_of(np.arange(i, min(n, i + batch))))
            tokens, elements = out if isinstance(out, tuple) else (out, None)
            toks.append(tokens.float())
            if elements is not None:
                elems.append(elements.float())
    return EncodedCache(torch.cat(toks), torch.cat(elems) if elems else None)


def weighted_loss(loss_fn, out, y, weight):
    """The head's loss, with class weights where the head takes them."""
    return loss_fn(out, y) if weight is None else loss_fn(out, y, weight=weight)


def run_split(model, forward, idx, raw_targets, task, manifest, batch: int) -> dict:
    """Metrics of the model (first prompt, eval mode) on the samples `idx`."""
    import torch

    model.eval()
    outputs = []
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            outputs.append(_float(forward(idx[i:i + batch], 0)))
    return evaluate_outputs(task, outputs, raw_targets, manifest)


def _float(out):
    return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


def _plain(m: dict | None) -> dict:
    return {k: v for k, v in (m or {}).items() if k != "confusion"}


def _reporter(progress):
    """Progress to the caller's callback (the service forwards it to the plugin), else to stderr: the
    steps as tqdm bars (`_bar`, shown on a terminal only), every other message as a line of its own."""
    if progress is not None:
        return progress

    def say(fraction: float, message: str):
        if " step " not in message:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)

    return say


def _bar(total: int, stage: str, shown: bool):
    """A tqdm bar on stderr for a training stage's steps; `shown` False (a caller's callback reports
    progress) or stderr not a terminal: a bar that counts silently."""
    from tqdm import tqdm

    return tqdm(total=total, desc=stage, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True,
                disable=None if shown else True)


__all__ = ["TrainConfig", "train", "AllSparkError"]
