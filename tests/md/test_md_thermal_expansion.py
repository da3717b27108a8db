"""md.analysis.thermal_expansion (`mlip analyze --thermal-expansion`): synthetic NPT ladders with a
known V(T) give back α within their error bars (error bars calibrated over many ladders), the
quadratic fit catches curvature the linear one cannot, and bad ladders stop with clear errors."""
import json
import math

import ase
import ase.io
import numpy as np
import pytest
import yaml

from md.analysis import AnalysisError
from md.analysis.thermal_expansion import fit_polynomial, thermal_expansion
from md.reporters.thermo import COLUMNS
from mlip.cli import main as mlip_main

V0_A3, T0_K, ALPHA_PER_K = 1000.0, 600.0, 3.0e-5


def linear_volume(T):
    return V0_A3 * (1.0 + ALPHA_PER_K * (T - T0_K))


def write_run(folder, T_target, volume_of_T, rng, rows=300, frames=0, pressure_GPa=0.0, numbers=(18,) * 8,
              thermo_volume=True, shape=(1.0, 1.0, 1.0), rel_noise=1e-3, constant=False, drift=0.0):
    """An `mlip md`-like NPT run folder: thermo.csv (md's columns + volume_A3), config.yaml and,
    with ``frames``, a trajectory.extxyz whose cells (lengths ∝ ``shape``) carry the volumes."""
    folder.mkdir(parents=True)
    mean_volume = volume_of_T(T_target)
    times = np.arange(rows) * 10.0
    temperatures = T_target + rng.normal(scale=3.0, size=rows)
    volumes = np.full(rows, mean_volume) if constant else mean_volume * (1 + rng.normal(scale=rel_noise, size=rows))
    volumes *= 1 + drift * (np.arange(rows) / rows - 0.5)  # an unequilibrated run: a steady ramp
    header = [c for c in COLUMNS if c != "volume_A3"] + (["volume_A3"] if thermo_volume else [])
    lines = [",".join(header)]
    for k in range(rows):
        values = {"step": str(10 * k), "time_fs": repr(float(times[k])), "temperature_K": repr(float(temperatures[k])),
                  "pressure_GPa": repr(pressure_GPa + float(rng.normal(scale=0.1))),
                  "volume_A3": repr(float(volumes[k])), "shadow_eV": ""}
        lines.append(",".join(values.get(name, "0.0") for name in header))
    (folder / "thermo.csv").write_text("\n".join(lines) + "\n")
    (folder / "config.yaml").write_text(yaml.safe_dump({"ensemble": "npt", "temperature_K": float(T_target),
                                                        "pressure_GPa": float(pressure_GPa)}))
    if frames:
        shape = np.asarray(shape, dtype=float) / np.prod(shape) ** (1 / 3)
        images = []
        for k in range(frames):
            row = k * rows // frames
            lengths = shape * volumes[row] ** (1 / 3)
            atoms = ase.Atoms(numbers=list(numbers), cell=np.diag(lengths), pbc=True,
                              scaled_positions=rng.uniform(size=(len(numbers), 3)))
            atoms.info["time_fs"] = float(times[row])
            images.append(atoms)
        ase.io.write(folder / "trajectory.extxyz", images)
    return str(folder)


def ladder(tmp_path, temperatures, volume_of_T, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    return [write_run(tmp_path / f"T{int(T)}", T, volume_of_T, rng, **kwargs) for T in temperatures]


def test_linear_ladder_recovers_alpha_volume_and_axes(tmp_path):
    shape = (1.0, 1.2, 0.9)  # orthorhombic: lengths from the trajectory cells, volume from thermo.csv
    runs = ladder(tmp_path, (300.0, 500.0, 700.0, 900.0), linear_volume, frames=100, shape=shape)
    result = thermal_expansion(runs, "linear", reference_temperature_K=T0_K)
    assert result.alpha_V_err_per_K < 0.02 * ALPHA_PER_K  # a test that can fail: error bars are tight
    assert abs(result.alpha_V_per_K - ALPHA_PER_K) < 3 * result.alpha_V_err_per_K
    assert result.alpha_L_per_K == pytest.approx(result.alpha_V_per_K / 3, rel=1e-12)
    assert not result.cubic and any("not cubic" in note for note in result.notes)
    for axis in "abc":  # L ∝ V^(1/3): every axis expands by α_V/3
        value, error = result.alpha_axes_per_K[axis], result.alpha_axes_err_per_K[axis]
        assert error < 0.1 * ALPHA_PER_K / 3 and abs(value - ALPHA_PER_K / 3) < 3 * error
    assert [run.volume_source for run in result.runs] == ["thermo.csv"] * 4
    assert abs(result.runs[0].target_pressure_GPa) < 1e-12 and abs(result.runs[0].pressure_GPa) < 0.05


def test_error_bars_are_calibrated_over_many_ladders(tmp_path):
    z, alarms = [], 0
    for seed in range(30):
        runs = ladder(tmp_path / f"l{seed}", (300.0, 450.0, 600.0, 750.0, 900.0), linear_volume, seed=seed, rows=200)
        result = thermal_expansion(runs, "linear", reference_temperature_K=T0_K, n_blocks=5)
        z.append((result.alpha_V_per_K - ALPHA_PER_K) / result.alpha_V_err_per_K)
        alarms += sum(run.volume_drifting for run in result.runs)
    z = np.array(z)
    assert alarms <= 5, alarms  # equilibrated runs: the drift check's 99 % point gives ~1.5 false alarms in 150
    # χ²-scaled fits with 3 dof and 5-block errors: a bit conservative, never overconfident
    assert np.mean(np.abs(z) < 2) >= 0.85, z
    assert 0.5 < np.sqrt(np.mean(z**2)) < 1.4, z
    assert abs(np.mean(z)) < 0.6, z


def test_quadratic_fit_catches_curvature_the_linear_one_misses(tmp_path):
    a1, a2 = 3.0e-5, 2.0e-8  # V = V0 (1 + a1 x + a2 x²), x = T - T0

    def curved(T):
        x = T - T0_K
        return V0_A3 * (1 + a1 * x + a2 * x * x)

    runs = ladder(tmp_path, (200.0, 400.0, 600.0, 800.0, 1000.0), curved)
    linear = thermal_expansion(runs, "linear", reference_temperature_K=T0_K)
    assert linear.volume_fit.chi2_per_dof > 50 and any("χ²/dof" in note for note in linear.notes)
    quadratic = thermal_expansion(runs, "quadratic", reference_temperature_K=T0_K)
    assert quadratic.volume_fit.chi2_per_dof < 5
    for T in (300.0, 600.0, 900.0):
        x = T - T0_K
        exact = (a1 + 2 * a2 * x) / (1 + a1 * x + a2 * x * x)
        (value,), (error,) = quadratic.volume_fit.relative_slope(T)
        assert error < 0.05 * exact and abs(value - exact) < 3 * error


def test_relative_slope_error_matches_monte_carlo_of_the_coefficients():
    rng = np.random.default_rng(1)
    T = np.array([300.0, 500.0, 700.0, 900.0])
    fit = fit_polynomial(T, linear_volume(T), np.full(4, 0.3), 2, 600.0)
    samples = rng.multivariate_normal(fit.coefficients, fit.covariance, size=20000)
    x = 800.0 - 600.0
    values = (samples[:, 1] + 2 * samples[:, 2] * x) / (samples[:, 0] + samples[:, 1] * x + samples[:, 2] * x * x)
    (_, ), (error,) = fit.relative_slope(800.0)
    assert error == pytest.approx(np.std(values), rel=0.05)


def test_a_drifting_volume_is_flagged(tmp_path):
    rng = np.random.default_rng(4)
    runs = [write_run(tmp_path / f"T{int(T)}", T, linear_volume, rng, drift=0.01 if T == 600.0 else 0.0)
            for T in (300.0, 600.0, 900.0)]
    result = thermal_expansion(runs, "linear")
    drifting = [run.run_dir for run in result.runs if run.volume_drifting]
    assert drifting == [runs[1]] and any("still drifts" in note and runs[1] in note for note in result.notes)
    assert result.runs[1].volume_change_fraction == pytest.approx(0.008, rel=0.25)  # 0.8 of the run is averaged


def test_volume_from_the_trajectory_when_thermo_has_none(tmp_path):
    runs = ladder(tmp_path, (300.0, 600.0, 900.0), linear_volume, rows=200, frames=200, thermo_volume=False)
    result = thermal_expansion(runs, "linear", reference_temperature_K=T0_K)
    assert [run.volume_source for run in result.runs] == ["trajectory"] * 3 and result.cubic
    assert abs(result.alpha_V_per_K - ALPHA_PER_K) < 3 * result.alpha_V_err_per_K < 0.1 * ALPHA_PER_K


def test_bad_ladders_give_clear_errors(tmp_path):
    rng = np.random.default_rng(2)
    good = [write_run(tmp_path / f"g{T}", T, linear_volume, rng, frames=20) for T in (300.0, 600.0)]
    with pytest.raises(AnalysisError, match="two or more temperatures"):
        thermal_expansion(good[:1])
    with pytest.raises(AnalysisError, match="at least 3 NPT runs"):
        thermal_expansion(good, "quadratic")
    with pytest.raises(AnalysisError, match="unknown fit"):
        thermal_expansion(good, "cubic")
    other = write_run(tmp_path / "other", 900.0, linear_volume, rng, frames=20, numbers=(29,) * 8)
    with pytest.raises(AnalysisError, match="different atoms"):
        thermal_expansion(good + [other])
    nvt = write_run(tmp_path / "nvt", 900.0, linear_volume, rng, constant=True)
    with pytest.raises(AnalysisError, match="not an NPT run"):
        thermal_expansion(good + [nvt])
    squeezed = write_run(tmp_path / "p1", 900.0, linear_volume, rng, pressure_GPa=1.0)
    with pytest.raises(AnalysisError, match="one pressure"):
        thermal_expansion(good + [squeezed])
    same = [write_run(tmp_path / f"s{k}", 300.0, linear_volume, rng) for k in range(2)]
    with pytest.raises(AnalysisError, match="distinct temperature"):
        thermal_expansion(same)
    with pytest.raises(AnalysisError, match="no thermo.csv"):
        thermal_expansion(good + [str(tmp_path)])
    short = write_run(tmp_path / "short", 900.0, linear_volume, rng, rows=6)
    with pytest.raises(AnalysisError, match="too few"):
        thermal_expansion(good + [short])


def test_mlip_analyze_thermal_expansion_cli(tmp_path, capsys):
    runs = ladder(tmp_path / "ladder", (300.0, 600.0, 900.0), linear_volume, rows=200)
    assert mlip_main(["analyze", "--thermal-expansion", *runs, "--reference-temperature-K", "600"]) == 0
    printed = capsys.readouterr().out
    assert "α_V =" in printed and "α_L = α_V/3" in printed
    out = tmp_path / "ladder" / "thermal_expansion"
    assert sorted(p.name for p in out.iterdir()) == ["thermal_expansion.csv", "thermal_expansion.json",
                                                     "thermal_expansion.png"]
    summary = json.loads((out / "thermal_expansion.json").read_text())
    assert abs(summary["alpha_V_per_K"] - ALPHA_PER_K) < 3 * summary["alpha_V_err_per_K"]
    rows = (out / "thermal_expansion.csv").read_text().splitlines()
    assert rows[0].startswith("run,temperature_K,temperature_err_K,target_temperature_K,volume_A3") and len(rows) == 4
    assert math.isclose(float(rows[1].split(",")[3]), 300.0)
    assert mlip_main(["analyze", *runs[:2]]) == 2  # several folders only with --thermal-expansion
    assert "--thermal-expansion" in capsys.readouterr().err
    assert mlip_main(["analyze", "--thermal-expansion", runs[0]]) == 2
    assert "two or more temperatures" in capsys.readouterr().err


def test_a_batch_run_folder_stands_for_its_systems(tmp_path, capsys):
    """`mlip analyze --thermal-expansion LADDER` on the folder of a batch run (`mlip md --ensemble
    npt --replicas 3 --temperature-K 300 600 900`, listed in its systems.csv) = its three systems."""
    rng = np.random.default_rng(5)
    batch = tmp_path / "npt_ladder"
    runs = [write_run(batch / f"system_{k:03d}", T, linear_volume, rng, rows=200) for k, T in enumerate((300.0, 600.0, 900.0))]
    (batch / "systems.csv").write_text("index,directory,structure,replica,temperature_K,pressure_GPa,seed\n" + "".join(
        f"{k},system_{k:03d},c.xyz,{k},{T!r},0.0,{k}\n" for k, T in enumerate((300.0, 600.0, 900.0))))
    assert mlip_main(["analyze", "--thermal-expansion", str(batch)]) == 0
    summary = json.loads((batch / "thermal_expansion" / "thermal_expansion.json").read_text())
    separate = thermal_expansion(runs)
    assert [r["run"] for r in summary["runs"]] == [r.run_dir for r in separate.runs]
    assert math.isclose(summary["alpha_V_per_K"], separate.alpha_V_per_K, rel_tol=1e-12)
