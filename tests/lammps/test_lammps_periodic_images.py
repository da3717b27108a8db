"""Exported models and periodic images of unwrapped positions (float64, <= 1e-10 relative).

* In LAMMPS: a data file whose atoms sit up to ±10 cells outside the box (positions unwrapped by
  integer lattice vectors, orthorhombic and triclinic boxes). ``read_data`` wraps them into the
  box and records image flags; energy, forces, global virial and per-atom energies then equal
  the Python potential on the wrapped structure AND on the unwrapped one, for a model with a
  learned-charge Coulomb term (Ewald in LAMMPS's box) and for a plain one.
* The exported TorchScript module itself (what ``pair_style mlip`` calls) with its local atoms
  unwrapped by whole lattice vectors and the ghost atoms built around them (what LAMMPS would
  pass if it did not wrap, or between re-neighbourings when atoms have left the box): the same
  energy, owner forces and virial ``Σ r ⊗ F + cell_virial`` as for the wrapped atoms and as
  Python's energy, forces and stress. No LAMMPS needed for this part.
"""
import warnings

import ase
import ase.build
import numpy as np
import pytest
import torch

import lammps_helpers as lh
import mlip
from mlip.export import export_lammps

ELEMENTS = ["Na", "Cl"]
RTOL = 1e-10
MAX_CELLS = 10


def na_cl_potential(coulomb: bool) -> mlip.Potential:
    """Na/Cl, cutoff 3.5 Å, 2 layers; with ``coulomb``, learned charges (~ ±0.8 e) summed by
    Ewald (real-space cutoff 6 Å, tolerance 1e-8)."""
    extra = dict(long_range="coulomb", coulomb_real_space_cutoff=6.0, coulomb_tolerance=1e-8) if coulomb else {}
    cfg = mlip.ModelConfig(elements=tuple(ELEMENTS), cutoff=3.5, l_max=1, channels=6, n_layers=2, radial_hidden=8,
                           readout_hidden=8, avg_num_neighbors=6.0, **extra)
    pot = mlip.build_potential(cfg, seed=4 if coulomb else 5, dtype=torch.float64)
    if coulomb:
        with torch.no_grad():
            pot.model.terms[0].charge_head.shift.copy_(torch.tensor([0.8, -0.8], dtype=torch.float64))
    return pot


def rock_salt() -> ase.Atoms:
    atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.12, seed=7)
    return atoms


def triclinic_salt() -> ase.Atoms:
    """8 ions in a lower-triangular (LAMMPS orientation), clearly skewed cell."""
    atoms = lh.random_structure([[6.2, 0.0, 0.0], [1.9, 5.8, 0.0], [-1.3, 1.1, 6.4]], 8, ("Na", "Cl"), seed=3,
                                min_distance=2.3)
    atoms.set_chemical_symbols(ELEMENTS * 4)
    return atoms


STRUCTURES = {"rock_salt": rock_salt, "triclinic": triclinic_salt}


def lattice_moves(n_atoms: int, seed: int) -> np.ndarray:
    """Integer moves in [−10, 10]³ for every atom (one of them by 10 cells along some axis)."""
    rng = np.random.default_rng(seed)
    m = rng.integers(-MAX_CELLS, MAX_CELLS + 1, size=(n_atoms, 3))
    m[int(rng.integers(n_atoms)), int(rng.integers(3))] = -MAX_CELLS
    return m


def unwrapped(atoms: ase.Atoms, m: np.ndarray) -> ase.Atoms:
    out = atoms.copy()
    out.positions = atoms.positions + m @ np.asarray(atoms.cell)
    return out


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-12))


def python_reference(pot, atoms, backend="reference"):
    system = mlip.system_from_atoms(atoms, dtype=torch.float64)
    pred = pot(system, mlip.neighbor_list(system, pot.cutoff, backend=backend), compute_stress=True)
    w = -pred.stress[0].detach().numpy() * atoms.get_volume()
    return {"energy": float(pred.energy[0]), "forces": pred.forces.detach().numpy(),
            "atom_energy": pred.atomic_energies.detach().numpy(),
            "virial": np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])}


def mismatches(got, reference, what):
    """Quantities of ``got`` that differ from ``reference`` by more than RTOL (relative)."""
    out = []
    if abs(got["energy"] - reference["energy"]) > RTOL * max(1.0, abs(reference["energy"])):
        out.append(f"{what}: energy {got['energy']!r} vs {reference['energy']!r}")
    for key in ("forces", "virial", "atom_energy"):
        if key in got and rel(got[key], reference[key]) > RTOL:
            out.append(f"{what}: {key} differ by {rel(got[key], reference[key]):.3g} relative")
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("periodic_images")
    built = {}
    for name, coulomb in (("coulomb", True), ("plain", False)):
        pot = na_cl_potential(coulomb)
        built[name] = (pot, export_lammps(pot, out / f"{name}.pt"))
    return built


def lammps_single_point(atoms, model_path, workdir):
    """``run 0`` in LAMMPS on ``atoms`` as written (unwrapped positions are allowed): energy,
    forces, virial (xx yy zz xy xz yz, eV), per-atom energies, and LAMMPS's own wrapped
    positions and image flags (atoms in the order of ``atoms``)."""
    from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    data = lh.write_data(workdir / "unwrapped.data", atoms, ELEMENTS)
    lmp = lh.open_lammps()
    try:
        lmp.commands_string(f"""
            units metal
            atom_style atomic
            atom_modify map array
            boundary p p p
            read_data {data}
            pair_style mlip
            pair_coeff * * {model_path} {' '.join(ELEMENTS)}
            compute vir all pressure NULL virial
            compute pe_atom all pe/atom
            thermo_style custom step pe c_vir[*]
            run 0
        """)
        n = lmp.extract_global("nlocal")
        order = np.argsort(lmp.numpy.extract_atom("id")[:n])
        image = np.array(lmp.numpy.extract_atom("image")[:n], dtype=np.int64)[order]
        # LAMMPS packs image flags in 10 bits each (IMGMAX 512): x lowest, then y, then z
        flags = np.stack([(image & 1023) - 512, ((image >> 10) & 1023) - 512, (image >> 20) - 512], axis=1)
        volume = float(lmp.get_thermo("vol"))
        pressure = np.array(lmp.numpy.extract_compute("vir", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR), dtype=float)
        return {
            "energy": float(lmp.get_thermo("pe")),
            "forces": np.array(lmp.numpy.extract_atom("f")[:n])[order],
            "virial": pressure * volume / lh.NKTV2P,
            "atom_energy": np.array(lmp.numpy.extract_compute("pe_atom", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:n])[order],
            "x": np.array(lmp.numpy.extract_atom("x")[:n])[order],
            "image": flags,
        }
    finally:
        lmp.close()


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("model", ["coulomb", "plain"])
def test_lammps_wraps_unwrapped_atoms_and_equals_python(model, structure, exported, plugin, tmp_path):
    pot, path = exported[model]
    atoms = STRUCTURES[structure]()
    m = lattice_moves(len(atoms), seed=sorted(STRUCTURES).index(structure))
    far = unwrapped(atoms, m)
    got = lammps_single_point(far, path, tmp_path)
    cell = np.asarray(atoms.cell)
    # LAMMPS moved the atoms into its box by whole lattice vectors and kept them as image flags
    assert np.abs(got["image"]).max() >= 5
    np.testing.assert_allclose(got["x"] + got["image"] @ cell, far.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["x"], atoms.positions + (m - got["image"]) @ cell, rtol=0, atol=1e-9)
    problems = mismatches(got, python_reference(pot, atoms), "LAMMPS vs Python on the wrapped structure")
    for backend in ("reference", "matscipy"):
        problems += mismatches(got, python_reference(pot, far, backend),
                               f"LAMMPS vs Python ({backend} neighbour list) on the unwrapped structure")
    assert not problems, problems


# ---------------------------------------------------------------------------------------------
# the exported module with unwrapped local atoms (no LAMMPS)


def ghost_graph(positions: np.ndarray, cell: np.ndarray, reach: float, cutoff: float):
    """What a single MPI rank would hold for owned atoms at ``positions`` (taken as they are,
    unwrapped or not): the owned atoms first, then every periodic image (owner k, shift S ≠ 0)
    within ``reach`` of an owned atom, and the full edge list of the graph (open boundaries,
    edges below ``cutoff``). Returns (graph positions, owner of each graph atom, edge_index)."""
    n = len(positions)
    frac = positions @ np.linalg.inv(cell)
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    span = np.ceil(reach / heights).astype(int) + 1
    grid = np.stack(np.meshgrid(*[np.arange(-s, s + 1) for s in span], indexing="ij"), axis=-1).reshape(-1, 3)
    ghosts = set()
    for i in range(n):
        for k in range(n):
            # images of k near i: S close to the lattice offset between their cells
            base = np.floor(frac[i]).astype(int) - np.floor(frac[k]).astype(int)
            shifts = base + grid
            images = positions[k] + shifts @ cell
            close = np.linalg.norm(images - positions[i], axis=1) < reach
            for s in shifts[close]:
                if s.any():
                    ghosts.add((k, tuple(int(v) for v in s)))
    ghosts = sorted(ghosts)
    owner = np.concatenate([np.arange(n), np.array([k for k, _ in ghosts], dtype=int)])
    graph = np.concatenate([positions, np.array([positions[k] + np.array(s) @ cell for k, s in ghosts])])
    d = np.linalg.norm(graph[None, :, :] - graph[:, None, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    i, j = np.nonzero(d < cutoff)
    return graph, owner, np.stack([i, j]).astype(np.int64)


def module_prediction(scripted, pot, atoms):
    """Energy, owner forces and global virial (LAMMPS's fdotr plus cell_virial) of the exported
    module for ``atoms`` as the owned atoms of one rank."""
    cell = np.asarray(atoms.cell)
    reach = pot.config.n_layers * pot.cutoff + 0.5
    graph, owner, edge_index = ghost_graph(atoms.positions, cell, reach, pot.cutoff)
    z = torch.tensor(atoms.numbers[owner], dtype=torch.int64)
    pos = torch.tensor(graph, dtype=torch.float64)
    energy, forces, _, _, cell_virial = scripted(pos, z, torch.from_numpy(edge_index), len(atoms), False,
                                                 torch.tensor(cell, dtype=torch.float64),
                                                 torch.ones(3, dtype=torch.bool), 0.0)
    f = forces.numpy()
    w = graph.T @ f  # Σ r_a F_b over owned and ghost atoms
    virial = np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]]) + cell_virial.numpy()
    owner_forces = np.zeros((len(atoms), 3))
    np.add.at(owner_forces, owner, f)
    return {"energy": float(energy), "forces": owner_forces, "virial": virial}


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("model", ["coulomb", "plain"])
def test_exported_module_with_unwrapped_local_atoms(model, structure, exported):
    pot, path = exported[model]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=DeprecationWarning)
        scripted = torch.jit.load(str(path))
    atoms = STRUCTURES[structure]()
    far = unwrapped(atoms, lattice_moves(len(atoms), seed=10 + sorted(STRUCTURES).index(structure)))
    reference = python_reference(pot, atoms)
    problems = mismatches(module_prediction(scripted, pot, atoms), reference, "module, wrapped local atoms")
    problems += mismatches(module_prediction(scripted, pot, far), reference, "module, unwrapped local atoms")
    assert not problems, problems
