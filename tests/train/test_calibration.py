"""Calibrated committee uncertainty: the scale is one definition shared by the file, the ASE
calculator and md's spread; the fit and the diagnostics recover known answers on synthetic
Gaussian errors; bad input is refused with a clear error."""
import math
import subprocess
import sys

import ase.build
import ase.io
import numpy as np
import pytest
import torch
import yaml

import md
from md.committee_spread import spread_at
import mlip
from mlip.calculator import MLIPCalculator
from mlip.data import DataKeys, build_graphs, read_frames
from mlip.errors import ConfigError, DataError, PotentialFileError
from mlip.train.calibration import (ForceUncertainty, binned_curve, calibrate, calibration_report, fit_scale,
                                    force_uncertainty, gaussian_coverage, spearman)
from mlip.train.calibration_plot import write_calibration_plot

from emt_fixtures import make_emt_frames, tiny_config


def cuau_committee(size=3, seed=0):
    config = mlip.ModelConfig(elements=("Cu", "Au"), cutoff=3.5, l_max=1, channels=4, n_layers=2, radial_hidden=8,
                              readout_hidden=4)
    return mlip.build_potential(config, committee_size=size, seed=seed)


@pytest.fixture(scope="module")
def graphs(emt_file):
    return build_graphs(read_frames(emt_file, DataKeys()), 3.5)


def synthetic(n_atoms, k, seed, atoms_per_frame=8):
    """σ_raw log-normal over two decades; ΔF_i ~ N(0, (kσ_raw,i)²/3 · I₃), so E|ΔF_i|² = k²σ_raw,i²."""
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.normal(np.log(0.05), 1.0, n_atoms))
    error = np.linalg.norm(rng.normal(size=(n_atoms, 3)) * (k * sigma / math.sqrt(3.0))[:, None], axis=1)
    return ForceUncertainty(sigma, error, np.arange(n_atoms) // atoms_per_frame)


def test_scale_round_trips_through_the_file_and_old_files_load_as_one(tmp_path):
    pot = cuau_committee()
    assert pot.uncertainty_scale == pytest.approx(1.0, rel=1e-15)  # default: the raw spread
    pot.set_uncertainty_scale(2.75)
    loaded = mlip.load_potential(pot.save(tmp_path / "c.pt"))
    assert loaded.uncertainty_scale == pytest.approx(2.75, rel=1e-15)
    payload = torch.load(tmp_path / "c.pt", weights_only=True)
    del payload["metadata"]["uncertainty_scale"]  # a file written before calibration existed
    torch.save(payload, tmp_path / "old.pt")
    assert mlip.load_potential(tmp_path / "old.pt").uncertainty_scale == pytest.approx(1.0, rel=1e-15)
    payload["metadata"]["uncertainty_scale"] = -1.0
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(PotentialFileError, match="uncertainty_scale"):
        mlip.load_potential(tmp_path / "bad.pt")
    for bad in (0.0, -2.0, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ConfigError, match="uncertainty_scale must be a finite number > 0"):
            pot.set_uncertainty_scale(bad)


def test_scale_multiplies_the_calculator_and_md_spread_and_leaves_forces_alone():
    pot = cuau_committee()
    atoms = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms[3].symbol = "Au"
    atoms.rattle(0.1, seed=3)
    calc = MLIPCalculator(pot)
    state = md.initial_state(atoms, pot, temperature_K=100.0, seed=2)
    raw_forces = calc.get_forces(atoms).copy()
    raw_f, raw_e = calc.results["forces_std"].copy(), calc.results["energy_std"]
    raw_md = spread_at(pot, state)
    assert raw_f.min() > 1e-4 and raw_e > 1e-6  # random members disagree
    np.testing.assert_allclose(raw_md.forces_std.numpy(), raw_f, rtol=1e-10)  # one definition
    pot.set_uncertainty_scale(3.0)
    calc = MLIPCalculator(pot)
    np.testing.assert_allclose(calc.get_forces(atoms), raw_forces, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(calc.results["forces_std"], 3.0 * raw_f, rtol=1e-12)
    assert calc.results["energy_std"] == pytest.approx(3.0 * raw_e, rel=1e-12)
    scaled_md = spread_at(pot, state)
    np.testing.assert_allclose(scaled_md.forces_std.numpy(), 3.0 * raw_md.forces_std.numpy(), rtol=1e-12)
    assert scaled_md.max_forces_std_eV_per_A == pytest.approx(3.0 * raw_md.max_forces_std_eV_per_A, rel=1e-12)
    assert scaled_md.energy_std_eV == pytest.approx(3.0 * raw_md.energy_std_eV, rel=1e-12)


@pytest.mark.parametrize("k", [0.4, 2.5])
def test_rmse_fit_recovers_the_known_scale_and_gaussian_coverage(k):
    n = 20000
    data = synthetic(n, k, seed=int(10 * k))
    s = fit_scale(data.sigma_raw, data.error, "rmse")
    # s² = mean(e²)/mean(σ²) with e² = k²σ²·χ²₃/3: relative standard error of s² is
    # sqrt(2/3 · mean(σ⁴)/(n·mean(σ²)²)); of s half that. Allow 4 standard errors.
    rel = 0.5 * math.sqrt(2.0 / 3.0 * np.mean(data.sigma_raw**4) / (n * np.mean(data.sigma_raw**2) ** 2))
    assert abs(s / k - 1.0) < 4 * rel
    report = calibration_report(data, k)  # the true scale: a perfectly calibrated Gaussian
    p = gaussian_coverage(2.0)
    assert p == pytest.approx(0.99262, abs=1e-5)  # P(χ²₃ < 12)
    assert abs(report.coverage_2sigma - p) < 4 * math.sqrt(p * (1 - p) / n)
    for row in report.bins:  # each bin on the diagonal: RMS error = RMS σ within its χ² noise
        assert row["error_rms_eV_per_A"] / row["sigma_rms_eV_per_A"] == pytest.approx(1.0, abs=4 * math.sqrt(1 / (6 * row["n_atoms"])) + 0.05)


def test_coverage_fit_hits_the_target_and_the_chi_square_quantile():
    data = synthetic(20000, 1.7, seed=5)
    s = fit_scale(data.sigma_raw, data.error, "coverage", target_coverage=0.95)
    report = calibration_report(data, s)
    assert report.coverage_2sigma == pytest.approx(0.95, abs=2e-4)
    # |ΔF|/σ_raw = k·sqrt(χ²₃/3): its 95 % quantile is k·sqrt(7.8147/3), and s is half of it
    assert s == pytest.approx(1.7 * math.sqrt(7.814728 / 3.0) / 2.0, rel=0.03)


def test_spearman_matches_scipy_and_separates_informative_from_useless_sigma():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 6, 300).astype(float), rng.normal(size=300)
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    informative = calibration_report(synthetic(8000, 1.0, seed=2), 1.0)
    assert informative.spearman_frame_mean > 0.6 and informative.spearman_frame_max > 0.5
    useless = synthetic(8000, 1.0, seed=3)
    useless = ForceUncertainty(rng.permutation(useless.sigma_raw), useless.error, useless.frame)
    frames = useless.n_frames
    assert abs(calibration_report(useless, 1.0).spearman_frame_mean) < 4 / math.sqrt(frames - 1)


def test_binned_curve_uses_equal_count_bins():
    rows = binned_curve(np.arange(1.0, 101.0), np.ones(100), n_bins=10)
    assert [r["n_atoms"] for r in rows] == [10] * 10
    assert rows[0]["sigma_lo_eV_per_A"] == pytest.approx(1.0, rel=1e-15)
    assert rows[-1]["sigma_hi_eV_per_A"] == pytest.approx(100.0, rel=1e-15)


def test_calibrate_makes_rms_sigma_equal_rms_error_through_the_calculator(graphs, emt_file, tmp_path):
    pot = cuau_committee()
    default = calibrate(pot, graphs)  # coverage matching: 95 % of the 64 atoms within 2σ, to one atom
    assert abs(default.coverage_2sigma - 0.95) <= 1 / 64 + 1e-12
    report = calibrate(pot, graphs, method="rmse")
    assert report.sigma_rms_eV_per_A == pytest.approx(report.force_error_rms_eV_per_A, rel=1e-10)
    # the same numbers by another path: the ASE calculator on the frames, one at a time
    calc = MLIPCalculator(pot)
    sigma2, error2 = [], []
    for g in graphs:
        atoms = g.frame.to_atoms()
        atoms.calc = calc
        error2.append(np.sum((atoms.get_forces() - g.frame.forces) ** 2, axis=1))
        sigma2.append(calc.results["forces_std"] ** 2)
    assert math.sqrt(np.mean(np.concatenate(sigma2))) == pytest.approx(math.sqrt(np.mean(np.concatenate(error2))), rel=1e-8)
    png, table = write_calibration_plot(report, tmp_path / "cal.png", "test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table.read_text().splitlines()[0].startswith("sigma_lo_eV_per_A,") and len(table.read_text().splitlines()) == 11


def test_bad_input_is_refused_with_a_clear_error(graphs, emt_file, tmp_path):
    single = mlip.build_potential(cuau_committee().config)
    with pytest.raises(ConfigError, match="needs a committee"):
        calibrate(single, graphs)
    unlabelled = build_graphs(read_frames(emt_file, DataKeys(forces=None)), 3.5)
    with pytest.raises(DataError, match="has reference forces"):
        calibrate(cuau_committee(), unlabelled)
    with pytest.raises(ConfigError, match="method"):
        fit_scale(np.ones(3), np.ones(3), "median")
    with pytest.raises(DataError, match="spread is zero"):
        fit_scale(np.zeros(3), np.ones(3))
    path = single.save(tmp_path / "single.pt")
    out = subprocess.run([sys.executable, "-m", "mlip.cli", "calibrate", str(path), emt_file, "-o", str(tmp_path / "o.pt")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.startswith("mlip: error: calibration needs a committee")
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.slow  # ~20 s: trains a 2-member committee for one epoch each, then the CLI calibrates and evaluates
def test_train_calibrates_a_committee_and_cli_calibrate_and_eval_report_it(emt_file, tmp_path):
    cfg = tiny_config(emt_file, tmp_path / "run", epochs=1, committee_size=2)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = lambda *a: subprocess.run([sys.executable, "-m", "mlip.cli", *map(str, a)], capture_output=True, text=True, timeout=600)
    out = run("train", tmp_path / "c.yaml")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "validation split: uncertainty scale" in out.stdout
    cal = yaml.safe_load((tmp_path / "run" / "calibration.json").read_text())
    best = mlip.load_potential(tmp_path / "run" / "best.pt")
    assert cal["calibrated"] and best.uncertainty_scale == pytest.approx(cal["scale"], rel=1e-12) and cal["scale"] != 1.0
    assert (tmp_path / "run" / "calibration.png").exists() and (tmp_path / "run" / "calibration.csv").exists()
    out = run("calibrate", tmp_path / "run" / "best.pt", emt_file, "-o", tmp_path / "cal.pt", "--target-coverage", "0.95",
              "--plot", tmp_path / "c.png")
    assert out.returncode == 0, out.stderr[-2000:]
    coverage = float(out.stdout.split(": uncertainty scale ")[1].split(": ")[1].split(" %")[0])
    assert abs(coverage - 95.0) <= 100 / 64 + 0.1 and (tmp_path / "c.csv").exists()  # 16 frames of 4 atoms
    out = run("eval", tmp_path / "cal.pt", emt_file, "--calibration-plot", tmp_path / "e.png")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "committee uncertainty: uncertainty scale" in out.stdout and "Spearman" in out.stdout
    assert f"{coverage:.1f} % of 64 atoms" in out.stdout and (tmp_path / "e.png").exists() and (tmp_path / "e.csv").exists()
