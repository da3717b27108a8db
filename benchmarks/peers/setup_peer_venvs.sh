#!/usr/bin/env bash
# Recreate the peer virtual environments used by benchmarks/bench_model_vs_peers.py.
#
#   bash benchmarks/peers/setup_peer_venvs.sh [nequip] [mace]     (default: both)
#
# Each peer gets its own venv because mace-torch pins e3nn==0.4.4 while nequip needs
# e3nn>=0.6. torch is installed first (same version as the mlip venv) so that the peer
# package does not pull in another torch. Idempotent: a venv whose imports already work
# is left alone. Override the location with PEERS_DIR (default /tmp/peers).
set -euo pipefail

PEERS_DIR="${PEERS_DIR:-/tmp/peers}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
NEQUIP_SPEC="${NEQUIP_SPEC:-nequip==0.19.1}"
MACE_SPEC="${MACE_SPEC:-mace-torch==0.3.16}"
# the neighbour-list / structure tools the workers use
EXTRA_SPECS=(ase matscipy)

peers=("$@")
if [ ${#peers[@]} -eq 0 ]; then peers=(nequip mace); fi

make_venv() {
    local name="$1" spec="$2" check="$3"
    local venv="$PEERS_DIR/$name"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
        echo "[setup_peer_venvs] $name: ok ($venv)"
        return 0
    fi
    echo "[setup_peer_venvs] $name: building $venv"
    mkdir -p "$PEERS_DIR"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "$TORCH_SPEC"
    "$venv/bin/python" -m pip install --quiet "$spec" "${EXTRA_SPECS[@]}" "$TORCH_SPEC"
    "$venv/bin/python" -c "$check"
    echo "[setup_peer_venvs] $name: built ($venv)"
}

for peer in "${peers[@]}"; do
    case "$peer" in
        nequip) make_venv nequip "$NEQUIP_SPEC" "import torch, nequip, ase, matscipy; from nequip.integrations.ase import NequIPCalculator" ;;
        mace)   make_venv mace "$MACE_SPEC" "import torch, mace, ase, matscipy; from mace.calculators import MACECalculator" ;;
        *) echo "[setup_peer_venvs] unknown peer '$peer' (known: nequip mace)" >&2; exit 2 ;;
    esac
done
