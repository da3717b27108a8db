"""Bad inputs give clear errors (naming the problem and the fix) and write nothing."""
import os

import ase
import ase.io
import pytest
import torch

import md
from md.cli_run import StructureFileError, run_from_args
from md_systems import argon_crystal, argon_lj
from mlip.errors import ConfigError, UnknownElementError


@pytest.fixture
def structure(tmp_path):
    path = tmp_path / "argon.extxyz"
    ase.io.write(path, argon_crystal(repeat=1))
    return str(path)


def call(tmp_path, structure, **kwargs):
    out = str(tmp_path / "out")
    args = dict(structure_path=structure, steps=5, output_dir=out, options={"progress": False})
    args.update(kwargs)
    forcefield = args.pop("forcefield", argon_lj(5.0))
    return run_from_args(forcefield, **args), out


@pytest.mark.parametrize("kwargs,match", [
    ({"ensemble": "npe"}, r"unknown ensemble 'npe'.*nve, langevin, bussi, nose-hoover, npt"),
    ({"ensemble": "npt"}, r"ensemble npt needs a target pressure"),
    ({"ensemble": "bussi", "options": {"pressure_GPa": 1.0}}, r"keeps the volume fixed; use --ensemble npt"),
    ({"ensemble": "npt", "options": {"pressure_GPa": 0.0, "barostat": "berendsen"}}, r"unknown barostat 'berendsen'"),
    ({"ensemble": "npt", "options": {"pressure_GPa": 0.0, "cell_flexibility": "cubic"}}, r"unknown cell flexibility"),
    ({"ensemble": "langevn"}, r"did you mean 'langevin'"),
    ({"timestep_fs": -1.0}, r"timestep_fs must be > 0"),
    ({"timestep_fs": 0.0}, r"timestep_fs must be > 0"),
    ({"ensemble": "bussi", "temperature_K": -5.0}, r"temperature_K must be > 0"),
    ({"ensemble": "nve", "temperature_K": -5.0}, r"temperature_K must be >= 0"),
    ({"steps": -3}, r"steps must be an integer >= 0"),
    ({"dtype": "float16"}, r"dtype must be one of"),
    ({"options": {"timestep": 1.0}}, r"unknown md config key.*did you mean 'timestep_fs'"),
    ({"options": {"trajectory_formats": ["pdbx"]}}, r"unknown trajectory format"),
])
def test_bad_setting_is_rejected_before_anything_is_written(tmp_path, structure, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        call(tmp_path, structure, **kwargs)
    assert not os.path.exists(tmp_path / "out")


def test_missing_structure_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(StructureFileError, match="does not exist") as error:
        call(tmp_path, str(tmp_path / "nope.xyz"))
    assert isinstance(error.value, FileNotFoundError)
    assert not os.path.exists(tmp_path / "out")


def test_unreadable_structure_file_is_rejected(tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("this is not\na structure\n")
    with pytest.raises(StructureFileError, match="cannot read"):
        call(tmp_path, str(bad))
    assert not os.path.exists(tmp_path / "out")


class ArgonOnly:
    """A force field that declares the elements it knows, like a trained potential."""

    atomic_numbers = (18,)

    def __init__(self):
        self.lj = argon_lj(5.0)
        self.cutoff = self.lj.cutoff

    def __call__(self, system, edges, compute_stress=False):
        return self.lj(system, edges, compute_stress)


def test_structure_with_unknown_elements_is_rejected(tmp_path):
    path = tmp_path / "cu.extxyz"
    ase.io.write(path, ase.Atoms("ArCu", positions=[[0, 0, 0], [3, 0, 0]]))
    with pytest.raises(UnknownElementError, match=r"\['Cu'\] not known to this potential"):
        call(tmp_path, str(path), forcefield=ArgonOnly())
    assert not os.path.exists(tmp_path / "out")


def test_output_directory_with_a_previous_run_is_not_overwritten(tmp_path, structure):
    call(tmp_path, structure)
    before = (tmp_path / "out" / "thermo.csv").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        call(tmp_path, structure)
    assert (tmp_path / "out" / "thermo.csv").read_bytes() == before


def test_bad_restart_checkpoint_is_rejected(tmp_path, structure):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable md checkpoint"):
        call(tmp_path, None, restart=str(junk))
    with pytest.raises(ConfigError, match="does not exist"):
        call(tmp_path, None, restart=str(tmp_path / "missing.pt"))
    assert not os.path.exists(tmp_path / "out")


def test_python_api_rejects_bad_parameters_with_units_in_the_message():
    with pytest.raises(ConfigError, match="timestep_fs must be a finite number > 0 fs"):
        md.VelocityVerlet(-1.0)
    with pytest.raises(ConfigError, match="friction_per_fs"):
        md.LangevinBAOAB(1.0, 300.0, friction_per_fs=0.0)
    with pytest.raises(ConfigError, match="tau_fs"):
        md.Bussi(1.0, 300.0, tau_fs=-2.0)
    with pytest.raises(ConfigError, match="temperature_K"):
        md.NoseHooverChain(1.0, float("nan"))
    with pytest.raises(ConfigError, match="temperature_K"):
        md.maxwell_boltzmann_velocities(torch.ones(3), -1.0, torch.Generator())
    with pytest.raises(TypeError, match="is not a force field"):
        md.initial_state(argon_crystal(1), object())
