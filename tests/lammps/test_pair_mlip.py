"""pair_style mlip in a real LAMMPS equals mlip's ASE calculator: energy, forces, virial/stress,
per-atom energies and per-atom virials, on periodic triclinic and orthorhombic cells and an
open cluster, with three elements; float64 to <= 1e-8 relative, float32 loosely."""
import numpy as np
import pytest
import torch

import lammps_helpers as lh
import mlip
from mlip.types import Edges

STRUCTURES = {
    # cell rows, lower-triangular (LAMMPS orientation); cells are smaller than the 10.5 Å
    # receptive field, so ghost atoms come from several periodic images
    "triclinic": dict(cell=[[7.0, 0.0, 0.0], [1.1, 6.5, 0.0], [-0.8, 0.6, 7.2]], n_atoms=22, seed=1),
    "orthorhombic": dict(cell=[[8.0, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 6.5]], n_atoms=20, seed=2),
}


def ase_reference(pot, atoms):
    atoms = atoms.copy()
    atoms.calc = mlip.MLIPCalculator(pot)
    periodic = bool(atoms.pbc.any())
    return {
        "energy": atoms.get_potential_energy(),
        "forces": atoms.get_forces(),
        "stress": atoms.get_stress() if periodic else None,
        "energies": atoms.get_potential_energies(),
    }


def per_atom_virial_reference(pot, atoms) -> np.ndarray:
    """Per-atom virial (n, 6: xx yy zz xy xz yz) from mlip in Python, periodic images by
    shifts (not ghosts): each edge e = (i, j) gives -1/2 r_e (x) dE/dr_e to i and to j."""
    system = mlip.system_from_atoms(atoms, dtype=pot.dtype)
    edges = mlip.neighbor_list(system, pot.cutoff)
    cell = system.cell[0]
    delta = torch.zeros((edges.index.shape[1], 3), dtype=pot.dtype, requires_grad=True)
    # shift' @ cell = shift @ cell + delta: the gradient w.r.t. delta is dE/dr_e
    shift = edges.shift.to(pot.dtype) + delta @ torch.linalg.inv(cell)
    energy = pot.model.atomic_energies(system, Edges(edges.index, shift)).sum()
    (g,) = torch.autograd.grad(energy, delta)
    vec = mlip.edge_vectors(system, edges)
    w = -0.5 * torch.stack([vec[:, 0] * g[:, 0], vec[:, 1] * g[:, 1], vec[:, 2] * g[:, 2],
                            vec[:, 0] * g[:, 1], vec[:, 0] * g[:, 2], vec[:, 1] * g[:, 2]], dim=1)
    out = torch.zeros((len(atoms), 6), dtype=pot.dtype)
    out = out.index_add(0, edges.index[0], w).index_add(0, edges.index[1], w)
    return out.detach().numpy()


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("exchange", ["yes", "no", "yes max_edges 7"])
@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_lammps_equals_ase_calculator_periodic_float64(name, exchange, models, tmp_path):
    """Both LAMMPS paths: node features exchanged per layer (default; also in blocks of at most 7
    edges) and the whole graph."""
    pot, path = models["f64"]
    spec = STRUCTURES[name]
    atoms = lh.random_structure(spec["cell"], spec["n_atoms"], ("H", "C", "O"), seed=spec["seed"])
    ref = ase_reference(pot, atoms)
    got = lh.single_point(atoms, path, ["H", "C", "O"], tmp_path, pair_style=f"mlip exchange {exchange}")
    assert rel(got["energy"], ref["energy"]) <= 1e-8
    assert rel(got["forces"], ref["forces"]) <= 1e-8
    # LAMMPS virial W = -V * stress (ASE sign convention: stress = (1/V) dE/dstrain)
    stress_lammps = -lh.voigt_ase_from_lammps(got["virial"]) / got["volume"]
    assert rel(stress_lammps, ref["stress"]) <= 1e-8
    assert rel(got["atom_energy"], ref["energies"]) <= 1e-8
    # per-atom virial: sums to the global virial, equals the per-edge decomposition in Python
    assert rel(got["atom_virial"].sum(axis=0), got["virial"]) <= 1e-8
    assert rel(got["atom_virial"], per_atom_virial_reference(pot, atoms)) <= 1e-8


def test_lammps_equals_ase_calculator_open_cluster_float64(models, tmp_path):
    pot, path = models["f64"]
    atoms = lh.random_structure([[9.0, 0, 0], [0, 9.0, 0], [0, 0, 9.0]], 16, ("H", "C", "O"), seed=4, pbc=False)
    ref = ase_reference(pot, atoms)
    got = lh.single_point(atoms, path, ["H", "C", "O"], tmp_path, boundary="f f f")
    assert rel(got["energy"], ref["energy"]) <= 1e-8
    assert rel(got["forces"], ref["forces"]) <= 1e-8
    assert rel(got["atom_energy"], ref["energies"]) <= 1e-8


def test_lammps_types_may_map_to_elements_in_any_order(models, tmp_path):
    """Types 1, 2, 3 = O, H, C (not the model's H C O order), and two types may share one element."""
    pot, path = models["f64"]
    atoms = lh.random_structure(STRUCTURES["triclinic"]["cell"], 18, ("H", "C", "O"), seed=5)
    ref = ase_reference(pot, atoms)
    got = lh.single_point(atoms, path, ["O", "H", "C"], tmp_path)
    assert rel(got["energy"], ref["energy"]) <= 1e-8
    assert rel(got["forces"], ref["forces"]) <= 1e-8


def test_lammps_float32_model_matches_float32_calculator(models, tmp_path):
    pot, path = models["f32"]
    spec = STRUCTURES["triclinic"]
    atoms = lh.random_structure(spec["cell"], spec["n_atoms"], ("H", "C", "O"), seed=spec["seed"])
    ref = ase_reference(pot, atoms)
    got = lh.single_point(atoms, path, ["H", "C", "O"], tmp_path)
    assert rel(got["energy"], ref["energy"]) <= 1e-6
    assert rel(got["forces"], ref["forces"]) <= 1e-4
    stress_lammps = -lh.voigt_ase_from_lammps(got["virial"]) / got["volume"]
    assert rel(stress_lammps, ref["stress"]) <= 1e-4
    # and float32 is close to the float64 model with the same weights
    ref64 = ase_reference(models["f64"][0], atoms)
    assert rel(got["forces"], ref64["forces"]) <= 1e-3


@pytest.mark.parametrize("exchange", ["yes", "no", "yes max_edges 7"])
def test_torch_baselines_are_exported_and_match_the_calculator(exchange, tmp_path, plugin):
    """ZBL + Lennard-Jones baselines travel in the file; LJ's 6.5 Å cutoff exceeds the 2-layer
    network's reach (2 x 3 Å), so it sets both the edge cutoff and the ghost shell."""
    from mlip.export import export_lammps, read_lammps_metadata

    pot = mlip.build_potential(
        mlip.ModelConfig(elements=("H", "C", "O"), cutoff=3.0, l_max=1, channels=4, n_layers=2, radial_hidden=8,
                         readout_hidden=8, avg_num_neighbors=6.0),
        seed=2,
        baselines=[{"kind": "zbl"}, {"kind": "lennard_jones", "epsilon": 0.01, "sigma": 1.5, "cutoff": 6.5}],
    )
    path = export_lammps(pot, tmp_path / "baselines.pt")
    meta = read_lammps_metadata(path)
    assert meta["cutoff_A"] == 6.5 and meta["network_cutoff_A"] == 3.0
    assert meta["n_layers"] == 2 and meta["receptive_field_A"] == 6.5
    assert [b["kind"] for b in meta["baselines"]] == ["zbl", "lennard_jones"]
    assert meta["ghost_exchange"] is True
    spec = STRUCTURES["triclinic"]
    atoms = lh.random_structure(spec["cell"], spec["n_atoms"], ("H", "C", "O"), seed=spec["seed"])
    ref = ase_reference(pot, atoms)
    got = lh.single_point(atoms, path, ["H", "C", "O"], tmp_path, pair_style=f"mlip exchange {exchange}")
    assert rel(got["energy"], ref["energy"]) <= 1e-8
    assert rel(got["forces"], ref["forces"]) <= 1e-8
    stress_lammps = -lh.voigt_ase_from_lammps(got["virial"]) / got["volume"]
    assert rel(stress_lammps, ref["stress"]) <= 1e-8
    assert rel(got["atom_virial"].sum(axis=0), got["virial"]) <= 1e-8


def test_committee_runs_layer_by_layer_and_matches_the_calculator(tmp_path, plugin):
    """A 3-member committee plus ZBL: the members' features travel side by side (3 x 4 channels),
    the mean is taken in the readout."""
    from mlip.export import export_lammps, read_lammps_metadata

    pot = mlip.build_potential(
        mlip.ModelConfig(elements=("H", "C", "O"), cutoff=3.0, l_max=1, channels=4, n_layers=2, radial_hidden=8,
                         readout_hidden=8, avg_num_neighbors=6.0),
        seed=5, committee_size=3, baselines=[{"kind": "zbl"}],
    )
    path = export_lammps(pot, tmp_path / "committee.pt")
    meta = read_lammps_metadata(path)
    assert meta["ghost_exchange"] is True and meta["feature_dims"] == [12, 48, 12]
    spec = STRUCTURES["triclinic"]
    atoms = lh.random_structure(spec["cell"], spec["n_atoms"], ("H", "C", "O"), seed=spec["seed"])
    ref = ase_reference(pot, atoms)
    got = lh.single_point(atoms, path, ["H", "C", "O"], tmp_path)
    assert rel(got["energy"], ref["energy"]) <= 1e-8
    assert rel(got["forces"], ref["forces"]) <= 1e-8
    stress_lammps = -lh.voigt_ase_from_lammps(got["virial"]) / got["volume"]
    assert rel(stress_lammps, ref["stress"]) <= 1e-8
    assert rel(got["atom_energy"], ref["energies"]) <= 1e-8
