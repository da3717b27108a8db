"""Domain decomposition and dynamics: a 100-step NVE run with ``mpirun -np 2`` equals
``-np 1`` (thermo, forces, per-atom virials), on a box whose sub-domains (5.5 Å wide) are much
thinner than the 3-layer model's 9 Å receptive field, on both LAMMPS paths: node features
exchanged between ranks once per layer (ghosts one cutoff deep, the default) and the whole
graph (``exchange no``: ghost atoms several sub-domains deep carry the messages). The two
paths agree with each other and with mlip's own MD (md.run, velocity Verlet)."""
import re

import numpy as np
import pytest
import torch

import lammps_helpers as lh
import mlip

N_STEPS = 100
TIMESTEP_FS = 0.5
CELL = [[11.0, 0.0, 0.0], [1.2, 10.0, 0.0], [-0.7, 0.9, 10.5]]
ELEMENTS = ["H", "C", "O"]

NVE_INPUT = """
plugin load {plugin}
units metal
atom_style atomic
atom_modify map array
boundary p p p
processors ${{px}} 1 1
read_data nve.data
pair_style mlip exchange ${{exchange}} max_edges ${{max_edges}}
pair_coeff * * {model} H C O
neighbor 1.0 bin
timestep {timestep_ps}
compute stress_atom all stress/atom NULL virial
dump forces all custom {n_steps} forces.${{exchange}}.np${{np}}.dump id x y z fx fy fz c_stress_atom[*]
dump_modify forces sort id format float %.17g
fix nve all nve
thermo_style custom step pe ke etotal press pxx pyy pzz pxy pxz pyz
thermo_modify format float %.15g
thermo 5
run {n_steps}
"""


@pytest.fixture(scope="module")
def nve_runs(models, tmp_path_factory):
    """The same NVE run on 1 and on 2 MPI ranks, with and without feature exchange:
    {(exchange, n): (log text, dump text)}, plus the start."""
    pot, model_path = models["mpi"]
    workdir = tmp_path_factory.mktemp("nve")
    atoms = lh.random_structure(CELL, 64, ELEMENTS, seed=7, min_distance=1.2)
    velocities = np.random.default_rng(8).normal(size=(64, 3)) * 0.002  # Å/fs (~ 2 Å/ps)
    lh.write_data(workdir / "nve.data", atoms, ELEMENTS, velocities_A_per_fs=velocities)
    text = NVE_INPUT.format(plugin=lh.ensure_plugin(), model=model_path, timestep_ps=TIMESTEP_FS * 1e-3,
                            n_steps=N_STEPS)
    runs = {}
    # "blocks": feature exchange with each rank's graph evaluated in blocks of <= 100 edges
    for exchange, max_edges in (("yes", 0), ("no", 0), ("blocks", 100)):
        for n in (1, 2):
            variables = {"px": n, "np": n, "exchange": "no" if exchange == "no" else "yes", "max_edges": max_edges}
            done = lh.run_lmp(text, workdir, n_ranks=n, variables=variables)
            assert done.returncode == 0, done.stdout[-3000:]
            runs[exchange, n] = ((workdir / f"log.np{n}").read_text(),
                                 (workdir / f"forces.{variables['exchange']}.np{n}.dump").read_text())
    return {"runs": runs, "atoms": atoms, "velocities": velocities, "potential": pot}


def dump_frames(text):
    """{step: (n, k) array sorted by id} from a LAMMPS custom dump."""
    frames = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("ITEM: TIMESTEP"):
            step = int(lines[i + 1])
            n = int(lines[i + 3])
            start = next(k for k in range(i, len(lines)) if lines[k].startswith("ITEM: ATOMS")) + 1
            frames[step] = np.array([[float(v) for v in lines[k].split()] for k in range(start, start + n)])
            i = start + n
        else:
            i += 1
    return frames


def ghost_atoms(log: str) -> float:
    """Average ghost atoms per rank from LAMMPS's run summary (``Nghost: ave max min``)."""
    return float(re.search(r"Nghost:\s+(\S+)", log).group(1))


@pytest.mark.parametrize("exchange", ["yes", "no", "blocks"])
def test_mpirun_np2_equals_np1_over_100_nve_steps(nve_runs, exchange):
    (log1, dump1), (log2, dump2) = nve_runs["runs"][exchange, 1], nve_runs["runs"][exchange, 2]
    assert "2 by 1 by 1 MPI processor grid" in log2
    if exchange == "no":  # ghosts reach 3 x 3 Å + skin
        assert "communication cutoff set to 10 A" in log2
    else:  # ghosts one cutoff + skin deep, features exchanged (16 = 4 channels x 4 components, l <= 1)
        assert "communication cutoff set" not in log2
        assert "ghost atoms one cutoff deep, 16 doubles per atom exchanged per layer" in log2
    assert int(re.search(r"Neighbor list builds = (\d+)", log2).group(1)) > 0  # atoms migrate
    header1, rows1 = lh.thermo_table(log1)
    header2, rows2 = lh.thermo_table(log2)
    assert header1 == header2 and len(rows1) == len(rows2) == N_STEPS // 5 + 1
    a = np.array(rows1, dtype=float)
    b = np.array(rows2, dtype=float)
    # thermo equal to LAMMPS's default printed precision (8 significant digits: the values
    # differ by less than one unit of the 8th digit) ...
    last_digit = 10.0 ** (np.floor(np.log10(np.maximum(np.abs(a), 1e-300))) - 7)
    assert np.all(np.abs(a - b) < last_digit)
    # ... and, printed to 15 digits, within summation-order round-off
    assert np.all(np.abs(a - b) <= 1e-11 * np.abs(a).max(axis=0))
    # positions, forces and per-atom virials at the first and the last step
    f1, f2 = dump_frames(dump1), dump_frames(dump2)
    for step in (0, N_STEPS):
        assert np.abs(f1[step][:, 1:4] - f2[step][:, 1:4]).max() <= 1e-10  # Å
        forces1, forces2 = f1[step][:, 4:7], f2[step][:, 4:7]
        assert np.abs(forces1 - forces2).max() <= 1e-10 * np.abs(forces1).max()
        sa1, sa2 = f1[step][:, 7:], f2[step][:, 7:]
        assert np.abs(sa1 - sa2).max() <= 1e-10 * np.abs(sa1).max()


@pytest.mark.parametrize("exchange", ["yes", "blocks"])
@pytest.mark.parametrize("n_ranks", [1, 2])
def test_feature_exchange_equals_the_whole_graph_with_far_fewer_ghosts(nve_runs, n_ranks, exchange):
    (log_x, dump_x), (log_w, dump_w) = nve_runs["runs"][exchange, n_ranks], nve_runs["runs"]["no", n_ranks]
    _, rows_x = lh.thermo_table(log_x)
    _, rows_w = lh.thermo_table(log_w)
    a, b = np.array(rows_x, dtype=float), np.array(rows_w, dtype=float)
    assert a.shape == b.shape
    assert np.all(np.abs(a - b) <= 1e-10 * np.abs(a).max(axis=0))
    fx, fw = dump_frames(dump_x), dump_frames(dump_w)
    for step in (0, N_STEPS):
        assert np.abs(fx[step][:, 1:7] - fw[step][:, 1:7]).max() <= 1e-9
        assert np.abs(fx[step][:, 7:] - fw[step][:, 7:]).max() <= 1e-10 * np.abs(fw[step][:, 7:]).max()
    # ghosts 3 Å + 1 Å skin deep instead of 3 x 3 Å + 1 Å: several times fewer per rank
    assert ghost_atoms(log_x) < 0.5 * ghost_atoms(log_w)


def test_nve_start_forces_equal_ase_calculator(nve_runs):
    atoms, pot = nve_runs["atoms"], nve_runs["potential"]
    atoms = atoms.copy()
    atoms.calc = mlip.MLIPCalculator(pot)
    ref = atoms.get_forces()
    for key in nve_runs["runs"]:
        frame = dump_frames(nve_runs["runs"][key][1])[0]
        assert np.abs(frame[:, 4:7] - ref).max() <= 1e-8 * np.abs(ref).max()


def test_lammps_nve_agrees_with_mlip_md_over_first_steps(nve_runs):
    """LAMMPS fix nve and md.VelocityVerlet from the same positions and velocities."""
    md = pytest.importorskip("md")
    atoms, pot, velocities = nve_runs["atoms"], nve_runs["potential"], nve_runs["velocities"]
    state = md.initial_state(atoms, pot, velocities_A_per_fs=torch.tensor(velocities), remove_com=False)
    integrator = md.VelocityVerlet(timestep_fs=TIMESTEP_FS)
    ours = {0: (float(state.potential_energy), float(md.kinetic_energy_eV(state)))}
    for step in range(1, 21):
        state = md.run(state, pot, integrator, 1)
        ours[step] = (float(state.potential_energy), float(md.kinetic_energy_eV(state)))
    _, rows = lh.thermo_table(nve_runs["runs"]["yes", 1][0])
    lammps = {int(r[0]): (float(r[1]), float(r[2])) for r in rows}
    for step in range(0, 21, 5):
        pe, ke = lammps[step]
        assert abs(pe - ours[step][0]) <= 1e-9 * abs(pe), step
        # LAMMPS's metal-unit constants (mvv2e, ftm2v) differ from CODATA/ASE's in the 8th digit
        assert abs(ke - ours[step][1]) <= 1e-6 * abs(ke), step


def test_errors_stop_every_rank_cleanly_under_mpirun(models, tmp_path):
    """Overlapping atoms make the model non-finite: all ranks stop with one clear error (no hang,
    no step integrated)."""
    _, model_path = models["mpi"]
    atoms = lh.random_structure(CELL, 24, ELEMENTS, seed=9, min_distance=1.2)
    atoms.positions[5] = atoms.positions[6]  # two atoms on top of each other
    lh.write_data(tmp_path / "bad.data", atoms, ELEMENTS)
    text = f"""
plugin load {lh.ensure_plugin()}
units metal
atom_style atomic
read_data bad.data
pair_style mlip
pair_coeff * * {model_path} H C O
fix nve all nve
run 10
"""
    done = lh.run_lmp(text, tmp_path, n_ranks=2, timeout=120)
    assert done.returncode != 0
    assert "non-finite" in done.stdout and "step 0" in done.stdout
    assert "Loop time" not in done.stdout
