"""AllSpark backend: the LaRF pipeline (modality encoder -> Lynx bridge -> frozen GGUF LLM -> task head)."""

__version__ = "0.1.0"
