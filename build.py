#!/usr/bin/env python3
"""Build the QGIS plugin zip: dist/allspark_qgis-<version>.zip, accepted by "Install from ZIP".

    python build.py              # build the zip (compiles i18n/*.ts with lrelease)
    python build.py update-ts    # collect tr("...") / N_("...") literals into i18n/*.ts (keeps translations)
    python build.py check        # only the checks (no torch import, metadata fields)

The zip holds one folder, allspark_qgis/: the plugin's Python files, protocol/ (the files of
backend/allspark_protocol, which allspark_qgis/protocol links to in the repository: the zip carries
copies, byte for byte), metadata.txt (from the repository root), resources/ (icons), i18n/*.qm
(compiled translations) and LICENSE when present. Entries have a fixed time stamp, so the same
sources give the same zip.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import os
import re
import shutil
import subprocess  # nosec B404 - lrelease is run with an argument list
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PKG = ROOT / "allspark_qgis"
PROTOCOL = ROOT / "backend" / "allspark_protocol"  # shipped as allspark_qgis/protocol/
PROTOCOL_LINK = PKG / "protocol"  # in the repository: a symlink to ../backend/allspark_protocol
I18N = ROOT / "i18n"
RESOURCES = ROOT / "resources"
DIST = ROOT / "dist"
NAME = "allspark_qgis"
CONTEXT = "AllSpark"
LANGUAGES = ("zh_CN", "fr")
REQUIRED_METADATA = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
                     "repository", "tracker", "homepage", "tags", "icon", "category", "hasProcessingProvider",
                     "changelog")
FORBIDDEN_IMPORTS = ("torch", "transformers", "llama_cpp", "rasterio", "laspy", "safetensors")
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


# ---- metadata ---------------------------------------------------------------------------------------


def metadata(path: Path = ROOT / "metadata.txt") -> dict:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(path, encoding="utf-8")
    return dict(cp["general"])


def check_metadata(meta: dict) -> list[str]:
    problems = [f"metadata.txt lacks {k}" for k in REQUIRED_METADATA if not meta.get(k, "").strip()]
    if meta.get("hasProcessingProvider", "").strip().lower() != "yes":
        problems.append("metadata.txt: hasProcessingProvider must be yes")
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", meta.get("version", "")):
        problems.append(f"metadata.txt: version {meta.get('version')!r} is not N.N[.N]")
    icon = meta.get("icon", "")
    if icon and not (ROOT / icon).is_file():
        problems.append(f"metadata.txt: icon {icon} not found")
    return problems


# ---- sources ----------------------------------------------------------------------------------------


def _source_files(folder: Path, skip: Path | None = None) -> list[Path]:
    out = []
    for p in sorted(folder.rglob("*")):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_dir() or "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo", ".qm"):
            continue
        if p.name.startswith(".") or p.name == "metadata.txt":
            continue
        out.append(p)
    return out


def plugin_files() -> list[Path]:
    """The plugin's files: allspark_qgis/ without its protocol link, then backend/allspark_protocol/'s files
    (read from the package itself, whatever the checkout made of the link)."""
    return _source_files(PKG, skip=PROTOCOL_LINK) + _source_files(PROTOCOL)


def zip_path(p: Path) -> str:
    """Where a file of `plugin_files()` goes in the zip's allspark_qgis/ folder."""
    if PROTOCOL in p.parents:
        return f"protocol/{p.relative_to(PROTOCOL).as_posix()}"
    return p.relative_to(PKG).as_posix()


def check_protocol_link() -> list[str]:
    """allspark_qgis/protocol must be the backend's package (so the plugin run from the repository uses it)."""
    if not PROTOCOL_LINK.is_dir() or PROTOCOL_LINK.resolve() != PROTOCOL.resolve():
        return [f"{PROTOCOL_LINK.relative_to(ROOT)} is not a link to {PROTOCOL.relative_to(ROOT)} "
                f"(ln -s ../backend/allspark_protocol {PROTOCOL_LINK.relative_to(ROOT)}; on Windows enable git's "
                f"core.symlinks)"]
    return []


def forbidden_imports(files) -> list[str]:
    """Imports of backend-only packages in the plugin (it runs in QGIS's Python: never torch)."""
    bad = []
    for p in files:
        if p.suffix != ".py":
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"), str(p))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in FORBIDDEN_IMPORTS:
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno}: import {n}")
    return bad


# ---- translations -----------------------------------------------------------------------------------


def tr_literals(files=None) -> list[str]:
    """Every literal passed to tr() / N_() (or .tr()) in the plugin's sources, in first-seen order."""
    seen: dict[str, None] = {}
    for p in files or plugin_files():
        if p.suffix != ".py":
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"), str(p))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name not in ("tr", "N_"):
                continue
            a = node.args[0]
            if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value:
                seen.setdefault(a.value, None)
    return list(seen)


def read_ts(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    out = {}
    for msg in ET.parse(path).getroot().iter("message"):
        src = msg.findtext("source")
        tr_el = msg.find("translation")
        if src is not None and tr_el is not None and (tr_el.text or "") and tr_el.get("type") not in ("obsolete",):
            out[src] = tr_el.text
    return out


def write_ts(path: Path, language: str, sources: list[str], translations: dict[str, str]) -> int:
    """Write a Qt .ts file; returns how many sources are still untranslated."""
    root = ET.Element("TS", version="2.1", language=language)
    ctx = ET.SubElement(root, "context")
    ET.SubElement(ctx, "name").text = CONTEXT
    missing = 0
    for s in sources:
        m = ET.SubElement(ctx, "message")
        ET.SubElement(m, "source").text = s
        t = ET.SubElement(m, "translation")
        if translations.get(s):
            t.text = translations[s]
        else:
            t.set("type", "unfinished")
            missing += 1
    ET.indent(root, space="    ")
    body = ET.tostring(root, encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + body + "\n", encoding="utf-8")
    return missing


def update_ts() -> dict[str, int]:
    sources = tr_literals()
    I18N.mkdir(exist_ok=True)
    out = {}
    for lang in LANGUAGES:
        path = I18N / f"{NAME}_{lang}.ts"
        out[lang] = write_ts(path, lang, sources, read_ts(path))
    return out


def find_lrelease() -> str | None:
    for cand in (os.environ.get("LRELEASE"), "lrelease", "lrelease-qt5", "/usr/lib/qt5/bin/lrelease",
                 "/usr/lib/x86_64-linux-gnu/qt5/bin/lrelease"):
        if cand and (shutil.which(cand) or Path(cand).is_file()):
            return shutil.which(cand) or cand
    return None


def compile_ts(out_dir: Path) -> list[Path]:
    lrelease = find_lrelease()
    if lrelease is None:
        raise SystemExit("build.py: lrelease not found (Debian: apt install qttools5-dev-tools; or set LRELEASE)")
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for ts in sorted(I18N.glob("*.ts")):
        qm = out_dir / (ts.stem + ".qm")
        r = subprocess.run([lrelease, "-silent", str(ts), "-qm", str(qm)], capture_output=True, text=True)  # nosec B603
        if r.returncode != 0 or not qm.is_file():
            raise SystemExit(f"build.py: lrelease failed on {ts.name}: {r.stderr or r.stdout}")
        made.append(qm)
    return made


# ---- the zip ----------------------------------------------------------------------------------------


def build(dist: Path = DIST) -> Path:
    meta = metadata()
    problems = check_metadata(meta) + check_protocol_link()
    files = plugin_files()
    problems += forbidden_imports(files)
    if problems:
        raise SystemExit("build.py: " + "\n".join(problems))
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"{NAME}-{meta['version']}.zip"
    entries: list[tuple[str, bytes]] = []
    for p in files:
        entries.append((f"{NAME}/{zip_path(p)}", p.read_bytes()))
    entries.append((f"{NAME}/metadata.txt", (ROOT / "metadata.txt").read_bytes()))
    for p in sorted(RESOURCES.glob("*")):
        if p.is_file() and p.suffix.lower() in (".svg", ".png"):
            entries.append((f"{NAME}/resources/{p.name}", p.read_bytes()))
    with tempfile.TemporaryDirectory() as tmp:
        for qm in compile_ts(Path(tmp)):
            entries.append((f"{NAME}/i18n/{qm.name}", qm.read_bytes()))
    for extra in ("LICENSE", "LICENSE.txt", "README.md"):
        if (ROOT / extra).is_file():
            entries.append((f"{NAME}/{extra}", (ROOT / extra).read_bytes()))
    tmp_zip = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as z:
        dirs = sorted({str(Path(n).parent.as_posix()) + "/" for n, _ in entries})
        for d in dirs:
            zi = zipfile.ZipInfo(d, ZIP_TIME)
            zi.external_attr = (0o40755 << 16) | 0x10
            z.writestr(zi, b"")
        for name, data in sorted(entries):
            zi = zipfile.ZipInfo(name, ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data)
    os.replace(tmp_zip, out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", nargs="?", default="build", choices=["build", "update-ts", "check"])
    ap.add_argument("--dist", default=str(DIST), help="output folder (default dist/)")
    args = ap.parse_args(argv)
    if args.command == "update-ts":
        for lang, missing in update_ts().items():
            print(f"i18n/{NAME}_{lang}.ts: {missing} untranslated")
        return 0
    if args.command == "check":
        problems = check_metadata(metadata()) + check_protocol_link() + forbidden_imports(plugin_files())
        print("\n".join(problems) or "ok")
        return 1 if problems else 0
    print(build(Path(args.dist)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
