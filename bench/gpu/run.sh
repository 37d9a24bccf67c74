#!/usr/bin/env bash
# The GPU figures (bench/gpu_bench.py) in one short run on one H100/H200-class GPU whose Python
# has JAX (with CUDA) but neither TensorFlow nor the other packages below: under 8 minutes in all,
# start-up included (installing the wheels ~15 s, the measurements --budget 300 s, cut at 420 s).
#
#   bash bench/gpu/run.sh fetch    # where pip reaches the package index: the wheels into .whl/ (~12 MB)
#   bash bench/gpu/run.sh          # on the GPU machine, in the repository's root, .whl/ copied along
#   bash bench/gpu/run.sh --tiny   # the same path on this CPU: B0 @ 32 px, TensorFlow blocked (~3 min)
#
# Results go to $RESULTS (default ./gpu-bench-results): gpu_bench.json (rewritten after every
# measurement, so a run cut short keeps what it measured), gpu_bench.txt (the table and the
# verdicts), machine.txt (nvidia-smi, pip versions). Environment: PYTHON (default python3), RESULTS.
set -euo pipefail

# What the bench imports that such a machine lacks (as of 2026-12: its image has jax, numpy,
# opencv-python-headless, scipy, scikit-learn, click, pyyaml, tqdm, h5py, rich, absl-py,
# ml-dtypes, typing-extensions). Pure-Python wheels, or CPython 3.12 manylinux x86-64 builds.
WHEELS=(
  keras==3.15.1 namex==0.1.0 optree==0.20.0                    # Keras 3 (runs on JAX)
  albumentations==2.0.8 albucore==0.0.24 simsimd==6.5.16 stringzilla==5.3.2   # the augmentation
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0                                      # pydantic needs a recent one
  lz4==4.4.5                                                     # dfembed's crop archives
)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
RESULTS="${RESULTS:-$ROOT/gpu-bench-results}"
SITE=/tmp/dfembed-gpu-site
cd "$ROOT"

if [[ "${1:-}" == "fetch" ]]; then
  platforms=()
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
  done
  "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "${WHEELS[@]}"
  du -sh .whl
  exit 0
fi

mkdir -p "$RESULTS"
if [[ "${1:-}" == "--tiny" ]]; then
  args=(--tiny --no-tensorflow --budget 600)
  limit=900
else
  [[ $# -eq 0 ]] || { echo "usage: bash bench/gpu/run.sh [fetch|--tiny]" >&2; exit 2; }
  ls .whl/*.whl >/dev/null 2>&1 || { echo "no wheels in $ROOT/.whl: run 'bash bench/gpu/run.sh fetch' first" >&2; exit 2; }
  rm -rf "$SITE"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  args=(--budget 300)
  limit=420
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1

{ date -u; uptime; nvidia-smi 2>&1 || echo "no nvidia-smi"
  "$PYTHON" -c 'import jax, keras, cv2, numpy; print("jax", jax.__version__, jax.devices()); print("keras", keras.__version__, "opencv", cv2.__version__, "numpy", numpy.__version__)'
} >"$RESULTS/machine.txt" 2>&1 || { cat "$RESULTS/machine.txt"; echo "the packages do not import: see above" >&2; exit 1; }
cat "$RESULTS/machine.txt"
if [[ "${args[0]}" != "--tiny" ]] && ! "$PYTHON" -c 'import jax, sys; sys.exit(jax.devices()[0].platform != "gpu")'; then
  echo "JAX sees no GPU (see $RESULTS/machine.txt): these figures are the GPU's" >&2
  exit 1
fi
set -o pipefail
timeout "$limit" "$PYTHON" bench/gpu_bench.py "${args[@]}" --out "$RESULTS/gpu_bench.json" 2>&1 \
  | grep -v -e '^I0000' -e '^WARNING: All log messages' | tee "$RESULTS/gpu_bench.txt"
