"""LLM runtimes: one GGUF file, two ways to run it (llama.cpp for inference, transformers for training)."""

from .base import Runtime, Segment  # noqa: F401


def open_runtime(kind: str, gguf_path=None, device: str = "auto", **kwargs) -> "Runtime":
    """Open the LLM with the runtime `kind` ("llamacpp" or "torch"); no path means the embedded default."""
    from .default import resolve_llm_path

    path = resolve_llm_path(gguf_path)
    if kind == "llamacpp":
        from .llamacpp import LlamaCppRuntime

        return LlamaCppRuntime(path, device=device, **kwargs)
    if kind == "torch":
        from .torch_runtime import TorchRuntime

        return TorchRuntime(path, device=device, **kwargs)
    from ..errors import LLMError

    raise LLMError(f"unknown LLM runtime {kind!r}: use 'llamacpp' or 'torch'")
