"""Training a bundle of a modality the LLM reads as its own tokens (text, code; modalities/tokens.py).

Nothing before the LLM learns, so the frozen LLM's rows of every sample (tokens.pooled_rows: the mean over
the text's positions and the last position, after the prompt) are computed once, on the runtime that
answers later (llama.cpp: no training / inference gap), and kept in the checkpoint folder: a stopped run
resumes where it stopped. The head then trains on them in seconds: AdamW with a cosine schedule, the
epoch chosen on the model-selection split, the validation split scored once at the end (never used to
choose anything), as train.py does for the other modalities.

- classification (text): heads.WordClassificationHead, starting from the LLM's own preference between the
  class words ("epoch 0", kept when no epoch beats it on model selection).
- docstring (code): heads.RetrievalHead on the rows of the functions and of their docstrings (after the
  search prompt), contrastive; then the number of demonstrations (0-2 training pairs of short code and its
  docstring, before the function the LLM describes) chosen by BLEU-4 on the model-selection split.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import metrics
from .atomic import atomic_path
from .bundle import Bundle, save_bundle
from .errors import Cancelled, InputError
from .modalities.tokens import NO_BRIDGE, NO_ENCODER, pooled_rows

FEATURES = "llm_rows.npz"
CHUNK = 16  # texts per LLM call (and per progress step)
SELECT_WRITTEN = 40  # model-selection functions the LLM describes per candidate number of demonstrations
DEMO_MAX_TOKENS = 80  # a demonstration's code is at most this long (it is read before every function)


def feature_key(prompt: str, ids: list[int], llm_sha: str) -> str:
    h = hashlib.sha1(llm_sha.encode(), usedforsecurity=False)  # a cache key, not security
    h.update(prompt.encode())
    h.update(np.asarray(ids, np.int32).tobytes())
    return h.hexdigest()


class RowCache:
    """The LLM's pooled rows by (prompt, tokens, LLM), in one .npz in the checkpoint folder."""

    def __init__(self, path: Path | None):
        self.path, self.rows = path, {}
        if path is not None and path.is_file():
            with np.load(path) as z:
                self.rows = dict(zip(z["keys"].tolist(), z["rows"]))

    def save(self) -> None:
        if self.path is None or not self.rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path, prefix=".rows.", suffix=".npz", sync=False) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, keys=np.asarray(list(self.rows)), rows=np.stack(list(self.rows.values())))


def llm_rows(runtime, ids: list[list[int]], prompt: str, llm_sha: str, cache: RowCache,
             say: Callable[[float, str], None], cancel, lo: float = 0.0, hi: float = 0.9,
             what: str = "texts") -> np.ndarray:
    """(N, 2, D) float32: the pooled rows of each token list after `prompt`, from `cache` where it has them."""
    from . import prompts as P
    from .llm.base import Segment

    prefix, suffix = P.head_ids(runtime, prompt)
    keys = [feature_key(prompt, i, llm_sha) for i in ids]
    todo = list(dict.fromkeys(k for k in range(len(ids)) if keys[k] not in cache.rows))
    t0, n_tok, done_tok = time.time(), sum(len(ids[k]) for k in todo), 0
    for start in range(0, len(todo), CHUNK):
        if cancel is not None and cancel.is_set():
            cache.save()
            raise Cancelled(f"stopped after the LLM read {start} of {len(todo)} {what} (kept: a rerun resumes)")
        part = todo[start:start + CHUNK]
        hidden = runtime.sample_hidden_batch(prefix, [[Segment(ids=ids[k]), Segment(ids=suffix)] for k in part])
        for k, row in zip(part, pooled_rows(hidden, len(suffix))):
            cache.rows[keys[k]] = row
        done_tok += sum(len(ids[k]) for k in part)
        rate = done_tok / max(1e-9, time.time() - t0)
        say(lo + (hi - lo) * (start + len(part)) / len(todo),
            f"LLM read {start + len(part)} of {len(todo)} {what} ({rate:.0f} tokens/s, "
            f"~{(n_tok - done_tok) / max(rate, 1e-9) / 60:.0f} min left)")
        if (start // CHUNK) % 20 == 19:
            cache.save()
    if todo:
        cache.save()
    return np.stack([cache.rows[k] for k in keys]).astype(np.float32)


def class_word_ids(runtime, classes) -> list[int]:
    """The LLM's own first token of each class name (after a space, as an answer would start)."""
    ids = [runtime.tokenize(" " + str(c))[0] for c in classes]
    if len(set(ids)) < len(ids):
        raise InputError(f"the class names {classes} start with the same LLM token: the LLM cannot tell them "
                         "apart by their first word; rename the labels")
    return ids


def train_on_tokens(cfg, modality, task: str, data, progress=None, cancel=None, runtime=None) -> Bundle:
    import torch

    from .llm.default import gguf_info, resolve_llm_path
    from .train import _reporter, default_checkpoint_dir, make_manifest, sample_subset, three_way_split

    t_start = time.time()
    torch.manual_seed(cfg.seed)
    if task not in TRAINERS:
        raise InputError(f"modality {modality.name}: task {task!r} is not trained this way")
    data = sample_subset(data, cfg.max_samples, cfg.seed)
    split = three_way_split(data, cfg.val_fraction, cfg.select_fraction, cfg.seed)
    llm_path = resolve_llm_path(cfg.llm)
    info = gguf_info(llm_path)
    if runtime is None:
        from .llm.llamacpp import LlamaCppRuntime

        runtime = LlamaCppRuntime(llm_path)
    spec = modality.default_spec()
    spec["input"].update({k: v for k, v in cfg.read_options.items() if k in spec["input"]})
    name = cfg.name or Path(cfg.out).name
    head = dict(cfg.head)
    if task == "classification":
        head["class_words"] = class_word_ids(runtime, data.classes)
    manifest = make_manifest(modality, task, spec, {}, {}, runtime, info, classes=data.classes, name=name,
                             head=head, read_options=cfg.read_options)
    manifest["encoder"] = {**NO_ENCODER, "dim": int(info["n_embd"])}
    manifest["bridge"] = dict(NO_BRIDGE)
    manifest["inference"] = {"cpu": "fp32"}
    manifest["trained_on"] = str(cfg.data)
    manifest["training"] = {k: v for k, v in vars(cfg).items() if k not in ("out", "checkpoint_dir")}
    say = _reporter(progress)
    train_idx, sel_idx, val_idx = split
    by_group = " by group" if data.groups is not None else ""
    say(0.0, f"training {name}: {len(train_idx)} training / {len(sel_idx)} model-selection / {len(val_idx)} "
             f"validation samples{by_group}; the LLM reads each once")
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else default_checkpoint_dir(name)
    job = Job(cfg, modality, manifest, data, split, runtime, spec, RowCache(ckpt_dir / FEATURES), say, cancel,
              info["sha256"])
    model, stages, val, best = TRAINERS[task](job)
    manifest["metrics"] = {
        "validation": val, "model_selection": best,
        "split": f"{len(train_idx)} training / {len(sel_idx)} model-selection / {len(val_idx)} validation "
                 f"samples{by_group}",
        "runtime": f"{runtime.name} (the LLM's rows computed once; the head trained on them)",
        "stages": stages, "train_seconds": round(time.time() - t_start, 1),
        "parameters": sum(p.numel() for p in model.parameters())}
    bundle = save_bundle(cfg.out, manifest, model.state_dict(), dtype=torch.float32)
    say(1.0, f"bundle written to {bundle.path}")
    return bundle


class Job:
    """What a token-modality training run holds while its task's trainer runs."""

    def __init__(self, cfg, modality, manifest, data, split, runtime, spec, cache, say, cancel, llm_sha):
        self.cfg, self.modality, self.manifest, self.data = cfg, modality, manifest, data
        self.train_idx, self.sel_idx, self.val_idx = split
        self.runtime, self.spec, self.cache, self.say, self.cancel, self.llm_sha = \
            runtime, spec, cache, say, cancel, llm_sha

    def rows(self, ids, prompt, lo, hi, what):
        return llm_rows(self.runtime, ids, prompt, self.llm_sha, self.cache, self.say, self.cancel, lo, hi, what)

    def check_cancel(self, where: str) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"training cancelled {where}")

    def fit(self, model, params, step_loss, score, share: tuple[float, float]):
        """AdamW over the training split's batches for cfg.epochs; the best model-selection score (epoch 0:
        the model as it starts) kept; returns (best score, history)."""
        import torch

        from .train import Schedule, _plain

        cfg = self.cfg
        bs = max(8, cfg.batch_size)
        per_epoch = max(1, math.ceil(len(self.train_idx) / bs))
        sched = Schedule(params, cfg.lr, per_epoch * cfg.epochs, int(per_epoch * cfg.warmup_epochs), cfg.weight_decay)
        task = self.manifest["task"]
        best = score(self.sel_idx)
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
        history = [{"epoch": 0, "loss": None, "selection": _plain(best)}]
        rng = np.random.default_rng(cfg.seed)
        key = metrics.MAIN_METRIC[task]
        for epoch in range(cfg.epochs):
            self.check_cancel(f"in epoch {epoch + 1}")
            model.train()
            order = rng.permutation(self.train_idx)
            losses = []
            for i in range(per_epoch):
                idx = order[i * bs:(i + 1) * bs]
                if len(idx) < 2:
                    continue
                loss = step_loss(idx)
                sched.step(loss, params)
                losses.append(loss.item())
            sel = score(self.sel_idx)
            history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "selection": _plain(sel)})
            if metrics.better(task, sel, best):
                best, best_state = sel, {k: v.clone() for k, v in model.state_dict().items()}
            lo, hi = share
            self.say(lo + (hi - lo) * (epoch + 1) / cfg.epochs,
                     f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, model-selection {key} {sel[key]:.4f} "
                     f"(best {best[key]:.4f})")
        with torch.no_grad():
            model.load_state_dict(best_state)
        return _plain(best), history


def _classification(job: Job):
    import torch

    from .model import AllSparkModel
    from .train import _plain, class_weights, weighted_loss

    data, m = job.data, job.manifest
    ids = job.modality.token_ids(data.samples, job.runtime, job.spec)
    feats = torch.as_tensor(job.rows(ids, m["prompts"][0], 0.0, 0.9, "texts"))
    model = AllSparkModel(m)
    words = torch.as_tensor(job.runtime.embed_tokens(m["head"]["class_words"]), dtype=torch.float32)
    model.head.words.copy_(torch.nn.functional.normalize(words, dim=-1))
    targets = torch.as_tensor(np.asarray(data.targets, np.int64))
    weights = class_weights("classification", data.targets[job.train_idx], len(data.classes), job.cfg.class_balance)
    weight_t = None if weights is None else torch.as_tensor(weights)
    loss_fn = type(model.head).loss

    def score(idx):
        model.eval()
        with torch.no_grad():
            pred = model.decide(feats[idx], None).argmax(1).numpy()
        return metrics.classification(data.targets[idx], pred, len(data.classes))

    zero_shot = _plain(score(job.sel_idx))  # the LLM's own preference between the class words
    best, history = job.fit(model, [p for p in model.head.parameters() if p.requires_grad],
                            lambda idx: weighted_loss(loss_fn, model.decide(feats[idx], None), targets[idx], weight_t),
                            score, (0.9, 0.99))
    kept = next((h["epoch"] for h in history if h["selection"] == best), None)
    stages = {"llm": {"epochs": job.cfg.epochs, "encoder": "none: the LLM reads the text's own tokens",
                      "zero_shot_selection": zero_shot, "kept_epoch": kept, "history": history}}
    return model, stages, _plain(score(job.val_idx)), best


def _docstring(job: Job):
    import torch

    from .modalities.code import demonstration_ids, write_docstrings
    from .model import AllSparkModel

    data, m, rt = job.data, job.manifest, job.runtime
    prompt = m["prompts"][0]
    code_ids = job.modality.token_ids(data.samples, rt, job.spec)
    doc_ids = job.modality.query_ids(data.targets, rt, job.spec)
    code = torch.as_tensor(job.rows(code_ids, prompt, 0.0, 0.45, "functions"))
    docs = torch.as_tensor(job.rows(doc_ids, job.modality.query_prompt, 0.45, 0.6, "docstrings"))
    model = AllSparkModel(m)
    head = model.head

    def score(idx):
        model.eval()
        with torch.no_grad():
            sim = (head.query(docs[idx]) @ head(code[idx], 1).T).numpy()
        return metrics.docstring(data.targets[idx], similarity=sim)

    best, history = job.fit(model, list(head.parameters()),
                            lambda idx: head.loss(head(code[idx], 1), head.query(docs[idx])), score, (0.6, 0.7))
    kept = next((h["epoch"] for h in history if h["selection"] == best), None)

    # demonstrations: the shortest training functions' pairs; how many (0-2) chosen on model selection
    short = [int(i) for i in job.train_idx[np.argsort([len(code_ids[i]) for i in job.train_idx], kind="stable")]
             if len(code_ids[i]) <= DEMO_MAX_TOKENS and 4 <= len(str(data.targets[i]).split()) <= 16][:2]
    candidates = [short[:k] for k in range(len(short) + 1)]
    sel_written = job.sel_idx[:SELECT_WRITTEN]
    max_tokens = int(job.modality.input_spec(job.spec)["docstring_tokens"])
    tried = []
    for k, demo in enumerate(candidates):
        job.check_cancel("while choosing demonstrations")
        pairs = [{"code": job.modality.text_of(data.samples[i]), "docstring": str(data.targets[i])} for i in demo]
        prefix = demonstration_ids(rt, prompt, pairs, [code_ids[i] for i in demo])
        written = write_docstrings(rt, prefix, [code_ids[i] for i in sel_written], max_tokens, job.cancel)
        bleu = metrics.smoothed_bleu4(data.targets[sel_written], written)
        tried.append({"demonstrations": len(demo), "bleu4": bleu, "pairs": pairs})
        job.say(0.7 + 0.1 * (k + 1) / len(candidates),
                f"{len(demo)} demonstration(s): model-selection BLEU-4 {bleu:.2f} on {len(sel_written)} functions")
    chosen = max(tried, key=lambda t: t["bleu4"])
    m["head"]["demonstrations"] = chosen["pairs"]
    prefix = demonstration_ids(rt, prompt, chosen["pairs"], [code_ids[i] for i in
                                                              short[:chosen["demonstrations"]]])
    job.say(0.8, f"the LLM writes the {len(job.val_idx)} validation docstrings")
    written = write_docstrings(rt, prefix, [code_ids[i] for i in job.val_idx], max_tokens, job.cancel)
    val = score(job.val_idx)
    val.update(metrics.docstring(data.targets[job.val_idx], written))
    val["examples"] = [{"function": data.samples[i].meta.get("func_name", ""), "reference": str(data.targets[i]),
                        "written": w} for i, w in list(zip(job.val_idx, written))[:5]]
    best = {**best, "bleu4": chosen["bleu4"], "bleu4_on": len(sel_written)}
    stages = {"llm": {"epochs": job.cfg.epochs, "encoder": "none: the LLM reads the code's own tokens",
                      "kept_epoch": kept, "history": history,
                      "demonstrations": [{k: v for k, v in t.items() if k != "pairs"} for t in tried]}}
    return model, stages, val, best


TRAINERS = {"classification": _classification, "docstring": _docstring}
