"""`mlip md --device cuda` end to end: a short NVE run of a saved potential through the CLI on the
device (native kernels, the device's neighbour list) gives the same total energies, step by step,
as on the CPU; where
CUDA is absent, asking for it is a clear error before anything is loaded. (The LAMMPS side,
``pair_style mlip device cuda``, is tested for its error path in tests/lammps/test_bad_input.py.)"""
import csv
import json

import ase.build
import ase.io
import pytest
import torch

import mlip
from mlip.cli import main


@pytest.fixture(scope="module")
def saved_potential(tmp_path_factory):
    cfg = mlip.ModelConfig(elements=("Cu",), cutoff=4.0, l_max=1, channels=8, n_layers=2, radial_hidden=16,
                           avg_num_neighbors=20.0)
    folder = tmp_path_factory.mktemp("potential")
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=0)
    ase.io.write(folder / "cu32.extxyz", atoms)
    return str(mlip.build_potential(cfg, dtype=torch.float64, seed=0).save(folder / "cu.pt")), str(folder / "cu32.extxyz")


def _md(potential, structure, out, device):
    # 0 K: no random velocities (the generator lives on the device), the same trajectory everywhere
    return main(["md", "--potential", potential, "--structure", structure, "--ensemble", "nve", "--temperature-K",
                 "0", "--timestep-fs", "2", "--steps", "20", "--output", str(out), "--device", device,
                 "--backend", "native", "--seed", "1"])


def _energies(out, column="total_eV"):
    with open(out / "thermo.csv") as f:
        return [float(row[column]) for row in csv.DictReader(f)]


def test_mlip_md_runs_on_the_device(device, saved_potential, tmp_path):
    potential, structure = saved_potential
    assert _md(potential, structure, tmp_path / "reference", "cpu") == 0
    assert _md(potential, structure, tmp_path / "run", device) == 0
    drift = json.loads((tmp_path / "run" / "drift.json").read_text())
    assert drift["n_atoms"] == 32
    reference, got = _energies(tmp_path / "reference"), _energies(tmp_path / "run")
    assert len(got) == len(reference) > 2
    assert max(abs(a - b) for a, b in zip(got, reference)) < 1e-8
    pe = _energies(tmp_path / "run", "potential_eV")
    assert max(pe) - min(pe) > 1e-4  # the atoms did move (rattled start, non-zero forces)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here: the missing-GPU error cannot occur")
def test_mlip_md_device_cuda_without_cuda_is_a_clear_error(saved_potential, tmp_path, capsys):
    potential, structure = saved_potential
    assert _md(potential, structure, tmp_path / "out", "cuda") == 2
    err = capsys.readouterr().err
    assert "device 'cuda' requested but CUDA is not available here; use --device cpu" in err
    assert not (tmp_path / "out").exists()
