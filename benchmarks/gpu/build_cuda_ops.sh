#!/usr/bin/env bash
# Build libmlip_ops with the CUDA kernels (MLIP_WITH_CUDA=ON) against a python's CUDA torch.
#
#   bash benchmarks/gpu/build_cuda_ops.sh PYTHON BUILD_DIR [JOBS]
#
# PYTHON must hold a CUDA build of torch (torch.version.cuda set) and the cmake package (or a
# cmake >= 3.18 on PATH); nvcc is looked for in CUDA_HOME, /usr/local/cuda, then PATH. The
# library lands in BUILD_DIR/libmlip_ops.so; point MLIP_OPS_LIBRARY at it. Architectures:
# MLIP_CUDA_ARCHITECTURES (default "80;90": A100, H100/H200); MLIP_NATIVE_ARCH=ON (default) tunes
# the CPU kernels for the building machine. Used by run_on_gpu.sh on the GPU machine and, to prove
# that the sources compile, on machines without a GPU.
set -euo pipefail
PY="${1:?usage: build_cuda_ops.sh PYTHON BUILD_DIR [JOBS]}"
BUILD="${2:?usage: build_cuda_ops.sh PYTHON BUILD_DIR [JOBS]}"
JOBS="${3:-2}"
ARCHS="${MLIP_CUDA_ARCHITECTURES:-80;90}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

read -r TORCH_VERSION TORCH_CUDA PREFIX SITE < <("$PY" -c '
import os, torch
print(torch.__version__, torch.version.cuda, torch.utils.cmake_prefix_path,
      os.path.dirname(os.path.dirname(torch.__file__)))')
if [ "$TORCH_CUDA" = "None" ]; then
  echo "build_cuda_ops: $PY has torch $TORCH_VERSION without CUDA; use a CUDA build of torch" >&2
  exit 2
fi

CMAKE="$("$PY" -c 'import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, "cmake"))' 2>/dev/null || command -v cmake || true)"
[ -x "$CMAKE" ] || { echo "build_cuda_ops: no cmake (pip install cmake, or put one on PATH)" >&2; exit 2; }

NVCC=""
for c in "${CUDA_HOME:-}/bin/nvcc" /usr/local/cuda/bin/nvcc "/usr/local/cuda-$TORCH_CUDA/bin/nvcc" "$(command -v nvcc || true)"; do
  # a real compiler, not a wrapper script: CMake needs the toolkit next to it
  if [ -n "$c" ] && [ -x "$c" ] && [ -d "$(dirname "$(readlink -f "$c")")/../include" ]; then NVCC="$(readlink -f "$c")"; break; fi
done
[ -n "$NVCC" ] || { echo "build_cuda_ops: nvcc not found (set CUDA_HOME)" >&2; exit 2; }
TOOLKIT="$(cd "$(dirname "$NVCC")/.." && pwd)"

# torch's CMake config asks for nvrtc by the old FindCUDA names; the pip wheels keep it here
NVRTC="$(ls "$SITE"/nvidia/cu*/lib/libnvrtc.so* "$SITE"/nvidia/cuda_nvrtc/lib/libnvrtc.so* \
            "$TOOLKIT"/lib64/libnvrtc.so* 2>/dev/null | head -1 || true)"
extra=()
[ -n "$NVRTC" ] && extra+=("-DCUDA_nvrtc_LIBRARY=$NVRTC")

echo "build_cuda_ops: torch $TORCH_VERSION (CUDA $TORCH_CUDA), nvcc $NVCC, cmake $("$CMAKE" --version | head -1), archs $ARCHS -> $BUILD"
export TORCH_CUDA_ARCH_LIST="$(echo "$ARCHS" | sed 's/\([0-9]\)\([0-9]\)/\1.\2/g')"
"$CMAKE" -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMLIP_WITH_CUDA=ON -DMLIP_NATIVE_ARCH="${MLIP_NATIVE_ARCH:-ON}" \
  -DMLIP_CUDA_ARCHITECTURES="$ARCHS" -DCMAKE_CUDA_COMPILER="$NVCC" -DCUDAToolkit_ROOT="$TOOLKIT" \
  -DCUDA_TOOLKIT_ROOT_DIR="$TOOLKIT" -DCMAKE_PREFIX_PATH="$PREFIX" "${extra[@]}" >"$BUILD.configure.log" 2>&1 \
  || { tail -40 "$BUILD.configure.log" >&2; exit 1; }
"$CMAKE" --build "$BUILD" -j "$JOBS"
"$PY" -c "import torch; torch.ops.load_library('$BUILD/libmlip_ops.so'); print('build_cuda_ops:', torch.ops.mlip.build_info())"
