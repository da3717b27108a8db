"""Benchmark systems and the timing loop shared by every worker.

This module needs only numpy and ase (imported where used, so the driver can read
:data:`SYSTEMS` with the standard library alone); it imports in every peer venv. Workers
import it by putting their own directory on ``sys.path``; it never touches torch's global
state.

Systems (all periodic, all built in code and seeded):

=============  =======  =====================================================================
name           n_atoms  what
=============  =======  =====================================================================
cu108          108      fcc Cu, 3x3x3 conventional cells, a = 3.61 Å, rattled 0.05 Å
cu500          500      fcc Cu, 5x5x5 conventional cells, a = 3.61 Å, rattled 0.05 Å
cu2048         2048     fcc Cu, 8x8x8 conventional cells, a = 3.61 Å, rattled 0.05 Å
cu4000         4000     fcc Cu, 10x10x10 conventional cells, a = 3.61 Å, rattled 0.05 Å
cu32000        32000    fcc Cu, 20x20x20 conventional cells, a = 3.61 Å, rattled 0.05 Å
cu_cellsN      4 N^3    fcc Cu, NxNxN conventional cells (any N >= 1; the GPU size search)
water192       192      64 H2O in a cubic box at 1 g/cm^3 (L = 12.42 Å)
water1536      1536     512 H2O in a cubic box at 1 g/cm^3 (L = 24.83 Å)
=============  =======  =====================================================================
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from ase import Atoms

SYSTEM_SEED = 0
CU_LATTICE_A = 3.61
CU_RATTLE_STDEV_A = 0.05

WATER_DENSITY_G_PER_CM3 = 1.0
WATER_OH_BOND_A = 0.9572
WATER_HOH_ANGLE_DEG = 104.52
WATER_JITTER_A = 0.1
WATER_MIN_INTERMOLECULAR_A = 1.6
WATER_ORIENTATION_TRIES = 100
AMU_G = 1.66053906660e-24
ANGSTROM3_PER_CM3 = 1e24

SYSTEMS = ("cu108", "cu500", "cu2048", "cu4000", "cu32000", "water192", "water1536")
CU_CELLS_PREFIX = "cu_cells"


def fcc_cu(n_cells: int, seed: int = SYSTEM_SEED) -> Atoms:
    """fcc Cu, ``n_cells``^3 conventional cells (4 atoms each), rattled by 0.05 Å (seeded)."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=CU_LATTICE_A, cubic=True).repeat((n_cells,) * 3)
    atoms.rattle(stdev=CU_RATTLE_STDEV_A, seed=seed)
    return atoms


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random proper rotation matrix (QR of a Gaussian matrix)."""
    import numpy as np

    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def water_box(n_per_side: int, seed: int = SYSTEM_SEED) -> Atoms:
    """``n_per_side``^3 water molecules on a cubic grid, random orientations, 1 g/cm^3.

    The box edge follows from the density: 64 molecules give L = 12.42 Å. Each molecule's
    oxygen sits on a grid point jittered by up to 0.1 Å; the molecule is rigidly rotated by
    a random rotation, redrawn (up to 100 times) while any of its atoms comes closer than
    1.6 Å to an atom of a molecule already placed (minimum image). Seeded, so every code
    sees the same coordinates.
    """
    import numpy as np
    from ase import Atoms

    rng = np.random.default_rng(seed)
    n_molecules = n_per_side**3
    molecule_mass_amu = 2 * 1.00794 + 15.9994
    volume_A3 = n_molecules * molecule_mass_amu * AMU_G / WATER_DENSITY_G_PER_CM3 * ANGSTROM3_PER_CM3
    box_A = volume_A3 ** (1.0 / 3.0)
    spacing_A = box_A / n_per_side

    half_angle = np.radians(WATER_HOH_ANGLE_DEG) / 2.0
    template = np.array(
        [
            [0.0, 0.0, 0.0],
            [WATER_OH_BOND_A * np.sin(half_angle), WATER_OH_BOND_A * np.cos(half_angle), 0.0],
            [-WATER_OH_BOND_A * np.sin(half_angle), WATER_OH_BOND_A * np.cos(half_angle), 0.0],
        ]
    )
    positions = []
    for i in range(n_per_side):
        for j in range(n_per_side):
            for k in range(n_per_side):
                centre = (np.array([i, j, k]) + 0.5) * spacing_A
                centre = centre + rng.uniform(-WATER_JITTER_A, WATER_JITTER_A, size=3)
                placed = np.concatenate(positions) if positions else np.zeros((0, 3))
                for _ in range(WATER_ORIENTATION_TRIES):
                    molecule = template @ _random_rotation(rng).T + centre
                    delta = molecule[:, None, :] - placed[None, :, :]
                    delta -= box_A * np.round(delta / box_A)
                    if placed.shape[0] == 0 or np.sqrt((delta**2).sum(-1)).min() >= WATER_MIN_INTERMOLECULAR_A:
                        break
                positions.append(molecule)
    symbols = "OH2" * n_molecules
    atoms = Atoms(symbols, positions=np.concatenate(positions), cell=[box_A] * 3, pbc=True)
    atoms.wrap()
    return atoms


def build_system(name: str) -> Atoms:
    """The benchmark system called ``name`` (one of :data:`SYSTEMS`)."""
    builders = {
        "cu108": lambda: fcc_cu(3),
        "cu500": lambda: fcc_cu(5),
        "cu2048": lambda: fcc_cu(8),
        "cu4000": lambda: fcc_cu(10),
        "cu32000": lambda: fcc_cu(20),
        "water192": lambda: water_box(4),
        "water1536": lambda: water_box(8),
    }
    cells = name[len(CU_CELLS_PREFIX):] if name.startswith(CU_CELLS_PREFIX) else ""
    if cells.isdigit() and int(cells) >= 1:
        return fcc_cu(int(cells))
    if name not in builders:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}, {CU_CELLS_PREFIX}N")
    return builders[name]()


def system_names(text: str) -> list:
    """A comma-separated list of system names, each checked (argparse ``type``)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        cells = name[len(CU_CELLS_PREFIX):] if name.startswith(CU_CELLS_PREFIX) else ""
        if name not in SYSTEMS and not (cells.isdigit() and int(cells) >= 1):
            raise ValueError(f"unknown system {name!r}")
    if not names:
        raise ValueError("no system given")
    return names


def count_edges(atoms: Atoms, cutoff_A: float) -> int:
    """Number of directed pairs within ``cutoff_A`` (for reporting only)."""
    from ase.neighborlist import neighbor_list

    return int(len(neighbor_list("i", atoms, cutoff_A)))


def peak_rss_gib() -> float:
    """Peak resident set size of this process in GiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def time_energy_forces(atoms: Atoms, calc, repeats: int, warmups: int) -> dict:
    """Time ``calc`` on ``atoms``: energy + forces, neighbour list included, fresh each call.

    Each call resets the calculator's cache so that the whole pipeline (ase.Atoms ->
    neighbour list -> model -> forces back in numpy) runs. Returns the per-call wall times
    (s), their median, the matching CPU times of this process, and the last energy and
    max |force| (to catch a model returning NaN).

    ``cpu_over_wall`` (median CPU time / median wall time) shows contention: on a shared
    core it drops below ~0.95 when other processes took the CPU during the timing.
    """
    import numpy as np

    atoms.calc = calc
    wall_s, cpu_s = [], []
    energy = forces = None
    for call in range(warmups + repeats):
        calc.reset()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        forces = atoms.get_forces()
        energy = atoms.get_potential_energy()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if call >= warmups:
            wall_s.append(wall)
            cpu_s.append(cpu)
    median_s = statistics.median(wall_s)
    return {
        "times_s": wall_s,
        "cpu_times_s": cpu_s,
        "median_s": median_s,
        "atom_steps_per_s": len(atoms) / median_s,
        "cpu_over_wall": statistics.median(cpu_s) / median_s,
        "energy_eV": float(energy),
        "max_abs_force_eV_per_A": float(np.abs(forces).max()),
        "finite": bool(np.isfinite(energy) and np.isfinite(forces).all()),
    }


def add_common_arguments(parser) -> None:
    """The CLI every worker accepts."""
    parser.add_argument("--system", default=["cu500"], type=system_names,
                        help=f"one or more (comma-separated) of {', '.join(SYSTEMS)}, {CU_CELLS_PREFIX}N; "
                             "each prints its own JSON line")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--device", default="cpu", help="torch device of the model, e.g. cpu or cuda")
    parser.add_argument("--stop-at-oom", action="store_true",
                        help="after a system that runs out of memory, skip the remaining (larger) ones")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (median reported)")
    parser.add_argument("--warmups", type=int, default=2, help="untimed calls first")
    parser.add_argument("--seed", type=int, default=0, help="model initialisation seed")


def peak_gpu_gib(device: str):
    """Peak CUDA memory allocated by torch in this process, GiB (None off the GPU)."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 1024**3


def emit(record: dict) -> None:
    """Print one JSON result line (a single-system driver reads the last line)."""
    record["peak_rss_gib"] = peak_rss_gib()
    sys.stdout.flush()
    print(json.dumps(record), flush=True)
