"""LLM runtime on transformers (the GGUF dequantized into a frozen torch model): the training path.

The bridge is trained through this runtime and served through llama.cpp, so it mirrors llama.cpp's
reading of the GGUF where transformers' GGUF loader reads less (see `_config_like_llamacpp`), and it
tokenizes with llama.cpp's own vocabulary.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import LLMError
from .base import Runtime, Segment, stream_text
from .default import cache_dir, file_sha256, read_gguf, resolve_llm_path
from .llamacpp import LlamaVocab

log = logging.getLogger("allspark.llm")


@contextlib.contextmanager
def _quiet_transformers():
    """transformers' GGUF loader logs every unparsed key and draws progress bars: keep errors only."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as tlog

    level, bars, bar = tlog.get_verbosity(), tlog.is_progress_bar_enabled(), gguf_utils.tqdm
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    gguf_utils.tqdm = lambda iterable, **_: iterable  # the GGUF loader calls tqdm directly
    try:
        yield
    finally:
        gguf_utils.tqdm = bar
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()


def _config_like_llamacpp(config, fields: dict) -> bool:
    """Make transformers' config read the GGUF as llama.cpp does (gemma3 is the architecture we ship);
    True when something had to change."""
    arch = fields.get("general.architecture")
    if arch != "gemma3":
        return False
    before = config.to_dict()
    n_layer, n_embd = config.num_hidden_layers, config.hidden_size
    # llama.cpp scales queries by 1/sqrt(head_dim), except Gemma 3 27B (62 layers): 1/sqrt(n_embd/n_head).
    # transformers' GGUF loader leaves query_pre_attn_scalar at its default (256), right only for 256-wide heads.
    config.query_pre_attn_scalar = n_embd // config.num_attention_heads if n_layer == 62 else config.head_dim
    pattern = fields.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list) and len(pattern) == n_layer:
        config.layer_types = ["sliding_attention" if swa else "full_attention" for swa in pattern]
    if f"{arch}.rope.freq_base_swa" in fields:
        config.rope_local_base_freq = float(fields[f"{arch}.rope.freq_base_swa"])
    factor = fields.get(f"{arch}.rope.scaling.factor")
    if factor and float(factor) != 1.0:  # Gemma 3 4B+: linear RoPE scaling on the global layers
        config.rope_scaling = {"rope_type": "linear", "factor": float(factor)}
    softcap = fields.get(f"{arch}.final_logit_softcapping")
    if softcap:
        config.final_logit_softcapping = float(softcap)
    return config.to_dict() != before


def _load_model(path: Path, dtype: torch.dtype):
    """Dequantize once (~30 s for Gemma 3 270M) and keep it as safetensors keyed by the GGUF's sha256."""
    from transformers import AutoModelForCausalLM

    cached = cache_dir("torch") / file_sha256(path)
    with _quiet_transformers():
        if (cached / "config.json").is_file():
            try:
                return AutoModelForCausalLM.from_pretrained(str(cached), dtype=dtype, local_files_only=True)  # nosec B615 - a local folder
            except Exception as e:  # a damaged cache entry: rebuild it
                log.warning("rebuilding the torch cache of %s (%s)", path.name, e)
                shutil.rmtree(cached, ignore_errors=True)
        try:
            model = AutoModelForCausalLM.from_pretrained(  # nosec B615 - a local GGUF file
                str(path.parent), gguf_file=path.name, dtype=torch.float32, local_files_only=True)
            config = copy.deepcopy(model.config)
            if _config_like_llamacpp(config, read_gguf(path, max_array=64)[0]):
                # Rebuild around the corrected config (cheaper than a second pass over the GGUF).
                fixed = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
                fixed.load_state_dict(model.state_dict())
                model = fixed
        except Exception as e:
            raise LLMError(f"transformers could not load the LLM {path}: {e}") from e
        tmp = None
        try:
            tmp = Path(tempfile.mkdtemp(prefix=".save-", dir=cached.parent))
            model.save_pretrained(str(tmp))
            os.replace(tmp, cached)  # atomic: a half-written cache is never picked up
        except OSError as e:  # no cache: the next load dequantizes again
            log.warning("could not cache the dequantized LLM in %s: %s", cached, e)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return model.to(dtype)


class TorchRuntime(Runtime):
    name = "torch"

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        dtype: torch.dtype = torch.float32,
        gradient_checkpointing: bool = False,
    ):
        from ..device import pick_device

        self.gguf_path = resolve_llm_path(path)
        self.device = torch.device(pick_device(device))
        self.dtype = dtype
        self.model = _load_model(self.gguf_path, dtype).to(self.device).eval()
        self.model.requires_grad_(False)
        self.gradient_checkpointing = gradient_checkpointing
        if gradient_checkpointing:
            # Activations are recomputed in backward; the LLM stays frozen, the gradient flows to the embeds.
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.n_embd = self.model.config.hidden_size
        self.n_vocab = self.model.config.vocab_size
        # llama.cpp's tokenizer, not transformers' GGUF one: on Gemma the latter splits text differently
        # ("hello world": 5 pieces instead of 2) and takes ~45 s to build; the bridge must see at training
        # exactly the prompt tokens it will see at inference.
        self._vocab = LlamaVocab(self.gguf_path)
        self.bos_id = self._vocab.bos_id
        self.eos_ids = set(self._vocab.eos_ids)

    # -- text -------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        ids = self._vocab.tokenize(text)
        return ([self.bos_id] if add_bos and self.bos_id is not None else []) + ids

    def detokenize(self, ids: Sequence[int]) -> str:
        return self._vocab.detokenize(ids)

    # -- training API -----------------------------------------------------------------------------
    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, D) input embeddings, scaled like the model scales them (Gemma: sqrt(D))."""
        return self.model.get_input_embeddings()(ids.to(self.device))

    @torch.inference_mode()
    def embed_tokens(self, ids: Sequence[int]) -> np.ndarray:
        return self.embed_ids(torch.tensor([list(ids)], dtype=torch.long))[0].float().cpu().numpy()

    def forward_embeds(self, embeds: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) input embeddings -> (B, T, D) hidden states after the final norm; differentiable in embeds.
        attention_mask (B, T): 1 = token, 0 = padding (pad on the right so positions stay 0..T-1)."""
        # transformers only checkpoints in train mode; Gemma has no dropout, so the numbers are the same.
        checkpoint = self.gradient_checkpointing and torch.is_grad_enabled()
        self.model.train(checkpoint)
        try:
            out = self.model.model(
                inputs_embeds=embeds.to(self.device),
                attention_mask=None if attention_mask is None else attention_mask.to(self.device),
                use_cache=False,
            )
        finally:
            self.model.eval()
        return out.last_hidden_state

    @torch.no_grad()
    def prefix_cache(self, prefix_embeds: torch.Tensor):
        """KV cache of a (P, D) prefix shared by a batch: the LLM is frozen and attention is causal, so the
        prefix's keys and values don't depend on what follows; computed once, without gradients."""
        out = self.model.model(inputs_embeds=prefix_embeds[None].to(self.device, self.dtype), use_cache=True)
        return out.past_key_values, int(prefix_embeds.shape[0])

    def forward_after_prefix(self, embeds: torch.Tensor, prefix) -> torch.Tensor:
        """(B, T, D) embeddings that follow a cached prefix -> (B, T, D) final hidden states, differentiable
        in embeds; same numbers as forward_embeds on the concatenation (cosine > 0.9999 on Gemma 270M)."""
        import copy

        cache, p = prefix
        b, t = embeds.shape[:2]
        cache = copy.deepcopy(cache)  # the forward pass appends to it
        cache.batch_repeat_interleave(b)
        positions = torch.arange(p, p + t, device=self.device)
        out = self.model.model(inputs_embeds=embeds.to(self.device), past_key_values=cache, cache_position=positions,
                               position_ids=positions[None].expand(b, -1), use_cache=True)
        return out.last_hidden_state

    def _embed_segments(self, segments: Sequence[Segment]) -> torch.Tensor:
        parts = []
        for s in segments:
            if not len(s):
                continue
            if s.embeds is not None:
                if s.embeds.shape[1] != self.n_embd:
                    raise LLMError(f"embeddings of width {s.embeds.shape[1]} given to an LLM of width {self.n_embd}")
                parts.append(torch.from_numpy(s.embeds).to(self.device, self.dtype))
            else:
                parts.append(self.embed_ids(torch.tensor([s.ids], dtype=torch.long))[0])
        if not parts:
            raise LLMError("the LLM context is empty")
        return torch.cat(parts)

    # -- Runtime API ------------------------------------------------------------------------------
    @torch.inference_mode()
    def hidden_states(self, segments: Sequence[Segment]) -> np.ndarray:
        h = self.forward_embeds(self._embed_segments(segments)[None])[0]
        return h.float().cpu().numpy()

    @torch.inference_mode()
    def sample_hidden_batch(
        self, prefix: list[int], samples: Sequence[Sequence[Segment]], batch_size: int = 16
    ) -> list[np.ndarray]:
        """Samples padded on the right and run in batches; the prefix is recomputed per sample (no KV sharing)."""
        p = len(prefix)
        out: list[np.ndarray] = []
        for i in range(0, len(samples), batch_size):
            seqs = [self._embed_segments([Segment(ids=list(prefix)), *s] if p else s) for s in samples[i : i + batch_size]]
            lens = [len(x) for x in seqs]
            T = max(lens)
            x = torch.zeros(len(seqs), T, self.n_embd, dtype=seqs[0].dtype, device=self.device)
            mask = torch.zeros(len(seqs), T, dtype=torch.long, device=self.device)
            for k, s in enumerate(seqs):
                x[k, : lens[k]] = s
                mask[k, : lens[k]] = 1
            h = self.forward_embeds(x, mask).float().cpu().numpy()
            out += [h[k, p : lens[k]] for k in range(len(seqs))]
        return out

    def last_hidden_batch(self, prefix: list[int], samples: Sequence[Sequence[Segment]]) -> np.ndarray:
        if not samples:
            return np.zeros((0, self.n_embd), np.float32)
        return np.stack([h[-1] for h in self.sample_hidden_batch(prefix, samples)])

    def generate(self, segments: Sequence[Segment], max_tokens: int = 96, stop: Sequence[str] | None = None) -> Iterator[str]:
        return stream_text(self._next_tokens(segments, max_tokens), self.detokenize, stop or ())

    @torch.inference_mode()
    def _next_tokens(self, segments: Sequence[Segment], max_tokens: int) -> Iterator[int]:
        """Greedy tokens, continuing from the context's KV cache."""
        out = self.model(inputs_embeds=self._embed_segments(segments)[None], use_cache=True)
        for _ in range(max_tokens):
            tok = int(out.logits[0, -1].argmax())
            if self._vocab.is_eog(tok):
                return
            yield tok
            out = self.model(
                input_ids=torch.tensor([[tok]], device=self.device), past_key_values=out.past_key_values, use_cache=True
            )

    def close(self) -> None:
        self.model = None
