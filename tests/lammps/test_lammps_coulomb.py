"""Long-range Coulomb terms in LAMMPS (one MPI rank): the exported model sums the damped Coulomb
energy of its learned charges (and of fixed point charges) over all atoms in LAMMPS's box — direct
sum for a finite ionic cluster, Ewald for periodic rock-salt-like cells, triclinic included —
and LAMMPS's energy, forces, global virial, per-atom energies and the sum of per-atom virials
equal the Python potential to ~1e-10 relative (float64, random weights). A finite box on two MPI
ranks, or a box periodic along some directions only, stops with a clear error (periodic boxes on
many ranks: test_lammps_coulomb_ranks.py)."""
import copy

import ase
import ase.build
import numpy as np
import pytest
import torch

import lammps_helpers as lh
import mlip
from mlip.export import export_lammps, read_lammps_metadata

ELEMENTS = ["Na", "Cl"]
CLUSTER_BOX_A = 24.0
RTOL = 1e-10


def coulomb_potential(seed=0, baselines=None, committee_size=1):
    """Na/Cl, cutoff 3.5 Å, 2 layers, learned charges (~ ±0.8 e at random weights)."""
    cfg = mlip.ModelConfig(elements=tuple(ELEMENTS), cutoff=3.5, l_max=1, channels=6, n_layers=2, radial_hidden=8,
                           readout_hidden=8, avg_num_neighbors=6.0, long_range="coulomb",
                           coulomb_real_space_cutoff=6.0, coulomb_tolerance=1e-8)
    pot = mlip.build_potential(cfg, seed=seed, dtype=torch.float64, baselines=baselines, committee_size=committee_size)
    learned = pot.model.terms[0]
    with torch.no_grad():
        for member in (learned.members if committee_size > 1 else [learned]):
            member.charge_head.shift.copy_(torch.tensor([0.8, -0.8], dtype=torch.float64))
    return pot


def ionic_cluster(n=9, seed=5) -> ase.Atoms:
    """n ions (Na first, alternating), no pair closer than 2.2 Å, centred in a large box."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        p = rng.random(3) * 7.0
        if all(np.linalg.norm(p - q) > 2.2 for q in pos):
            pos.append(p)
    pos = np.array(pos) - np.mean(pos, axis=0) + 0.5 * CLUSTER_BOX_A
    return ase.Atoms(["Na", "Cl"] * (n // 2) + ["Na"] * (n % 2), positions=pos,
                     cell=np.eye(3) * CLUSTER_BOX_A, pbc=False)


def rock_salt_cell(rattle=0.12, seed=1) -> ase.Atoms:
    atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def triclinic_ionic_cell(seed=2) -> ase.Atoms:
    """8 ions in a lower-triangular triclinic cell (LAMMPS orientation), no two closer than 2.3 Å."""
    atoms = lh.random_structure([[6.2, 0.0, 0.0], [1.0, 5.8, 0.0], [-0.8, 0.6, 6.4]], 8, ("Na", "Cl"), seed=seed,
                                min_distance=2.3)
    atoms.set_chemical_symbols(["Na", "Cl"] * 4)
    return atoms


def python_reference(pot, atoms, total_charge):
    a = atoms.copy()
    a.info["total_charge"] = total_charge
    system = mlip.system_from_atoms(a)
    periodic = bool(atoms.pbc.all())
    pred = pot(system, mlip.neighbor_list(system, pot.cutoff), compute_stress=periodic)
    forces = pred.forces.detach().numpy()
    if periodic:
        w = -pred.stress[0].detach().numpy() * atoms.get_volume()
    else:  # a finite system: the virial is Σ r ⊗ F (translation invariant since Σ F = 0)
        w = atoms.positions.T @ forces
    return {"energy": float(pred.energy[0]), "forces": forces, "atom_energy": pred.atomic_energies.detach().numpy(),
            "virial": np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])}


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, plugin):
    out = tmp_path_factory.mktemp("coulomb")
    learned = coulomb_potential()
    fixed = coulomb_potential(seed=1, baselines=[{"kind": "point_charges", "charges": {"Na": 0.6, "Cl": -0.6},
                                                  "r_off": 3.0, "real_space_cutoff": 6.0, "tolerance": 1e-8}])
    committee = coulomb_potential(seed=2, committee_size=2)
    return {"learned": (learned, export_lammps(learned, out / "learned.pt")),
            "with_point_charges": (fixed, export_lammps(fixed, out / "fixed.pt")),
            "committee": (committee, export_lammps(committee, out / "committee.pt"))}


CASES = {
    # name: (structure, boundary, total charge in e, model)
    "cluster_neutral": (lambda: ionic_cluster(10), "f f f", 0.0, "learned"),
    "cluster_charged": (lambda: ionic_cluster(9), "f f f", 1.0, "learned"),
    "rock_salt": (rock_salt_cell, "p p p", 0.0, "learned"),
    "rock_salt_charged": (rock_salt_cell, "p p p", 1.0, "learned"),
    "triclinic": (triclinic_ionic_cell, "p p p", 0.0, "learned"),
    "triclinic_point_charges": (triclinic_ionic_cell, "p p p", 0.0, "with_point_charges"),
    "triclinic_committee_charged": (triclinic_ionic_cell, "p p p", 1.0, "committee"),
}


def test_export_declares_the_coulomb_term(exported):
    meta = read_lammps_metadata(exported["learned"][1])
    assert meta["long_range"] == "coulomb" and meta["format_version"] == 2


@pytest.mark.parametrize("name", sorted(CASES))
def test_lammps_coulomb_equals_python_float64(name, exported, tmp_path):
    make, boundary, charge, model = CASES[name]
    pot, path = exported[model]
    atoms = make()
    got = lh.single_point(atoms, path, ELEMENTS, tmp_path, pair_style=f"mlip total_charge {charge}", boundary=boundary)
    # per-atom virials: Coulomb part shared equally (a convention)
    assert_equals_reference(got, python_reference(pot, atoms, charge))


def assert_equals_reference(got, ref, rtol=RTOL):
    """LAMMPS's energy, forces, global virial and per-atom energies equal the Python potential's
    to ``rtol`` relative, and its per-atom virials sum to the global virial."""
    assert abs(got["energy"] - ref["energy"]) <= rtol * max(1.0, abs(ref["energy"]))
    assert rel(got["forces"], ref["forces"]) < rtol
    assert rel(got["virial"], ref["virial"]) < rtol
    assert rel(got["atom_energy"], ref["atom_energy"]) < rtol
    assert rel(got["atom_virial"].sum(0), ref["virial"]) < rtol


@pytest.mark.parametrize("name", ["cluster_charged", "rock_salt_charged", "triclinic"])
def test_lammps_coulomb_float32_export_matches_python(name, exported, tmp_path):
    """The same learned-charge model exported in float32: the Coulomb sum (direct or Ewald)
    runs in float32 inside LAMMPS. Against the same model in float32 in Python (observed: energy
    <= 2e-7, forces and virial <= 2e-6 relative) and against float64 (energy <= 1.1e-6, forces
    and virial <= 5.3e-6)."""
    make, boundary, charge, model = CASES[name]
    pot, _ = exported[model]
    path = export_lammps(pot, tmp_path / "coulomb32.pt", dtype=torch.float32)
    assert read_lammps_metadata(path)["dtype"] == "float32"
    atoms = make()
    got = lh.single_point(atoms, path, ELEMENTS, tmp_path, pair_style=f"mlip total_charge {charge}", boundary=boundary)
    ref = python_reference(pot, atoms, charge)
    ref32 = python_reference(copy.deepcopy(pot).to(torch.float32), atoms, charge)
    # against the same model in float32 in Python: float32 round-off of two summation orders
    assert abs(got["energy"] - ref32["energy"]) <= 1e-6 * max(1.0, abs(ref["energy"]))
    assert rel(got["forces"], ref32["forces"]) < 1e-4
    assert rel(got["virial"], ref32["virial"]) < 1e-4
    # against float64: the float32 error of the whole model (network + Ewald)
    assert abs(got["energy"] - ref["energy"]) <= 1e-5 * max(1.0, abs(ref["energy"]))
    assert rel(got["forces"], ref["forces"]) < 1e-4
    assert rel(got["virial"], ref["virial"]) < 1e-4
    # and it is float32, not float64 in disguise
    assert rel(got["forces"], ref["forces"]) > 1e-12


def test_total_charge_reaches_the_charge_head_in_lammps(exported, tmp_path):
    pot, path = exported["learned"]
    atoms = ionic_cluster(9)
    neutral = lh.single_point(atoms, path, ELEMENTS, tmp_path, pair_style="mlip", boundary="f f f")
    charged = lh.single_point(atoms, path, ELEMENTS, tmp_path, pair_style="mlip total_charge 1", boundary="f f f")
    assert abs(charged["energy"] - neutral["energy"]) > 1e-3
    assert neutral["energy"] == pytest.approx(python_reference(pot, atoms, 0.0)["energy"], rel=RTOL)


def test_coulomb_model_in_a_finite_box_on_two_mpi_ranks_is_a_clear_error(exported, tmp_path):
    """A finite (non-periodic) box needs the direct sum over all pairs: one rank only. (Periodic
    boxes split the Ewald sum across ranks: tests/lammps/test_lammps_coulomb_ranks.py.)"""
    atoms = ionic_cluster(10)
    lh.write_data(tmp_path / "nacl.data", atoms, ELEMENTS)
    text = f"""
plugin load {lh.ensure_plugin()}
units metal
atom_style atomic
boundary f f f
read_data nacl.data
pair_style mlip
pair_coeff * * {exported['learned'][1]} Na Cl
run 0
"""
    done = lh.run_lmp(text, tmp_path, n_ranks=2, timeout=120)
    assert done.returncode != 0
    out = " ".join(done.stdout.split())
    assert "long-range Coulomb term" in out and "one MPI rank only, but this run uses 2 ranks" in out
    assert "mpirun -np 1" in out and "long_range='none'" in out


def test_coulomb_model_in_a_partly_periodic_box_is_a_clear_error(exported, tmp_path):
    with pytest.raises(Exception, match="ERROR") as err:
        lh.single_point(triclinic_ionic_cell(), exported["learned"][1], ELEMENTS, tmp_path, boundary="p p f")
    message = " ".join(str(err.value).split())
    assert "periodic in all three directions (Ewald) or in none" in message


NVE_INPUT = """
plugin load {plugin}
units metal
atom_style atomic
atom_modify map array
boundary p p p
read_data nve.data
pair_style mlip total_charge {charge}
pair_coeff * * {model} Na Cl
timestep {timestep_ps}
fix nve all nve
thermo_style custom step pe ke
thermo_modify format float %.15g
thermo 5
run {n_steps}
"""


def test_lammps_nve_with_ewald_agrees_with_mlip_md(exported, tmp_path):
    """A charged (+1 e) periodic cell, 30 velocity-Verlet steps in LAMMPS (fix nve, 1 rank) and
    in md.run from the same start: potential and kinetic energy agree along the way. Atom 0
    starts 0.1 Å inside the box and moves out of it (LAMMPS wraps it, md does not)."""
    import md

    pot, path = exported["learned"]
    atoms = rock_salt_cell().repeat((2, 1, 1))
    atoms.positions[0] = [0.1, 0.2, 0.3]
    velocities = np.random.default_rng(3).normal(size=(len(atoms), 3)) * 0.002  # Å/fs
    velocities[0] = [-0.01, 0.0, 0.0]
    lh.write_data(tmp_path / "nve.data", atoms, ELEMENTS, velocities_A_per_fs=velocities)
    timestep_fs, n_steps = 0.5, 30
    text = NVE_INPUT.format(plugin=lh.ensure_plugin(), model=path, charge=1.0, timestep_ps=timestep_fs * 1e-3,
                            n_steps=n_steps)
    done = lh.run_lmp(text, tmp_path, n_ranks=1, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    _, rows = lh.thermo_table((tmp_path / "log.np1").read_text())
    lammps = {int(r[0]): (float(r[1]), float(r[2])) for r in rows}
    state = md.initial_state(atoms, pot, velocities_A_per_fs=torch.tensor(velocities), remove_com=False,
                             total_charge_e=1.0)
    integrator = md.VelocityVerlet(timestep_fs=timestep_fs)
    for step in range(0, n_steps + 1, 5):
        if step:
            state = md.run(state, pot, integrator, 5)
        pe, ke = lammps[step]
        # LAMMPS's metal-unit constants (mvv2e, ftm2v) differ from CODATA/ASE's in the 8th digit,
        # so the trajectories part at that level: exact at the start, ~1e-8 relative later
        assert abs(pe - float(state.potential_energy)) <= (1e-12 if step == 0 else 1e-8) * abs(pe), step
        assert abs(ke - float(md.kinetic_energy_eV(state))) <= 1e-6 * abs(ke), step
    assert float(state.positions[0, 0]) < 0.0  # atom 0 left the box through x = 0
