"""Potential files: round trip, metadata checks, corrupted/foreign files refused clearly."""
import pickle

import pytest
import torch

import mlip
from mlip.errors import PotentialFileError
from model_fixtures import predict, random_molecule, small_potential


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    pot = small_potential(torch.float64, seed=3)
    path = pot.save(tmp_path / "model.pt")
    loaded = mlip.load_potential(path)
    atoms = random_molecule(seed=1)
    a, b = predict(pot, [atoms]), predict(loaded, [atoms])
    assert torch.equal(a.energy, b.energy) and torch.equal(a.forces, b.forces)
    assert loaded.config == pot.config and loaded.dtype == torch.float64
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_load_with_other_dtype_converts(tmp_path):
    path = small_potential(torch.float64).save(tmp_path / "m.pt")
    assert mlip.load_potential(path, dtype=torch.float32).dtype == torch.float32


def _payload(pot):
    return {"format": "mlip-potential", "format_version": 1, "metadata": pot.metadata(), "state_dict": pot.state_dict()}


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.pop("format"), "not an mlip potential"),
        (lambda d: d.update(format_version=99), "format version 99"),
        (lambda d: d["metadata"].pop("cutoff_A"), "lacks 'cutoff_A'"),
        (lambda d: d["metadata"].update(elements=["H", "C", "N"]), "elements"),
        (lambda d: d["metadata"].update(cutoff_A=9.0), "cutoff"),
        (lambda d: d["metadata"]["units"].update(energy="kcal/mol"), "units"),
        (lambda d: d["metadata"]["config"].update(chanels=3), "unknown model config key"),
        (lambda d: d["state_dict"].pop(next(iter(d["state_dict"]))), "weights do not match"),
        (lambda d: d["metadata"].update(dtype="float32"), "metadata says float32"),
    ],
    ids=["no_format", "version", "no_cutoff", "elements", "cutoff", "units", "config_typo", "missing_weight", "dtype"],
)
def test_inconsistent_metadata_is_refused(tmp_path, mutate, match):
    payload = _payload(small_potential())
    mutate(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(PotentialFileError, match=match):
        mlip.load_potential(path)


def test_corrupted_and_foreign_files_are_refused(tmp_path):
    good = small_potential().save(tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    pickled = tmp_path / "module.pt"
    with open(pickled, "wb") as f:
        pickle.dump(torch.nn.Linear(2, 2), f)
    for path in (truncated, text, pickled):
        with pytest.raises(PotentialFileError, match="not a readable mlip potential"):
            mlip.load_potential(path)
    with pytest.raises(PotentialFileError, match="no such file"):
        mlip.load_potential(tmp_path / "missing.pt")
