"""Model bundles: a folder with manifest.json and weights.safetensors.

The manifest says what the bundle is for (modality, task, classes or targets with units, prompts),
how inputs are normalised, how encoder / bridge / head are configured, and which LLM it was trained
against (file name, sha256, width). A bundle used with another LLM, or a corrupt or partial bundle,
is refused with a BundleError that says which.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import BundleError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
REQUIRED = ("format_version", "name", "modality", "task", "prompts", "input", "normalisation",
            "encoder", "bridge", "head", "llm", "weights_sha256")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Bundle:
    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    def summary(self) -> dict:
        m = self.manifest
        keys = ("name", "modality", "task", "classes", "targets", "prompts", "input", "read_options", "metrics",
                "trained_on", "created", "llm")
        return {**{k: m.get(k) for k in keys}, "path": str(self.path)}

    def check_llm(self, llm_info: dict) -> None:
        """Refuse an LLM other than the one the bundle was trained against."""
        want = self.manifest["llm"]
        if want.get("sha256") and llm_info.get("sha256") and want["sha256"] != llm_info["sha256"]:
            raise BundleError(
                f"bundle {self.name!r} was trained against LLM {want.get('file')} (sha256 {want['sha256'][:12]}…), "
                f"but the LLM in use is {llm_info.get('file')} (sha256 {llm_info['sha256'][:12]}…); "
                "use that LLM (--llm) or retrain the bundle")
        if int(want.get("n_embd", -1)) != int(llm_info.get("n_embd", -2)):
            raise BundleError(f"bundle {self.name!r} expects an LLM of width {want.get('n_embd')}, "
                              f"the LLM in use has width {llm_info.get('n_embd')}")

    def load_state(self) -> dict:
        from safetensors.torch import load_file

        try:
            return load_file(str(self.weights_path))
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise BundleError(f"bundle {self.name!r}: cannot read {WEIGHTS}: {exc}") from exc


def load_bundle(path: str | os.PathLike, verify_weights: bool = True) -> Bundle:
    path = Path(path)
    mpath = path / MANIFEST
    if not path.is_dir():
        raise BundleError(f"no bundle at {path}: not a folder")
    if not mpath.is_file():
        raise BundleError(f"bundle {path} is partial: {MANIFEST} is missing")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {path} is corrupt: {MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle {path} is corrupt: {MANIFEST} is not a JSON object")
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise BundleError(f"bundle {path} is partial: manifest lacks {', '.join(missing)}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise BundleError(f"bundle {path} has format version {manifest['format_version']}; "
                          f"this backend reads version {FORMAT_VERSION}")
    wpath = path / WEIGHTS
    if not wpath.is_file():
        raise BundleError(f"bundle {path} is partial: {WEIGHTS} is missing")
    if verify_weights and sha256_of(wpath) != manifest["weights_sha256"]:
        raise BundleError(f"bundle {path} is corrupt: {WEIGHTS} does not match the sha256 in its manifest")
    return Bundle(path, manifest)


def save_bundle(path: str | os.PathLike, manifest: dict, state: dict, dtype=None) -> Bundle:
    """Write a bundle atomically: into a temporary folder beside `path`, then renamed into place."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v
    save_file(tensors, str(tmp / WEIGHTS))
    manifest = {**manifest, "format_version": FORMAT_VERSION, "weights_sha256": sha256_of(tmp / WEIGHTS),
                "weights_dtype": str(dtype or torch.float32).replace("torch.", "")}
    manifest.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _default_permissions(tmp)
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            import shutil
            shutil.rmtree(old)
        path.rename(old)
        tmp.rename(path)
        import shutil
        shutil.rmtree(old)
    else:
        tmp.rename(path)
    return Bundle(path, manifest)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_permissions(folder: Path) -> None:
    """mkdtemp makes 0700 folders: give the bundle the permissions any other new folder would get."""
    mask = _umask()
    folder.chmod(0o777 & ~mask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~mask)


def bundle_dirs() -> list[Path]:
    """Where bundles are looked for: $ALLSPARK_BUNDLES (os.pathsep list), the user's data folder, the repo's bundles/."""
    dirs = [Path(p) for p in os.environ.get("ALLSPARK_BUNDLES", "").split(os.pathsep) if p]
    data = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "allspark" / "bundles"
    dirs.append(data)
    shipped = Path(__file__).resolve().parents[2] / "bundles"
    dirs.append(shipped)
    return dirs


def find_bundles(extra: list[Path] | None = None) -> list[Bundle]:
    seen, out = set(), []
    for d in [*(extra or []), *bundle_dirs()]:
        if not d.is_dir():
            continue
        for m in sorted(d.glob(f"*/{MANIFEST}")):
            try:
                b = load_bundle(m.parent, verify_weights=False)
            except BundleError:
                continue
            if b.name not in seen:
                seen.add(b.name)
                out.append(b)
    return out


def resolve_bundle(name_or_path: str, extra: list[Path] | None = None) -> Bundle:
    p = Path(name_or_path)
    if p.is_dir() or os.sep in name_or_path or name_or_path.startswith("."):
        return load_bundle(p)
    for b in find_bundles(extra):
        if b.name == name_or_path:
            return load_bundle(b.path)
    known = ", ".join(b.name for b in find_bundles(extra)) or "none"
    raise BundleError(f"no bundle named {name_or_path!r} (known: {known}); give a folder path or a known name")
