"""Bad configs and bad data give clear errors naming the problem."""
import ase
import ase.io
import numpy as np
import pytest

from mlip.data import DataKeys, read_frames
from mlip.errors import ConfigError, DataError
from mlip.train import TrainConfig, train
from emt_fixtures import make_emt_frames, tiny_config


def test_unknown_config_keys_are_named(emt_file, tmp_path):
    cfg = tiny_config(emt_file, tmp_path)
    cfg["training"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match=r"training: unknown key\(s\) \['learning_rate'\]"):
        TrainConfig.from_dict(cfg)
    cfg = tiny_config(emt_file, tmp_path)
    cfg["model"]["chanels"] = 3
    with pytest.raises(ConfigError, match="chanels"):
        train(TrainConfig.from_dict(cfg))
    cfg = tiny_config(emt_file, tmp_path)
    cfg["extra"] = 1
    with pytest.raises(ConfigError, match="extra"):
        TrainConfig.from_dict(cfg)
    cfg = tiny_config(emt_file, tmp_path)
    cfg["training"]["loss"] = {"force_weight": 1}
    with pytest.raises(ConfigError, match="force_weight"):
        TrainConfig.from_dict(cfg)


def test_malformed_and_missing_files(tmp_path):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("3\nnot a comment line with = broken\nH 0 0\n")
    with pytest.raises(DataError, match="bad.extxyz: could not be parsed"):
        read_frames(str(bad))
    with pytest.raises(DataError, match="no such data file"):
        read_frames(str(tmp_path / "missing.xyz"))


def test_missing_forces_when_the_loss_needs_them(tmp_path):
    frames = make_emt_frames(8)
    del frames[5].arrays["forces"]
    path = tmp_path / "noforces.extxyz"
    ase.io.write(path, frames)
    with pytest.raises(ConfigError, match="forces_weight > 0.*noforces.extxyz:5|noforces.extxyz:5"):
        train(TrainConfig.from_dict(tiny_config(str(path), tmp_path / "o")))


def test_mismatched_units_key(tmp_path):
    frames = make_emt_frames(3)
    frames[1].info["energy_unit"] = "kcal/mol"
    path = tmp_path / "units.extxyz"
    ase.io.write(path, frames)
    with pytest.raises(DataError, match=r"units.extxyz:1: the frame declares energy_unit='kcal/mol'"):
        read_frames(str(path), DataKeys(energy_unit="eV"))
    with pytest.raises(DataError, match="energy_unit 'kcal' unknown"):
        DataKeys(energy_unit="kcal")


def test_units_are_converted_to_eV_and_angstrom(tmp_path):
    a = ase.Atoms("H2", positions=[[0, 0, 0], [1.0, 0, 0]])
    a.info["e"] = 1.0
    a.arrays["f"] = np.array([[1.0, 0, 0], [-1.0, 0, 0]])
    path = tmp_path / "h.extxyz"
    ase.io.write(path, [a])
    fr = read_frames(str(path), DataKeys(energy="e", forces="f", energy_unit="Hartree", length_unit="Bohr"))[0]
    assert fr.energy == pytest.approx(27.211386245988)
    assert fr.positions[1, 0] == pytest.approx(0.529177210903)
    assert fr.forces[0, 0] == pytest.approx(27.211386245988 / 0.529177210903)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda a: a.positions.__setitem__((0, 0), np.nan), "positions contain NaN"),
        (lambda a: a.arrays["forces"].__setitem__((0, 0), np.inf), "forces contain NaN"),
        (lambda a: a.positions.__setitem__(1, a.positions[0] + 0.01), "duplicate atoms"),
    ],
    ids=["nan_positions", "inf_forces", "duplicate_atoms"],
)
def test_bad_frames_are_reported_by_file_and_index(tmp_path, mutate, match):
    frames = make_emt_frames(4)
    mutate(frames[2])
    path = tmp_path / "f.extxyz"
    ase.io.write(path, frames)
    with pytest.raises(DataError, match=f"f.extxyz:2: .*{match}|f.extxyz:2: {match}"):
        read_frames(str(path))


def test_data_index_selects_frames_before_the_split(emt_file, tmp_path):
    from mlip.train.setup import prepare_data

    cfg = tiny_config(emt_file, tmp_path / "run")
    full = prepare_data(TrainConfig.from_dict(cfg))
    cfg["data"]["index"] = ":10"
    part = prepare_data(TrainConfig.from_dict(cfg))
    count = lambda p: sum(len(x) for x in (p.train, p.valid, p.test))
    assert count(part) == 10 < count(full)
