"""A committee potential's spread reaches the MD log (thermo.csv columns energy_std_eV and
max_forces_std_eV_per_A), equals the ASE calculator's at the same positions, is zero for
identical members, is absent for a single model, and can stop a run (max_forces_std_eV_per_A)."""
import csv

import ase
import ase.build
import ase.io
import pytest
import torch

import md
from md.reporters.thermo import COLUMNS, SPREAD_COLUMNS

mlip = pytest.importorskip("mlip")
from mlip.calculator import MLIPCalculator  # noqa: E402
from model_fixtures import random_molecule, small_config  # noqa: E402

SPREAD = list(SPREAD_COLUMNS)


class PositionRecorder(md.Reporter):
    """Keeps the positions of every reported state (the test's own record of the trajectory)."""

    key = "positions"

    def __init__(self) -> None:
        self.positions = {}

    def start(self, state, context) -> None:
        self.report(state, context)

    def report(self, state, context) -> None:
        self.positions[state.step] = state.positions.detach().clone()


def committee(identical=False, seed=1):
    pot = mlip.build_potential(small_config(), committee_size=2, seed=seed)
    if identical:
        members = pot.model.terms[0].members
        members[1].load_state_dict(members[0].state_dict())
    return pot


def member_potentials(pot):
    """Each committee member as a single-model potential (an independent path to its numbers)."""
    singles = []
    for member in pot.model.terms[0].members:
        single = mlip.build_potential(small_config(), seed=0)
        single.model.terms[0].load_state_dict(member.state_dict())
        singles.append(single)
    return singles


def run_logged(pot, tmp_path, steps=6, limits=None):
    atoms = random_molecule(n_atoms=7, seed=4)
    state = md.initial_state(atoms, pot, temperature_K=100.0, seed=2)
    path = tmp_path / "thermo.csv"
    recorder = PositionRecorder()
    md.run(state, pot, md.VelocityVerlet(timestep_fs=0.1), steps, [md.ThermoReporter(str(path), 1), recorder],
           limits)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(path) as handle:
        header = handle.readline().strip().split(",")
    return atoms, header, rows, recorder.positions


def test_logged_spread_equals_the_calculator_spread_at_the_same_positions(tmp_path):
    pot = committee()
    atoms, header, rows, positions = run_logged(pot, tmp_path)
    assert header == list(COLUMNS) + SPREAD and len(rows) == 7
    calc = MLIPCalculator(pot)
    for row in rows:
        frame = atoms.copy()
        frame.positions = positions[int(row["step"])].numpy()
        frame.calc = calc
        frame.get_potential_energy()
        assert float(row["energy_std_eV"]) == pytest.approx(calc.results["energy_std"], rel=1e-10, abs=1e-12)
        assert float(row["max_forces_std_eV_per_A"]) == pytest.approx(calc.results["forces_std"].max(), rel=1e-10)
    assert float(rows[-1]["energy_std_eV"]) > 1e-3 and float(rows[-1]["max_forces_std_eV_per_A"]) > 1e-3


def test_spread_of_two_members_is_half_their_difference_and_leaves_the_mean_unchanged():
    pot = committee()
    atoms = random_molecule(n_atoms=7, seed=4)
    system = mlip.system_from_atoms(atoms)
    edges = mlip.neighbor_list(system, pot.cutoff)
    with_spread = pot(system, edges, compute_spread=True)
    plain = pot(system, edges)
    assert torch.equal(with_spread.forces, plain.forces) and torch.equal(with_spread.energy, plain.energy)
    assert plain.energy_std is None and plain.forces_std is None
    a, b = (single(system, edges) for single in member_potentials(pot))
    torch.testing.assert_close(with_spread.energy_std, (a.energy - b.energy).abs() / 2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(with_spread.forces_std, (a.forces - b.forces).norm(dim=1) / 2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(plain.forces, (a.forces + b.forces) / 2, rtol=1e-10, atol=1e-10)


def test_identical_members_log_zero_spread(tmp_path):
    _, header, rows, _ = run_logged(committee(identical=True), tmp_path)
    assert header[-2:] == SPREAD
    # zero up to the float64 rounding of the members' mean (a few ulp), never a real spread
    assert all(abs(float(r["energy_std_eV"])) < 1e-10 and abs(float(r["max_forces_std_eV_per_A"])) < 1e-10 for r in rows)


def test_single_model_logs_no_spread_columns(tmp_path):
    pot = mlip.build_potential(small_config(), seed=1)
    assert pot(*_system_and_edges(pot)).forces_std is None
    _, header, rows, _ = run_logged(pot, tmp_path, steps=2)
    assert header == list(COLUMNS) and set(rows[0]) == set(COLUMNS)


def _system_and_edges(pot):
    system = mlip.system_from_atoms(random_molecule(n_atoms=7, seed=4))
    return system, mlip.neighbor_list(system, pot.cutoff)


def test_force_spread_limit_stops_the_run_and_keeps_the_last_good_state(tmp_path):
    pot = committee()
    limits = md.StabilityLimits(energy_check_interval=2, max_forces_std_eV_per_A=1e-3)
    with pytest.raises(mlip.errors.SimulationError, match=r"step 2 .*committee disagrees.*limit max_forces_std"):
        run_logged(pot, tmp_path, steps=6, limits=limits)
    loose = md.StabilityLimits(energy_check_interval=2, max_forces_std_eV_per_A=1e6)
    _, _, rows, _ = run_logged(pot, tmp_path, steps=4, limits=loose)
    assert len(rows) == 5
    with pytest.raises(mlip.errors.ConfigError, match="not a committee"):
        run_logged(mlip.build_potential(small_config(), seed=1), tmp_path, steps=1, limits=loose)


@pytest.fixture(scope="module")
def saved_committee(tmp_path_factory):
    pot = mlip.build_potential(mlip.ModelConfig(elements=("Ar",), cutoff=5.0, channels=8, n_layers=2),
                               committee_size=2, seed=0)
    return str(pot.save(tmp_path_factory.mktemp("pot") / "argon_committee.pt"))


def _mlip_md(potential, structure, out, steps, *extra):
    from mlip.cli import main

    return main(["md", "--potential", potential, "--structure", structure, "--ensemble", "langevin",
                 "--temperature-K", "40", "--timestep-fs", "2", "--steps", str(steps), "--output", str(out),
                 "--seed", "3", *extra])


def test_mlip_md_logs_the_spread_restarts_bit_exactly_and_stops_on_the_limit(tmp_path, saved_committee, capsys):
    atoms = ase.build.bulk("Ar", "fcc", a=5.26, cubic=True)
    atoms.rattle(0.05, seed=1)
    structure = str(tmp_path / "argon.extxyz")
    ase.io.write(structure, atoms)
    assert _mlip_md(saved_committee, structure, tmp_path / "full", 20) == 0
    full = (tmp_path / "full" / "thermo.csv").read_text()
    assert full.splitlines()[0].endswith("energy_std_eV,max_forces_std_eV_per_A") and len(full.splitlines()) == 4
    assert _mlip_md(saved_committee, structure, tmp_path / "part", 10) == 0
    assert _mlip_md(saved_committee, structure, tmp_path / "part", 20, "--restart", str(tmp_path / "part")) == 0
    assert (tmp_path / "part" / "thermo.csv").read_text() == full
    spread_at_step_10 = float(full.splitlines()[2].split(",")[-1])
    code = _mlip_md(saved_committee, structure, tmp_path / "stop", 20, "--max-forces-std", f"{spread_at_step_10 / 2!r}")
    assert code == 2  # a SimulationError: the CLI reports it and exits 2
    err = capsys.readouterr().err
    assert "step 10 " in err and "committee disagrees" in err and "Last good state (step 9)" in err


def test_restart_refuses_a_thermo_log_whose_spread_columns_the_force_field_cannot_fill(tmp_path):
    atoms = ase.build.bulk("Ar", "fcc", a=5.26, cubic=True)
    lj = md.LennardJones(epsilon_eV=0.0104, sigma_A=3.40, cutoff_A=5.0)
    state = md.initial_state(atoms, lj, temperature_K=30.0, seed=0)
    thermo = md.ThermoReporter(str(tmp_path / "thermo.csv"), 1)
    thermo.load_state_dict({"offset": 0, "pending": [], "last_step": None, "spread": True})
    with pytest.raises(mlip.errors.ConfigError, match="started with committee spread columns"):
        md.run(state, lj, md.VelocityVerlet(timestep_fs=1.0), 1, [thermo])
