"""Models exported with the compiled kernels (ModelConfig.backend="native") run in LAMMPS when
the op library is loaded with ``pair_style mlip ops <lib>``, and give the calculator's numbers;
without it, the error says what to load. Skipped only where mlip.ops is not built (make test
builds it: make ops)."""
import numpy as np
import pytest
import torch

import lammps_helpers as lh
import mlip
from mlip.export import export_lammps, read_lammps_metadata

ops = pytest.importorskip("mlip.ops")
pytestmark = pytest.mark.skipif(not ops.available(), reason="mlip.ops library not built (make ops)")

CELL = [[7.0, 0.0, 0.0], [1.1, 6.5, 0.0], [-0.8, 0.6, 7.2]]


@pytest.fixture(scope="module")
def native_model(tmp_path_factory, plugin):
    pot = lh.make_potential(torch.float64, seed=5, backend="native")
    path = export_lammps(pot, tmp_path_factory.mktemp("native") / "native.pt", backend="native")
    return pot, path


def test_native_ops_model_in_lammps_equals_calculator(native_model, tmp_path):
    pot, path = native_model
    assert read_lammps_metadata(path)["native_ops"] is True
    atoms = lh.random_structure(CELL, 20, ("H", "C", "O"), seed=11)
    ref_atoms = atoms.copy()
    ref_atoms.calc = mlip.MLIPCalculator(pot)
    got = lh.single_point(atoms, path, ["H", "C", "O"], tmp_path, pair_style=f"mlip ops {ops.library_path()}")
    assert abs(got["energy"] - ref_atoms.get_potential_energy()) <= 1e-8 * abs(ref_atoms.get_potential_energy())
    ref_f = ref_atoms.get_forces()
    assert np.abs(got["forces"] - ref_f).max() <= 1e-8 * np.abs(ref_f).max()
    stress = -lh.voigt_ase_from_lammps(got["virial"]) / got["volume"]
    ref_s = ref_atoms.get_stress()
    assert np.abs(stress - ref_s).max() <= 1e-8 * np.abs(ref_s).max()


def test_missing_op_library_keyword_is_a_clear_error(native_model, tmp_path):
    _, path = native_model
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "import lammps_helpers as lh\n"
        "atoms = lh.random_structure(%r, 12, ('H', 'C', 'O'), seed=3)\n"
        "lh.single_point(atoms, %r, ['H', 'C', 'O'], %r)\n"
    ) % (str(lh.REPO / "tests" / "lammps"), CELL, str(path), str(tmp_path))
    # a fresh process: in this one, Python has already registered the ops with torch
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "load the op library first: pair_style mlip ops" in done.stderr

