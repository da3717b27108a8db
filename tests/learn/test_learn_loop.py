"""The active-learning loop end to end on a toy (EMT copper/gold, a two-member committee of
tiny models): it labels only frames whose σ passes the threshold, stops when exploration stays
quiet, resumes after ``kill -9`` with the same result, and keeps provenance."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from learn_fixtures import write_setup
from mlip.learn import LearnConfig, learn
from mlip.learn.journal import Journal
from mlip.learn.labelled_set import read_labelled

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(path, resume=False):
    lines = []
    final = learn(LearnConfig.from_yaml(path), resume=resume, say=lines.append)
    return final, lines


def _samples(out, r):
    return read_labelled(os.path.join(out, f"round_{r}", "samples.extxyz"))


@pytest.mark.parametrize("threshold", [1e-9, 1e3])
def test_labels_only_frames_above_threshold(tmp_path, threshold):
    path = write_setup(tmp_path, select={"threshold_eV_per_A": threshold, "max_per_round": 2},
                       stop={"max_labels": 50, "max_rounds": 2, "quiet_time_fs": 150.0})
    final, lines = _run(path)
    out = str(tmp_path / "out")
    labelled = read_labelled(os.path.join(out, "labelled.extxyz"))
    explored = [a for a in labelled if a.info["source"] == "explore"]
    journal = Journal.load(os.path.join(out, "journal.json"))
    for a in explored:
        assert a.info["sigma_eV_per_A"] > threshold
        assert "REF_forces" in a.arrays and np.isfinite(a.arrays["REF_forces"]).all()
    for row in journal.rows[:-1] if threshold < 1 else journal.rows:
        sigmas = [a.info["sigma_eV_per_A"] for a in _samples(out, row["round"])]
        assert row["candidates"] == sum(s > threshold for s in sigmas)
    if threshold < 1:  # every sample is a candidate: max_per_round labels per round, until the rounds are done
        assert len(explored) == 2 * 2 and journal.stopped.startswith("2 rounds done")
        assert {a.info["round"] for a in explored} == {0, 1}
    else:  # nothing passes: no exploration labels; 96 fs of quiet exploration per round, 150 fs needed
        assert explored == [] and "converged" in journal.stopped
        assert [row["candidates"] for row in journal.rows] == [0, 0]
        assert any("nothing was labelled in round 0" in line for line in lines)
    assert os.path.exists(final) and os.path.exists(os.path.join(out, "rounds.csv"))


def test_provenance_and_initial_frames(tmp_path):
    path = write_setup(tmp_path, select={"threshold_eV_per_A": 1e-9, "max_per_round": 1},
                       stop={"max_labels": 3, "max_rounds": 5, "quiet_time_fs": 1e6})
    _run(path)
    labelled = read_labelled(str(tmp_path / "out" / "labelled.extxyz"))
    assert len(labelled) == 3  # the label budget, then a last committee on all labels
    initial = [a for a in labelled if a.info["source"] == "initial"]
    assert len(initial) == 2 and all(math.isnan(a.info["sigma_eV_per_A"]) for a in initial)
    explored = labelled[2]
    assert explored.info["round"] == 0 and explored.info["oracle"] == "ase.calculators.emt:EMT"
    assert explored.info["condition"].startswith("s")
    journal = Journal.load(str(tmp_path / "out" / "journal.json"))
    assert journal.stopped.startswith("label budget spent") and journal.phase == "done"
    # EMT's own labels, not the model's
    from ase.calculators.emt import EMT

    atoms = explored.copy()
    atoms.calc = EMT()
    np.testing.assert_allclose(explored.arrays["REF_forces"], atoms.get_forces(), atol=1e-10)


KILLER = textwrap.dedent('''
    """Oracle that labels with EMT and kills its own process (SIGKILL) on call number KILL_AT."""
    import os, signal
    from ase.calculators.emt import EMT

    def label(atoms):
        counter = os.path.join(os.path.dirname(__file__), "calls.txt")
        n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
        open(counter, "w").write(str(n))
        if n == int(os.environ.get("KILL_AT", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
        atoms = atoms.copy()
        atoms.calc = EMT()
        return {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "stress": atoms.get_stress()}
''')


def _killable_setup(folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "killer.py"), "w") as fh:
        fh.write(KILLER)
    return write_setup(folder, oracle={"script": "killer.py:label"},
                       select={"threshold_eV_per_A": 1e-9, "max_per_round": 2},
                       stop={"max_labels": 50, "max_rounds": 2, "quiet_time_fs": 1e6})


def _cli(path, *extra, kill_at=0):
    env = dict(os.environ, KILL_AT=str(kill_at), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "mlip.cli", "learn", path, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_resumes_exactly_after_kill_9(tmp_path):
    reference = _killable_setup(str(tmp_path / "a"))
    done = _cli(reference)
    assert done.returncode == 0, done.stderr
    killed = _killable_setup(str(tmp_path / "b"))
    # calls: 2 initial labels, then 2 in round 0, 2 in round 1: die while labelling the 4th frame
    crash = _cli(killed, kill_at=4)
    assert crash.returncode == -9, crash.stderr
    kept = sorted(os.listdir(tmp_path / "b" / "out" / "labelled"))
    assert kept == ["000000.extxyz", "000001.extxyz", "000002.extxyz"]  # only the frame being labelled is lost
    resumed = _cli(killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = read_labelled(str(tmp_path / "a" / "out" / "labelled.extxyz"))
    b = read_labelled(str(tmp_path / "b" / "out" / "labelled.extxyz"))
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):
        assert x.info["round"] == y.info["round"] and x.info["condition"] == y.info["condition"]
        np.testing.assert_allclose(x.positions, y.positions, rtol=0, atol=1e-9)
        np.testing.assert_allclose(x.arrays["REF_forces"], y.arrays["REF_forces"], rtol=0, atol=1e-9)
    import ase.build
    import torch

    from mlip.calculator import MLIPCalculator

    probe = ase.build.bulk("Cu", "fcc", a=3.62, cubic=True)
    probe.rattle(0.05, seed=3)
    energies = []
    for run in ("a", "b"):
        probe.calc = MLIPCalculator(str(tmp_path / run / "out" / "committee.pt"), dtype=torch.float64)
        energies.append((probe.get_potential_energy(), probe.get_forces().copy()))
    assert abs(energies[0][0] - energies[1][0]) <= 1e-8 * max(1.0, abs(energies[0][0]))
    np.testing.assert_allclose(energies[0][1], energies[1][1], rtol=0, atol=1e-8)


def test_refuses_to_resume_a_different_config(tmp_path):
    path = write_setup(tmp_path, stop={"max_labels": 2, "max_rounds": 1, "quiet_time_fs": 1e6})
    _run(path)
    from mlip.errors import ConfigError

    with pytest.raises(ConfigError, match="--resume"):
        _run(path)  # the folder holds a run already
    write_setup(tmp_path, seed=5, stop={"max_labels": 2, "max_rounds": 1, "quiet_time_fs": 1e6})
    with pytest.raises(ConfigError, match="different learn config"):
        _run(path, resume=True)
