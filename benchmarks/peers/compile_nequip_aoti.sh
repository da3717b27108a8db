#!/usr/bin/env bash
# Make the AOTInductor-compiled NequIP used by worker_nequip_aoti.py.
#
#   bash benchmarks/peers/compile_nequip_aoti.sh [float32] [float64]     (default: float32)
#
# For each dtype: `nequip-train` with nequip_aoti_config.yaml (the benchmark shape, one
# optimiser step at learning rate 0 on 2 frames of nequip's built-in EMT Cu data, i.e. the
# seed-0 initial weights) writes a checkpoint, then
#   nequip-compile CKPT OUT.nequip.pt2 --mode aotinductor --device cpu --target ase
# compiles it (about 5 CPU-minutes per dtype; needs a C++ compiler, g++ 12 here).
# Output: $PEERS_DIR/aoti/nequip_<dtype>.nequip.pt2 (PEERS_DIR defaults to /tmp/peers; the
# NequIP venv must exist: bash benchmarks/peers/setup_peer_venvs.sh nequip). Idempotent: an
# existing .nequip.pt2 is kept (delete it to recompile). Logs beside it.
set -euo pipefail

PEERS_DIR="${PEERS_DIR:-/tmp/peers}"
NEQUIP_BIN="$PEERS_DIR/nequip/bin"
OUT_DIR="$PEERS_DIR/aoti"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

dtypes=("$@")
if [ ${#dtypes[@]} -eq 0 ]; then dtypes=(float32); fi
if [ ! -x "$NEQUIP_BIN/nequip-compile" ]; then
    echo "[compile_nequip_aoti] no $NEQUIP_BIN/nequip-compile: run bash benchmarks/peers/setup_peer_venvs.sh nequip" >&2
    exit 2
fi
mkdir -p "$OUT_DIR"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

for dtype in "${dtypes[@]}"; do
    case "$dtype" in
        float32|float64) ;;
        *) echo "[compile_nequip_aoti] unknown dtype '$dtype' (float32 or float64)" >&2; exit 2 ;;
    esac
    out="$OUT_DIR/nequip_${dtype}.nequip.pt2"
    if [ -s "$out" ]; then
        echo "[compile_nequip_aoti] $dtype: ok ($out)"
        continue
    fi
    run_dir="$OUT_DIR/train_${dtype}"
    rm -rf "$run_dir"
    echo "[compile_nequip_aoti] $dtype: checkpoint -> $run_dir/last.ckpt"
    "$NEQUIP_BIN/nequip-train" -cp "$HERE" -cn nequip_aoti_config.yaml \
        "hydra.run.dir=$run_dir" "training_module.model.model_dtype=$dtype" \
        > "$OUT_DIR/train_${dtype}.log" 2>&1
    echo "[compile_nequip_aoti] $dtype: nequip-compile --mode aotinductor --device cpu --target ase -> $out"
    "$NEQUIP_BIN/nequip-compile" "$run_dir/last.ckpt" "$out.tmp.nequip.pt2" \
        --mode aotinductor --device cpu --target ase > "$OUT_DIR/compile_${dtype}.log" 2>&1
    mv "$out.tmp.nequip.pt2" "$out"
    echo "[compile_nequip_aoti] $dtype: built ($out)"
done
