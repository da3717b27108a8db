"""Coulomb models across MPI ranks: the Ewald sum split over LAMMPS's domains
(mlip/export/lammps_coulomb.py, cuda/lammps/pair_mlip_coulomb.cpp).

Energy, forces, per-atom energies and global virial (and the sum of per-atom virials) on 1 rank (``coulomb split``) and on 2 and 3 ranks equal the
Python potential (float64, random weights, learned charges ~ ±0.8 e) to ~1e-10 relative: learned
charges neutral and charged, fixed point charges, a charged committee, a triclinic cell. The same
split math is first checked without LAMMPS on one "rank" whose ghosts are explicit periodic
images. An NVE run on 1 and 2 ranks is the run of the one-rank path."""
import numpy as np
import pytest
import torch

import lammps_helpers as lh
import mlip
from mlip.export import export_lammps
from test_lammps_coulomb import (ELEMENTS, assert_equals_reference, coulomb_potential, ionic_cluster, python_reference,
                                 rel, rock_salt_cell, triclinic_ionic_cell)

RTOL = 1e-10


@pytest.fixture(scope="module")
def exported(tmp_path_factory, plugin):
    out = tmp_path_factory.mktemp("coulomb_ranks")
    models = {
        "learned": coulomb_potential(),
        "with_point_charges": coulomb_potential(seed=1, baselines=[{
            "kind": "point_charges", "charges": {"Na": 0.6, "Cl": -0.6}, "r_off": 3.0, "real_space_cutoff": 6.0,
            "tolerance": 1e-8}]),
        "committee": coulomb_potential(seed=2, committee_size=2),
    }
    return {name: (pot, export_lammps(pot, out / f"{name}.pt")) for name, pot in models.items()}


CASES = {
    # name: (structure, total charge in e, model)
    "rock_salt": (lambda: rock_salt_cell().repeat((2, 2, 2)), 0.0, "learned"),
    "rock_salt_charged": (lambda: rock_salt_cell().repeat((2, 2, 1)), 1.0, "learned"),
    "triclinic_point_charges": (lambda: triclinic_ionic_cell().repeat((2, 2, 1)), 0.0, "with_point_charges"),
    "triclinic_committee_charged": (lambda: triclinic_ionic_cell().repeat((2, 1, 2)), 1.0, "committee"),
}


def split_by_hand(scripted, atoms, total_charge):
    """The pair style's steps in Python, on one rank whose ghosts are the periodic images within
    two cells: (energy, forces (n, 3), virial (6,)) of ``atoms``."""
    n, cell = len(atoms), atoms.cell.array
    shifts = [(a, b, c) for a in range(-2, 3) for b in range(-2, 3) for c in range(-2, 3) if (a, b, c) != (0, 0, 0)]
    pos = torch.tensor(np.concatenate([atoms.positions] + [atoms.positions + np.array(s) @ cell for s in shifts]))
    z = torch.tensor(np.tile(atoms.numbers, 1 + len(shifts)))
    d = torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")
    edge_index = torch.stack(torch.nonzero((d < 3.5) & (d > 0), as_tuple=True))
    pairs = torch.stack(torch.nonzero((d[:n] < scripted.coulomb_real_space_cutoff()) & (d[:n] > 0), as_tuple=True))
    e_n, raw, leaf, _, offsets = scripted.coulomb_network_forward(pos, z, edge_index, n)
    conserves = scripted.coulomb_conserves()
    q = raw.detach().clone()
    for s, conserved in enumerate(conserves):
        if conserved:
            q[:, s] += (total_charge - raw[:, s].sum()) / n
    box = torch.tensor(cell)
    factors = scripted.coulomb_structure_factors(pos[:n], q, box)
    e_c, g_real, g_recip, g_q, w_recip, _ = scripted.coulomb_energy(pos, q.repeat(1 + len(shifts), 1), n, pairs,
                                                                    box, factors, False)
    g = g_q.reshape(1 + len(shifts), n, -1).sum(0)  # ghosts' charge gradients onto their owners
    for s, conserved in enumerate(conserves):
        if conserved:
            g[:, s] -= g[:, s].mean()
    f_net, _ = scripted.coulomb_network_backward(e_n, raw, leaf, offsets, edge_index, g, False)
    f_all = f_net - g_real
    w = (pos.unsqueeze(2) * f_all.unsqueeze(1)).sum(0)
    virial = torch.stack([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]]) + w_recip
    forces = f_all.reshape(1 + len(shifts), n, 3).sum(0) - g_recip
    return float(e_c + e_n.detach()), forces.numpy(), virial.numpy()


@pytest.mark.parametrize("name", sorted(CASES))
def test_split_math_equals_the_potential_without_lammps(name, exported):
    make, charge, model = CASES[name]
    pot, path = exported[model]
    atoms = make()
    energy, forces, virial = split_by_hand(torch.jit.load(str(path)), atoms, charge)
    ref = python_reference(pot, atoms, charge)
    assert abs(energy - ref["energy"]) <= RTOL * max(1.0, abs(ref["energy"]))
    assert rel(forces, ref["forces"]) < RTOL
    assert rel(virial, ref["virial"]) < RTOL


SINGLE_POINT = """
plugin load {plugin}
units metal
atom_style atomic
atom_modify map array
boundary p p p
read_data single.data
pair_style mlip total_charge {charge} coulomb {mode}
pair_coeff * * {model} Na Cl
compute vir all pressure NULL virial
compute pe_atom all pe/atom
compute s_atom all stress/atom NULL virial
thermo_style custom step pe vol c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]
thermo_modify format float %.17g
dump f all custom 1 forces.dump id fx fy fz c_pe_atom c_s_atom[*]
dump_modify f sort id format float %.17g
run 0
"""


def lammps_single_point(atoms, path, charge, tmp_path, n_ranks, mode="auto", processors=""):
    lh.write_data(tmp_path / "single.data", atoms, ELEMENTS)
    text = SINGLE_POINT.format(plugin=lh.ensure_plugin(), charge=charge, mode=mode, model=path)
    if processors:
        text = text.replace("boundary p p p", f"boundary p p p\nprocessors {processors}")
    done = lh.run_lmp(text, tmp_path, n_ranks=n_ranks, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    header, rows = lh.thermo_table((tmp_path / f"log.np{n_ranks}").read_text())
    values = dict(zip(header, map(float, rows[-1])))
    six = np.array([values[f"c_vir[{k}]"] for k in range(1, 7)]) * values["Volume"] / lh.NKTV2P
    lines = (tmp_path / "forces.dump").read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS id fx fy fz c_pe_atom")) + 1
    table = np.array([[float(v) for v in line.split()[1:]] for line in lines[start:start + len(atoms)]])
    # stress/atom is -(per-atom virial) in pressure·volume units
    return {"energy": values["PotEng"], "forces": table[:, :3], "atom_energy": table[:, 3],
            "atom_virial": -table[:, 4:10] / lh.NKTV2P, "virial": six, "log": done.stdout}


@pytest.mark.parametrize("n_ranks", [1, 2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_lammps_split_coulomb_equals_python(name, n_ranks, exported, tmp_path):
    make, charge, model = CASES[name]
    pot, path = exported[model]
    atoms = make()
    got = lammps_single_point(atoms, path, charge, tmp_path, n_ranks, mode="split" if n_ranks == 1 else "auto")
    # per-atom energies: short-range + Coulomb share ½ q_i φ_i, as on one rank and in Python;
    # per-atom virials: edges and pairs split in halves, the reciprocal part shared equally
    assert_equals_reference(got, python_reference(pot, atoms, charge), RTOL)


def test_per_atom_virials_do_not_depend_on_the_decomposition(exported, tmp_path):
    make, charge, model = CASES["triclinic_committee_charged"]
    pot, path = exported[model]
    atoms = make()
    (tmp_path / "one").mkdir()
    (tmp_path / "three").mkdir()
    one = lammps_single_point(atoms, path, charge, tmp_path / "one", 1, mode="split")
    three = lammps_single_point(atoms, path, charge, tmp_path / "three", 3)
    assert rel(three["atom_virial"], one["atom_virial"]) < 1e-10
    assert np.abs(one["atom_virial"]).max() > 1e-3  # not trivially zero


def test_a_rank_without_atoms_and_a_float32_model(exported, tmp_path):
    """Ions in one third of a periodic box cut into 3 slabs along x (a rank holds no atom), and
    the learned model exported in float32: against the Python potential in float32."""
    import copy

    pot, _ = exported["learned"]
    atoms = rock_salt_cell().repeat((1, 2, 2))
    atoms.set_cell(atoms.cell.array * np.array([[3.0], [1.0], [1.0]]), scale_atoms=False)  # vacuum along x
    path32 = export_lammps(pot, tmp_path / "learned32.pt", dtype=torch.float32)
    got = lammps_single_point(atoms, path32, 0.0, tmp_path, 3, processors="3 1 1")
    ref32 = python_reference(copy.deepcopy(pot).to(torch.float32), atoms, 0.0)
    ref = python_reference(pot, atoms, 0.0)
    assert abs(got["energy"] - ref32["energy"]) <= 1e-5 * max(1.0, abs(ref["energy"]))
    assert rel(got["forces"], ref32["forces"]) < 1e-4 and rel(got["virial"], ref32["virial"]) < 1e-4
    assert rel(got["forces"], ref["forces"]) > 1e-12  # float32, not float64 in disguise


def test_point_charges_that_do_not_sum_to_the_total_charge_are_a_clear_error(exported, tmp_path):
    atoms = triclinic_ionic_cell().repeat((2, 1, 1))
    lh.write_data(tmp_path / "single.data", atoms, ELEMENTS)
    text = SINGLE_POINT.format(plugin=lh.ensure_plugin(), charge=1.0, mode="split",
                               model=exported["with_point_charges"][1])
    done = lh.run_lmp(text, tmp_path, n_ranks=2, timeout=120)
    assert done.returncode != 0
    out = " ".join(done.stdout.split())
    assert "fixed point charges sum to" in out and "but the stated total charge is 1 e" in out


NVE = """
plugin load {plugin}
units metal
atom_style atomic
atom_modify map array
boundary p p p
read_data nve.data
pair_style mlip total_charge 1.0 coulomb {mode}
pair_coeff * * {model} Na Cl
timestep 0.0005
fix nve all nve
thermo_style custom step pe ke etotal
thermo_modify format float %.17g
thermo 10
run 40
"""


def test_nve_across_ranks_is_the_one_rank_run(exported, tmp_path):
    """A charged (+1 e) 32-ion cell, 40 velocity-Verlet steps of 0.5 fs: the Ewald sum split on 1
    and on 2 ranks gives the thermo of the one-rank path (all atoms in one box; its agreement
    with md.run is tests/lammps/test_lammps_coulomb.py) to 1e-10 relative, and the start's
    potential energy equals the Python potential."""
    pot, path = exported["learned"]
    atoms = rock_salt_cell().repeat((2, 2, 1))
    velocities = np.random.default_rng(3).normal(size=(len(atoms), 3)) * 0.002  # Å/fs
    lh.write_data(tmp_path / "nve.data", atoms, ELEMENTS, velocities_A_per_fs=velocities)
    tables = {}
    for mode, n_ranks in (("box", 1), ("split", 1), ("auto", 2)):
        done = lh.run_lmp(NVE.format(plugin=lh.ensure_plugin(), model=path, mode=mode), tmp_path, n_ranks=n_ranks,
                          timeout=300)
        assert done.returncode == 0, done.stdout[-3000:]
        _, rows = lh.thermo_table((tmp_path / f"log.np{n_ranks}").read_text())
        tables[mode] = np.array([[float(v) for v in r] for r in rows])
    assert "by 1 MPI processor grid" in done.stdout and "1 by 1 by 1 MPI" not in done.stdout
    box = tables["box"]
    assert box.shape == (5, 4)
    for mode in ("split", "auto"):
        assert tables[mode].shape == box.shape
        assert rel(tables[mode][:, 1:], box[:, 1:]) < 1e-10, mode
    assert abs(box[0, 1] - python_reference(pot, atoms, 1.0)["energy"]) < 1e-10 * abs(box[0, 1])


@pytest.mark.parametrize("pair_style, boundary, extra, message", [
    ("mlip coulomb sometimes", "p p p", "", "coulomb must be auto, split"),
    ("mlip coulomb split", "f f f", "", "coulomb split needs a box periodic in all three directions"),
])
def test_split_coulomb_bad_settings_are_clear_errors(pair_style, boundary, extra, message, exported, tmp_path):
    atoms = ionic_cluster(10) if boundary == "f f f" else rock_salt_cell().repeat((2, 1, 1))
    lh.write_data(tmp_path / "nacl.data", atoms, ELEMENTS)
    lines = extra.splitlines()
    computes = "\n".join(line for line in lines if line.startswith("compute"))
    thermo = "\n".join(line for line in lines if line.startswith("thermo"))
    text = f"""
plugin load {lh.ensure_plugin()}
units metal
atom_style atomic
boundary {boundary}
read_data nacl.data
pair_style {pair_style}
pair_coeff * * {exported['learned'][1]} Na Cl
{computes}
{thermo}
run 0
"""
    done = lh.run_lmp(text, tmp_path, n_ranks=1, timeout=120)
    assert done.returncode != 0
    assert message in " ".join(done.stdout.split())
