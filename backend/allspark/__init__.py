"""AllSpark backend: the LaRF pipeline (modality encoder -> Lynx bridge -> frozen GGUF LLM -> task head)."""

import os

# torch and llama.cpp each bring an OpenMP runtime; with the default (active) wait policy the idle one's
# threads spin while the other works, which made llama.cpp batches 3.5x slower on 2 cores (measured:
# 4.6 s vs 1.3 s for 16 pixels). Must be set before either library starts its threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
