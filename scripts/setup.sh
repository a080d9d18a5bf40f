#!/usr/bin/env bash
# Sets up everything AllSpark for QGIS needs on a fresh Debian 12 machine:
# QGIS 3.40 LTR from bookworm-backports, Qt tools, and a .venv (Debian's python3,
# --system-site-packages so the QGIS bindings are visible) with the backend's packages.
# Idempotent: a machine that already has everything skips each step quickly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/allspark"
mkdir -p "$CACHE/wheels"

need_apt=0
for p in qgis python3-qgis qgis-providers python3-zmq python3-venv python3-wheel python3-dev qttools5-dev-tools pyqt5-dev-tools xvfb xauth fonts-open-sans cmake build-essential; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  echo "[setup] installing QGIS 3.40 LTR and tools from Debian (bookworm-backports)"
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q -t bookworm-backports --no-install-recommends \
    qgis python3-qgis qgis-providers
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    python3-zmq python3-venv python3-wheel python3-dev qttools5-dev-tools pyqt5-dev-tools xvfb xauth fonts-open-sans cmake build-essential
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv from /usr/bin/python3 (--system-site-packages)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
PY="$ROOT/.venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# llama-cpp-python builds from source (~5 min on 2 cores): build once, cache the wheel.
LLAMA_VER=0.3.36
if ! ls "$CACHE/wheels"/llama_cpp_python-$LLAMA_VER-*.whl >/dev/null 2>&1; then
  echo "[setup] building llama-cpp-python $LLAMA_VER (cached in $CACHE/wheels)"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$PY" -m pip wheel --no-deps -w "$CACHE/wheels" "llama-cpp-python==$LLAMA_VER"
fi

stamp=.venv/.allspark-requirements
if [ ! -f "$stamp" ] || ! cmp -s requirements.txt "$stamp"; then
  echo "[setup] installing Python packages into .venv"
  "$PY" -m pip install -q --find-links "$CACHE/wheels" -r requirements.txt
  cp requirements.txt "$stamp"
fi
# The backend (backend/allspark, and backend/allspark_protocol: the protocol it shares with the plugin) is
# installed into .venv as the package the repository's pyproject.toml describes, editable (the checkout's
# files are what runs), with its `allspark` command; a plain copy when an editable install is not possible.
# The plugin (allspark_qgis) is not installed: QGIS loads it from its plugins folder (build.py's zip), the
# tests from the repository root (`python -m pytest` puts the working folder on the path).
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$SITE/allspark-checkout.pth"  # what earlier versions of this script used instead of an install
if ! (cd /tmp && "$PY" -c "import allspark, allspark_protocol, sys; sys.exit(not allspark.__file__.startswith('$ROOT/backend/'))" \
      2>/dev/null) || [ ! -x .venv/bin/allspark ]; then
  echo "[setup] installing the backend (allspark, allspark_protocol) into .venv"
  if ! "$PY" -m pip install -q --no-deps --no-build-isolation -e .; then
    echo "[setup] editable install failed: installing a copy (rerun this script after changing backend/)"
    "$PY" -m pip install -q --no-deps --no-build-isolation .
  fi
fi
# Debian's pyproj looks for PROJ's data under sys.prefix, which in a venv is .venv: point it at Debian's.
if [ -f /usr/share/proj/proj.db ]; then
  mkdir -p .venv/share
  ln -sfn /usr/share/proj .venv/share/proj
fi
echo "[setup] ready: $("$PY" -c 'import qgis.core, torch, llama_cpp; print("QGIS", qgis.core.Qgis.version(), "| torch", torch.__version__, "| llama-cpp-python", llama_cpp.__version__)')"
