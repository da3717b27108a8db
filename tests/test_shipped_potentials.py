"""Every shipped potential: checksum, metadata, loads by name, and reproduces its pinned
reference predictions; its error against the reference method stays within its card's range."""
import hashlib
import json

import ase.io
import numpy as np
import pytest

import mlip
from mlip.shipped import POTENTIALS_DIR, list_shipped

SHIPPED = list_shipped()


def test_at_least_one_potential_is_shipped():
    assert SHIPPED, f"no potentials found in {POTENTIALS_DIR}"


@pytest.mark.parametrize("name", SHIPPED)
def test_checksum_and_metadata_match_the_weights(name):
    folder = POTENTIALS_DIR / name
    digest = hashlib.sha256((folder / "potential.pt").read_bytes()).hexdigest()
    assert (folder / "potential.pt.sha256").read_text().split()[0] == digest
    meta = json.loads((folder / "metadata.json").read_text())
    pot = mlip.load_potential(name)
    assert meta["elements"] == list(pot.elements)
    assert meta["cutoff_A"] == pot.cutoff
    assert (folder / "card.md").is_file()


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("name", SHIPPED)
def test_reproduces_pinned_reference_predictions(name, backend):
    """On the pure-torch kernels and on whatever "auto" picks here (native when built): the
    pinned predictions hold to float32 rounding either way."""
    frames = ase.io.read(POTENTIALS_DIR / name / "reference_structures.extxyz", ":")
    assert 3 <= len(frames) <= 5
    calc = mlip.MLIPCalculator(name, backend=backend)
    from mlip.backends import resolve_model_backend

    assert calc.potential.backend == resolve_model_backend(backend)
    for atoms in frames:
        atoms.calc = calc
        e = atoms.get_potential_energy()
        f = atoms.get_forces()
        n = len(atoms)
        assert abs(e - atoms.info["mlip_energy"]) < 1e-5 * n, atoms.info["source"]
        np.testing.assert_allclose(f, atoms.arrays["mlip_forces"], atol=1e-4)
        # against the reference method: within 5x the card's test RMSE
        meta = json.loads((POTENTIALS_DIR / name / "metadata.json").read_text())
        tm = meta["test_metrics"]
        assert abs(e - atoms.info["reference_energy"]) / n < 5e-3 * tm["energy_rmse_meV/atom"] + 1e-3
        assert np.sqrt(np.mean((f - atoms.arrays["reference_forces"]) ** 2)) < 5e-3 * tm["forces_rmse_meV/A"]
