"""md.analysis VACF/VDOS and cell history: harmonic oscillators with known frequencies (exact
solutions and md's own velocity Verlet), equipartition, finite-difference velocities, the numba
kernel against numpy, density of fcc copper, and the `mlip md` -> `mlip analyze` round trip."""
import csv
import json
import math

import ase
import ase.build
import ase.io
import numpy as np
import pytest

from md.analysis import AnalysisError, Frame, cell_history, vacf, vdos
from md.analysis.cell_history import block_mean_error, cell_parameters, density_g_per_cm3
from md.analysis.vacf import THZ_IN_CM_INV, vacf_kernel
from mlip import units
from mlip.cli import main as mlip_main

KB = units.BOLTZMANN_EV_PER_K
MASSES = {18: 39.948, 10: 20.1797}  # Ar, Ne (ASE's masses, as md uses)
NU_AR_THZ = 5.0


def _spring_eV_per_A2(nu_THz, mass_amu):
    """k = m ω² (eV/Å²) for frequency nu_THz (THz) and mass_amu (amu)."""
    omega_per_fs = 2 * math.pi * nu_THz / 1000.0
    return mass_amu * omega_per_fs ** 2 / units.EV_PER_A_AMU_IN_A_PER_FS2


def _nu_THz(k_eV_per_A2, mass_amu):
    return math.sqrt(k_eV_per_A2 * units.EV_PER_A_AMU_IN_A_PER_FS2 / mass_amu) / (2 * math.pi) * 1000.0


K_SPRING = _spring_eV_per_A2(NU_AR_THZ, MASSES[18])  # one spring constant: Ne rings √(m_Ar/m_Ne) faster


def _oscillator_frames(n_atoms, n_frames, dt_fs, temperature_K, seed=0, velocities=True, cell_A=20.0):
    """Independent 3-D harmonic oscillators (half Ar, half Ne, spring K_SPRING) started from the
    canonical distribution at temperature_K and moved exactly; wrapped positions in a cubic box."""
    rng = np.random.default_rng(seed)
    numbers = np.where(np.arange(n_atoms) % 2 == 0, 18, 10)
    m = np.array([MASSES[z] for z in numbers])
    omega = np.sqrt(K_SPRING * units.EV_PER_A_AMU_IN_A_PER_FS2 / m)[:, None]
    x0 = rng.normal(size=(n_atoms, 3)) * math.sqrt(KB * temperature_K / K_SPRING)
    v0 = rng.normal(size=(n_atoms, 3)) * np.sqrt(KB * temperature_K / (m * units.AMU_A2_PER_FS2_IN_EV))[:, None]
    cell = np.eye(3) * cell_A
    anchors = rng.uniform(size=(n_atoms, 3)) * cell_A
    frames = []
    for j in range(n_frames):
        t = j * dt_fs
        x = anchors + x0 * np.cos(omega * t) + v0 / omega * np.sin(omega * t)
        v = v0 * np.cos(omega * t) - x0 * omega * np.sin(omega * t)
        frames.append(Frame(x % cell_A, cell, np.ones(3, bool), numbers, t, v if velocities else None, m))
    return frames, m, omega[:, 0]


def test_exact_oscillators_vdos_peaks_and_equipartition():
    temperature, dt = 300.0, 5.0
    frames, m, _ = _oscillator_frames(2000, 201, dt, temperature)
    result = vacf(frames)
    spectrum = vdos(result)
    nu_ne = _nu_THz(K_SPRING, MASSES[10])
    # the peak's grid point lies within one bin (0.195 THz here) of the known frequency, the
    # parabola through it and its neighbours within a tenth of a bin (measured: 4e-4 THz)
    for element, nu in (("Ar", NU_AR_THZ), ("Ne", nu_ne)):
        assert abs(spectrum.peak_THz(element, refine=False) - nu) <= spectrum.bin_THz
        assert abs(spectrum.peak_THz(element) - nu) <= 0.1 * spectrum.bin_THz
    # the total is the partials weighted by each element's share of C_m(0) = Σ m v² (mass-weighted)
    share = {e: result.atoms_by_element[e] * c[0] for e, c in result.vacf_mass_weighted_by_element_eV.items()}
    np.testing.assert_allclose(spectrum.vdos_per_THz, sum(share[e] * spectrum.vdos_by_element_per_THz[e]
                                                          for e in share) / sum(share.values()), rtol=1e-9, atol=1e-12)
    assert np.trapezoid(spectrum.vdos_per_THz, spectrum.frequency_THz) == pytest.approx(3.0, rel=1e-12)
    assert np.trapezoid(spectrum.vdos_per_cm_inv, spectrum.wavenumber_cm_inv) == pytest.approx(3.0, rel=1e-12)
    assert spectrum.nyquist_THz == pytest.approx(100.0)
    assert spectrum.wavenumber_cm_inv[-1] == pytest.approx(3335.64, rel=1e-5)
    # equipartition: VACF(0) = <v·v> = 3 k_B T / m (Å²/fs²) per element, C_m(0) = 3 k_B T (eV)
    for element, z in (("Ar", 18), ("Ne", 10)):
        expected = 3 * KB * temperature / (MASSES[z] * units.AMU_A2_PER_FS2_IN_EV)
        sigma = expected / math.sqrt(3 * 1000)  # each oscillator's energy is conserved: 3N exponential samples
        assert abs(result.vacf_by_element_A2_per_fs2[element][0] - expected) < 4 * sigma
    assert result.vacf_mass_weighted_eV[0] == pytest.approx(3 * KB * temperature, rel=4 / math.sqrt(6000))
    assert result.kinetic_temperature_K == pytest.approx(temperature, rel=4 / math.sqrt(6000))
    # and the whole VACF is (3 k_B T / m) cos ωτ, within the same sampling error
    omega_ar = 2 * math.pi * NU_AR_THZ / 1000.0
    expected_ar = 3 * KB * temperature / (MASSES[18] * units.AMU_A2_PER_FS2_IN_EV) * np.cos(omega_ar * result.time_fs)
    assert np.max(np.abs(result.vacf_by_element_A2_per_fs2["Ar"][:100] - expected_ar[:100])) < 0.1 * expected_ar[0]


def test_finite_difference_velocities_are_sinc_scaled_exact_velocities():
    """Central differences of a sinusoid give sin(ωΔt)/(ωΔt) times its velocity, exactly."""
    dt = 5.0
    frames, _, omega = _oscillator_frames(40, 80, dt, 300.0, seed=1, cell_A=6.0)  # wrapped often in a 6 Å box
    from_positions = vacf([Frame(f.positions_A, f.cell_A, f.pbc, f.numbers, f.time_fs) for f in frames])
    exact_inner = vacf(frames[1:-1])  # central differences exist for the inner frames only
    assert from_positions.velocity_source == "finite differences" and exact_inner.velocity_source == "trajectory"
    assert from_positions.n_frames == 78 and "Nyquist limit 100 THz" in from_positions.notes[0]
    for element, z in (("Ar", 18), ("Ne", 10)):
        w = omega[frames[0].numbers == z][0] * dt
        np.testing.assert_allclose(from_positions.vacf_by_element_A2_per_fs2[element],
                                   (math.sin(w) / w) ** 2 * exact_inner.vacf_by_element_A2_per_fs2[element],
                                   rtol=1e-8, atol=1e-14)
    spectrum = vdos(from_positions)
    assert abs(spectrum.peak_THz("Ar", refine=False) - NU_AR_THZ) <= spectrum.bin_THz


def test_numba_kernel_equals_numpy_reference():
    rng = np.random.default_rng(4)
    n, n_frames, k = 7, 30, 9  # K < frames: the ring buffer wraps around
    numbers = np.array([1, 8, 26, 8, 1, 26, 8])
    masses = rng.uniform(1.0, 60.0, size=n)
    v = rng.normal(size=(n_frames, n, 3))
    frames = [Frame(np.zeros((n, 3)), np.eye(3) * 10, np.ones(3, bool), numbers, 2.0 * t, v[t], masses)
              for t in range(n_frames)]
    result = vacf(frames, max_lag_frames=k)
    assert len(result.time_fs) == k and list(result.n_origins) == [n_frames - lag for lag in range(k)]
    dots = [np.einsum("tij,tij->ti", v[lag:], v[:n_frames - lag]) for lag in range(k)]  # (origins, atoms) per lag
    np.testing.assert_allclose(result.vacf_A2_per_fs2, [d.mean() for d in dots], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.vacf_mass_weighted_eV,
                               [(d * masses).mean() * units.AMU_A2_PER_FS2_IN_EV for d in dots], rtol=1e-12, atol=1e-15)
    for element, z in (("H", 1), ("O", 8), ("Fe", 26)):
        np.testing.assert_allclose(result.vacf_by_element_A2_per_fs2[element],
                                   [d[:, numbers == z].mean() for d in dots], rtol=1e-12, atol=1e-15)
    # the compiled kernel and its plain-Python source agree call by call
    from md.analysis.vacf import _vacf_accumulate_py

    species = np.searchsorted(np.unique(numbers), numbers).astype(np.int64)
    out = [[np.zeros((k, 3)), np.zeros((k, 3)), np.zeros(k, dtype=np.int64)] for _ in range(2)]
    buffer = np.zeros((k, n, 3))
    for t in range(n_frames):
        buffer[t % k] = v[t]
        for function, (s, ms, o) in zip((vacf_kernel(), _vacf_accumulate_py), out):
            function(buffer, t, species, masses, s, ms, o)
    for compiled, plain in zip(*out):
        np.testing.assert_allclose(compiled, plain, rtol=1e-13)
    from numba.core.caching import NullCache

    assert isinstance(vacf_kernel()._cache, NullCache)


def test_density_and_cell_parameters():
    copper = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True)
    frame = Frame(copper.positions, copper.cell[:], copper.pbc, copper.numbers, 0.0)  # masses: ASE's standard
    history = cell_history([frame])
    assert history.series["density_g_per_cm3"][0] == pytest.approx(8.96, rel=0.01)  # handbook density of copper
    assert history.series["volume_A3"][0] == pytest.approx(3.61 ** 3)
    assert density_g_per_cm3(4 * 63.546, 3.61 ** 3) == pytest.approx(8.9717, rel=1e-4)
    primitive = ase.build.bulk("Cu", "fcc", a=3.61)  # 60° cell
    triclinic = np.array([[5.0, 0.0, 0.0], [1.2, 4.5, 0.0], [-0.7, 0.9, 6.1]])
    for cell in (primitive.cell[:], triclinic):
        lengths, angles = cell_parameters(cell)
        np.testing.assert_allclose(np.concatenate([lengths, angles]), ase.cell.Cell(cell).cellpar(), rtol=1e-12)


def test_cell_statistics_block_error():
    rng = np.random.default_rng(8)
    values = 1000.0 + rng.normal(scale=5.0, size=1003)
    mean, error = block_mean_error(values, 5)
    blocks = values[3:].reshape(5, 200).mean(axis=1)  # the 3 first frames are the remainder
    assert mean == pytest.approx(values.mean()) and error == pytest.approx(blocks.std(ddof=1) / math.sqrt(5))
    assert 0.4 * 5.0 / math.sqrt(1000) < error < 2.5 * 5.0 / math.sqrt(1000)  # uncorrelated: ≈ σ/√n
    base = np.diag([10.0, 11.0, 12.0])
    frames = [Frame(np.zeros((2, 3)), base * s, np.ones(3, bool), np.array([18, 18]), 10.0 * t)
              for t, s in enumerate(1.0 + 0.01 * np.sin(np.arange(40)))]
    history = cell_history(frames, start_fs=100.0, n_blocks=3)
    stats = history.statistics()
    volumes = np.array([abs(np.linalg.det(f.cell_A)) for f in frames])
    assert stats["volume_A3"]["mean"] == pytest.approx(volumes[10:].mean())
    assert stats["alpha_deg"]["mean"] == pytest.approx(90.0) and stats["alpha_deg"]["error"] == pytest.approx(0.0)
    np.testing.assert_allclose(history.series["b_A"], [11.0 * (1 + 0.01 * math.sin(t)) for t in range(40)])


def test_bad_inputs():
    frames, _, _ = _oscillator_frames(4, 10, 5.0, 100.0)
    with pytest.raises(AnalysisError, match="window"):
        vdos(vacf(frames), window="gauss")
    with pytest.raises(AnalysisError, match="at least 3 frames"):
        vacf([Frame(f.positions_A, f.cell_A, f.pbc, f.numbers, f.time_fs) for f in frames[:2]])
    with pytest.raises(AnalysisError, match="no velocities"):
        vacf(frames[:3] + [Frame(frames[3].positions_A, frames[3].cell_A, frames[3].pbc, frames[3].numbers, 15.0)])
    with pytest.raises(AnalysisError, match="not evenly spaced"):
        vacf(frames[:3] + [frames[4], frames[5]])
    with pytest.raises(AnalysisError, match="periodic in all three"):
        cell_history([Frame(np.zeros((1, 3)), np.zeros((3, 3)), np.zeros(3, bool), np.array([18]), 0.0)])


@pytest.fixture(scope="module")
def harmonic_run(tmp_path_factory):
    """`mlip md` NVE of 64 Ar/Ne atoms on independent springs (Einstein crystal) started from a
    thermal state at 200 K; frames every 5 fs, extxyz (with velocities) and DCD (without)."""
    import torch

    import md
    from md.cli_run import run_from_args

    folder = tmp_path_factory.mktemp("vdos_run")
    rng = np.random.default_rng(11)
    n, temperature = 64, 200.0
    anchors = rng.uniform(size=(n, 3)) * 14.0
    numbers = np.where(np.arange(n) % 2 == 0, 18, 10)
    displaced = anchors + rng.normal(size=(n, 3)) * math.sqrt(KB * temperature / K_SPRING)
    ase.io.write(folder / "start.extxyz", ase.Atoms(numbers=numbers, positions=displaced, cell=np.eye(3) * 14.0,
                                                    pbc=True))
    springs = md.Harmonic(torch.tensor(anchors), K_SPRING)
    run_from_args(springs, structure_path=str(folder / "start.extxyz"), ensemble="nve", temperature_K=temperature,
                  timestep_fs=1.0, steps=1000, output_dir=str(folder / "run"), seed=5,
                  options={"progress": False, "trajectory_interval": 5, "thermo_interval": 5,
                           "trajectory_formats": ["extxyz", "dcd"]})
    return folder / "run", anchors, displaced, temperature


def test_mlip_md_harmonic_then_mlip_analyze(harmonic_run, tmp_path, capsys):
    run, anchors, displaced, temperature = harmonic_run
    out = tmp_path / "analysis"
    assert mlip_main(["analyze", str(run), "--output", str(out), "--rmax-A", "6", "--bins", "30"]) == 0
    printed = capsys.readouterr().out
    assert "VACF: velocities from trajectory" in printed and "cm⁻¹" in printed and "g/cm³" in printed
    assert sorted(p.name for p in out.iterdir()) == ["analysis.json", "cell.csv", "cell.png", "msd.csv", "msd.png",
                                                     "rdf.csv", "rdf.png", "vacf.csv", "vdos.csv", "vdos.png"]
    summary = json.loads((out / "analysis.json").read_text())
    vd, va = summary["vdos"], summary["vacf"]
    assert va["velocity_source"] == "trajectory" and va["n_frames"] == 201
    assert vd["max_lag_fs"] == pytest.approx(500.0, rel=1e-12)  # lags x a frame spacing read from the file
    nu = {"Ar": NU_AR_THZ, "Ne": _nu_THz(K_SPRING, MASSES[10])}
    for element in nu:  # md's velocity Verlet rings at the spring's frequency (measured: within 0.004 THz)
        assert abs(vd["peak_by_element_THz"][element] - nu[element]) <= 0.1 * vd["bin_THz"]
    assert vd["peak_cm-1"] == pytest.approx(vd["peak_THz"] * THZ_IN_CM_INV)
    # velocity units: C_m(0) is 2 KE / N averaged over the same steps in thermo.csv
    with open(run / "thermo.csv", newline="") as handle:
        kinetic = np.array([float(row["kinetic_eV"]) for row in csv.DictReader(handle)])
    assert len(kinetic) == 201
    assert va["vacf0_mass_weighted_eV"] == pytest.approx(2 * kinetic.mean() / 64, rel=1e-9)  # measured 8e-12
    # equipartition of a thermal start: <m v²> = 3 k_B T within the sampling error of 192 dof
    assert va["kinetic_temperature_K"] == pytest.approx(temperature, rel=4 / math.sqrt(192))
    rows = (out / "vdos.csv").read_text().splitlines()
    assert rows[0] == "frequency_THz,wavenumber_cm-1,vdos_per_THz,vdos_per_cm-1,vdos_Ne_per_THz,vdos_Ar_per_THz"
    assert (out / "vacf.csv").read_text().startswith("time_fs,vacf_A2_per_fs2,vacf_Ne_A2_per_fs2,vacf_Ar_A2_per_fs2,"
                                                      "vacf_mass_weighted_eV,vacf_normalized,n_origins\n")
    # the cell: 14 Å cube, constant under NVE
    cell = summary["cell"]
    mass = 32 * (MASSES[18] + MASSES[10])
    assert cell["volume_A3"]["mean"] == pytest.approx(14.0 ** 3) and cell["volume_A3"]["error"] == pytest.approx(0.0)
    assert cell["density_g_per_cm3"]["mean"] == pytest.approx(mass / 14.0 ** 3 * 1.66053904, rel=1e-6)
    assert (out / "cell.csv").read_text().startswith("time_fs,volume_A3,density_g_per_cm3,a_A,b_A,c_A,alpha_deg,")
    assert (out / "vdos.png").read_bytes()[:4] == b"\x89PNG" and (out / "cell.png").read_bytes()[:4] == b"\x89PNG"


def test_dcd_without_velocities_uses_finite_differences(harmonic_run):
    run = harmonic_run[0]
    result = vacf(str(run / "trajectory.dcd"))  # frame spacing from the run's config.yaml
    spectrum = vdos(result)
    assert result.velocity_source == "finite differences" and result.n_frames == 199
    assert abs(spectrum.peak_THz("Ar") - NU_AR_THZ) <= 0.1 * spectrum.bin_THz
    assert abs(spectrum.peak_THz("Ne") - _nu_THz(K_SPRING, MASSES[10])) <= 0.1 * spectrum.bin_THz
    # damped by sinc²(ωΔt) at Δt = 5 fs: C_m(0) 1 % (Ar) and 2 % (Ne) below 2 KE / N
    with open(run / "thermo.csv", newline="") as handle:
        kinetic = np.array([float(row["kinetic_eV"]) for row in csv.DictReader(handle)])
    ratio = result.vacf_mass_weighted_eV[0] / (2 * kinetic[1:-1].mean() / 64)
    assert 0.97 < ratio < 0.995
