"""`mlip md --ensemble npt`: flags reach the integrator, thermo.csv carries pressure and volume,
a restart from the run folder continues bit for bit; structures and force fields that cannot
run at constant pressure are refused with a clear ConfigError before anything is written."""
import argparse
import csv

import ase
import ase.io
import numpy as np
import pytest
import torch
import yaml

import md
from md.cli_run import add_arguments, main_from_namespace, run_from_args
from mlip.errors import ConfigError
from md_systems import argon_cluster13, argon_crystal, argon_lj

LJ = {"lennard_jones": {"epsilon_eV": 0.0104, "sigma_A": 3.4, "cutoff_A": 6.5, "smooth_onset_A": 5.5}}


@pytest.fixture
def structure(tmp_path):
    path = tmp_path / "argon.extxyz"
    ase.io.write(path, argon_crystal(repeat=2))
    return str(path)


def test_cli_npt_flags_thermo_columns_and_restart(tmp_path, structure, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    (tmp_path / "ff.yaml").write_text(yaml.safe_dump({"forcefield": LJ, "progress": False, "thermo_interval": 5,
                                                      "checkpoint_interval": 20}))
    flags = ["--structure", structure, "--ensemble", "npt", "--temperature-K", "40", "--timestep-fs", "5",
             "--pressure-GPa", "0.1", "--barostat", "mtk", "--barostat-tau-fs", "400", "--cell-flexibility", "aniso",
             "--seed", "2", "--config", str(tmp_path / "ff.yaml")]
    assert main_from_namespace(parser.parse_args(flags + ["--steps", "40", "--output", str(tmp_path / "a")])) == 0
    assert main_from_namespace(parser.parse_args(flags + ["--steps", "20", "--output", str(tmp_path / "b")])) == 0
    capsys.readouterr()
    result = run_from_args(steps=40, restart=str(tmp_path / "b"))  # settings from b/config.yaml
    assert isinstance(result.state.extended, md.mtk.MTKVariables) and result.state.step == 40
    saved = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    assert (saved["pressure_GPa"], saved["barostat"], saved["barostat_tau_fs"], saved["cell_flexibility"]) == \
        (0.1, "mtk", 400.0, "anisotropic")
    assert (tmp_path / "a" / "thermo.csv").read_bytes() == (tmp_path / "b" / "thermo.csv").read_bytes()
    rows = list(csv.DictReader(open(tmp_path / "a" / "thermo.csv")))
    volumes = [float(r["volume_A3"]) for r in rows]
    assert len(rows) == 9 and all(r["pressure_GPa"] for r in rows) and len(set(volumes)) == len(volumes)
    lengths = np.linalg.norm(result.state.system.cell[0].numpy(), axis=1)
    assert lengths.max() - lengths.min() > 1e-6  # anisotropic: the three lengths move independently


def test_thermo_has_volume_and_pressure_for_constant_volume_runs_too(tmp_path, structure):
    result = run_from_args(structure_path=structure, ensemble="bussi", temperature_K=40.0, timestep_fs=5.0, steps=10,
                           output_dir=str(tmp_path / "o"), options={"forcefield": LJ, "progress": False,
                                                                    "thermo_interval": 5})
    rows = list(csv.DictReader(open(tmp_path / "o" / "thermo.csv")))
    assert len(rows) == 3 and all(float(r["volume_A3"]) == pytest.approx(float(torch.linalg.det(
        result.state.system.cell[0]))) for r in rows) and all(r["pressure_GPa"] for r in rows)


class NoStress:
    """LJ without stress (as a force field that never computes it)."""

    def __init__(self):
        self.lj = argon_lj(6.5)
        self.cutoff = self.lj.cutoff

    def __call__(self, system, edges, compute_stress=False):
        return self.lj(system, edges, False)


def slab():
    atoms = argon_crystal(repeat=2)
    atoms.pbc = (True, True, False)
    return atoms


@pytest.mark.parametrize("integrator", [md.StochasticCellRescaling(2.0, 50.0, 0.0), md.MTK(2.0, 50.0, 0.0)],
                         ids=["scr", "mtk"])
@pytest.mark.parametrize("structure_,forcefield,kwargs,match", [
    (argon_cluster13, argon_lj, {}, r"periodic in all three directions.*pbc=\[False, False, False\]"),
    (slab, argon_lj, {}, r"periodic in all three directions.*pbc=\[True, True, False\]"),
    (argon_crystal, NoStress, {}, r"needs the stress.*returned none"),
    (argon_crystal, argon_lj, {"fixed": [0]}, r"fixed atoms"),
], ids=["cluster", "slab", "no-stress", "fixed-atoms"])
def test_structures_that_cannot_run_at_constant_pressure_are_refused(integrator, structure_, forcefield, kwargs,
                                                                      match):
    state = md.initial_state(structure_(), forcefield(), temperature_K=50.0, **kwargs)
    with pytest.raises(ConfigError, match=match):
        integrator.init(state)


def test_harmonic_springs_have_no_stress_and_are_refused_by_the_cli(tmp_path):
    atoms = argon_crystal(repeat=1)
    springs = md.Harmonic(torch.tensor(atoms.positions), 1.0)
    path = tmp_path / "a.extxyz"
    ase.io.write(path, atoms)
    with pytest.raises(ConfigError, match="needs the stress"):
        run_from_args(springs, str(path), ensemble="npt", temperature_K=50.0, steps=5, output_dir=str(tmp_path / "o"),
                      options={"pressure_GPa": 0.0, "progress": False})
    assert not (tmp_path / "o").exists()  # nothing written


@pytest.mark.parametrize("kwargs,match", [
    ({"pressure_GPa": float("nan")}, "pressure_GPa must be a finite number"),
    ({"pressure_GPa": "high"}, "pressure_GPa must be a number"),
    ({"barostat_tau_fs": 0.0}, "barostat_tau_fs must be a finite number > 0"),
    ({"compressibility_per_GPa": -1.0}, "compressibility_per_GPa must be a finite number > 0"),
    ({"flexibility": "cubic"}, "unknown cell flexibility"),
    ({"barostat": "berendsen"}, "unknown barostat 'berendsen'"),
    ({"pressure_GPa": None}, "npt needs a target pressure"),
])
def test_bad_npt_parameters(kwargs, match):
    args = dict(pressure_GPa=0.0)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        md.make_integrator("npt", 2.0, 300.0, **args)


def test_pressure_with_a_constant_volume_ensemble_is_refused():
    with pytest.raises(ConfigError, match="keeps the volume fixed"):
        md.make_integrator("bussi", 2.0, 300.0, pressure_GPa=1.0)
