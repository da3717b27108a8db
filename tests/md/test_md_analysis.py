"""md.analysis (`mlip analyze`): g(r) and MSD/D checked against physics and independent codes,
unwrapping, streaming readers, bad inputs, and an `mlip md` -> `mlip analyze` round trip."""
import json
import math

import ase
import ase.build
import ase.io
import numpy as np
import pytest

from md.analysis import AnalysisError, Frame, MissingTrajectoryError, UnwrapError, Unwrapper, analyze_run, iter_frames
from md.analysis.msd import msd
from md.analysis.rdf import rdf, rdf_of_positions
from mlip.cli import main as mlip_main

TRICLINIC = np.array([[12.0, 0.0, 0.0], [3.0, 11.0, 0.0], [-2.0, 1.5, 12.5]])


def _frames(positions_seq, cell, numbers=None, dt_fs=1.0, wrap=True):
    cell = np.asarray(cell, dtype=float)
    for t, x in enumerate(positions_seq):
        n = len(x)
        if wrap:
            x = (np.linalg.solve(cell.T, np.asarray(x).T).T % 1.0) @ cell
        yield Frame(np.asarray(x, dtype=float), cell, np.ones(3, bool),
                    np.full(n, 18) if numbers is None else np.asarray(numbers), t * dt_fs)


def _random_walk(rng, n, n_frames, sigma_A, cell):
    x = rng.uniform(size=(n, 3)) @ cell
    for t in range(n_frames):
        if t:
            x = x + rng.normal(scale=sigma_A, size=(n, 3))
        yield x


# ---- g(r) -------------------------------------------------------------------------------
def test_ideal_gas_rdf_is_one_within_counting_error():
    rng = np.random.default_rng(0)
    n, n_frames, r_max = 400, 10, 8.0  # r_max beyond half the plane spacing: periodic images used
    frames = _frames((rng.uniform(size=(n, 3)) @ TRICLINIC for _ in range(n_frames)), TRICLINIC)
    result = rdf(frames, r_max_A=r_max, n_bins=32)
    assert result.n_images > 1
    expected_unordered = n * (n - 1) / 2 * result.n_frames * (4 / 3 * np.pi * np.diff(result.edges_A ** 3)) \
        / abs(np.linalg.det(TRICLINIC))
    sigma = 1.0 / np.sqrt(expected_unordered)
    z = (result.g["total"] - 1.0) / sigma
    assert np.all(np.abs(z[result.r_A > 1.0]) < 4.5), z
    assert abs(np.mean(z[result.r_A > 1.0])) < 1.0


def test_fcc_first_peak_and_coordination_12():
    a = 5.26
    atoms = ase.build.bulk("Ar", "fcc", a=a, cubic=True).repeat(3)
    result = rdf_of_positions(atoms.positions, atoms.cell[:], r_max_A=6.0, n_bins=600)
    first_shell = a / np.sqrt(2)
    assert abs(result.first_peak_A() - first_shell) <= 0.5 * (result.r_A[1] - result.r_A[0])
    r, g, rho = result.r_A, result.g["total"], result.density_per_A3["total"]
    width = r[1] - r[0]
    inside = r < 0.5 * (first_shell + a)  # first minimum: between the first (a/√2) and second (a) shells
    assert np.sum(4 * np.pi * rho * r[inside] ** 2 * g[inside] * width) == pytest.approx(12.0, abs=0.01)
    assert result.coordination_number("total", 0.5 * (first_shell + a)) == pytest.approx(12.0)
    assert result.coordination_number("total", 6.0) == pytest.approx(18.0)  # + 6 at a
    # the 1-atom primitive (triclinic, 60°) cell: every neighbour is a periodic image of the atom
    primitive = ase.build.bulk("Ar", "fcc", a=a)
    small = rdf_of_positions(primitive.positions, primitive.cell[:], r_max_A=6.0, n_bins=600)
    assert small.n_images > 27 and small.coordination_number("total", 4.5) == pytest.approx(12.0)
    assert small.first_peak_A() == pytest.approx(result.first_peak_A())


def test_partials_match_ase_neighbour_list_in_a_small_triclinic_cell():
    from ase.neighborlist import neighbor_list

    rng = np.random.default_rng(3)
    cell = TRICLINIC * 0.61  # plane spacings ~6.5 Å < 2 r_max; no lattice length on a bin edge
    atoms = ase.Atoms(numbers=rng.choice([8, 1], size=30), scaled_positions=rng.uniform(size=(30, 3)), cell=cell,
                      pbc=True)
    r_max, n_bins = 9.0, 45
    result = rdf_of_positions(atoms.positions, cell, atoms.numbers, r_max_A=r_max, n_bins=n_bins)
    i, j, d = neighbor_list("ijd", atoms, r_max)  # full list over all images, self-images included
    for key, (za, zb) in {"H-H": (1, 1), "H-O": (1, 8), "O-O": (8, 8)}.items():
        mask = (atoms.numbers[i] == za) & (atoms.numbers[j] == zb)
        expected, _ = np.histogram(d[mask], bins=n_bins, range=(0, r_max))
        np.testing.assert_array_equal(result.counts[key], expected)
    expected, _ = np.histogram(d, bins=n_bins, range=(0, r_max))
    np.testing.assert_array_equal(result.counts["total"], expected)


def test_agrees_with_mdtraj_compute_rdf_orthorhombic():
    import mdtraj

    rng = np.random.default_rng(1)
    box = np.array([14.0, 15.0, 16.0])
    n, n_frames = 60, 5
    xyz = rng.uniform(size=(n_frames, n, 3)) * box
    topology = mdtraj.Topology()
    residue = topology.add_residue("AR", topology.add_chain())
    for _ in range(n):
        topology.add_atom("Ar", mdtraj.element.argon, residue)
    trajectory = mdtraj.Trajectory(xyz / 10.0, topology, unitcell_lengths=np.tile(box / 10.0, (n_frames, 1)),
                                   unitcell_angles=np.full((n_frames, 3), 90.0))
    pairs = trajectory.topology.select_pairs("all", "all")
    r_max = 6.5  # below half the shortest box edge: minimum image, where mdtraj applies
    r_nm, g_mdtraj = mdtraj.compute_rdf(trajectory, pairs, r_range=(0.0, r_max / 10.0), n_bins=26)
    ours = rdf(_frames(xyz, np.diag(box)), r_max_A=r_max, n_bins=26)
    np.testing.assert_allclose(ours.r_A, r_nm * 10.0, rtol=1e-6)
    np.testing.assert_allclose(ours.g["total"], g_mdtraj, rtol=1e-4, atol=1e-3)


# ---- MSD --------------------------------------------------------------------------------
def test_random_walk_recovers_D_within_its_error_bar():
    rng = np.random.default_rng(7)
    sigma, dt = 0.1, 2.0  # Å per axis per frame, fs
    d_true = sigma ** 2 / (2 * dt)
    result = msd(_frames(_random_walk(rng, 150, 300, sigma, TRICLINIC), TRICLINIC, dt_fs=dt))
    assert len(result.D_blocks_A2_per_fs) == 5 and result.D_err_A2_per_fs < 0.1 * d_true
    assert abs(result.D_A2_per_fs - d_true) < 3 * result.D_err_A2_per_fs
    assert result.D_cm2_per_s == pytest.approx(0.1 * result.D_A2_per_fs)
    assert np.allclose(result.msd_A2[1:50], 6 * d_true * result.time_fs[1:50], rtol=0.1)


def test_ballistic_motion_gives_v2_t2_and_matches_brute_force():
    rng = np.random.default_rng(2)
    n, n_frames, dt = 20, 40, 5.0
    v = rng.normal(size=(n, 3))
    v *= 0.03 / np.linalg.norm(v, axis=1, keepdims=True)  # |v| = 0.03 Å/fs: crosses the cell several times
    x0 = rng.uniform(size=(n, 3)) @ TRICLINIC
    truth = [x0 + v * t * dt for t in range(n_frames)]
    result = msd(_frames(truth, TRICLINIC, dt_fs=dt), max_lag_frames=25)
    np.testing.assert_allclose(result.msd_A2, (0.03 * result.time_fs) ** 2, rtol=1e-9, atol=1e-12)
    assert len(result.time_fs) == 25 and result.n_origins[24] == n_frames - 24
    # any walk: the ring buffer equals the all-pairs average
    walk = list(_random_walk(rng, n, n_frames, 0.3, TRICLINIC))
    result = msd(_frames(walk, TRICLINIC, dt_fs=dt), max_lag_frames=15)
    array = np.array(walk)
    brute = [np.mean(np.sum((array[lag:] - array[:n_frames - lag]) ** 2, axis=2)) for lag in range(15)]
    np.testing.assert_allclose(result.msd_A2, brute, rtol=1e-10, atol=1e-12)


def test_unwrapping_across_cell_boundaries():
    path = [np.array([[11.5, 0.2, 12.0]]) + np.array([[0.4, -0.35, 0.3]]) * t for t in range(30)]
    unwrap, wrapped_jumps = Unwrapper(), 0
    for k, (frame, truth) in enumerate(zip(_frames(path, TRICLINIC), path)):
        unwrapped = unwrap(frame)
        if k == 0:
            origin = unwrapped - truth  # the first frame is wrapped: a lattice vector apart from the truth
            assert np.allclose(np.linalg.solve(TRICLINIC.T, origin[0]), np.round(np.linalg.solve(TRICLINIC.T, origin[0])))
        wrapped_jumps += not np.allclose(frame.positions_A - truth, origin)
        np.testing.assert_allclose(unwrapped - origin, truth, atol=1e-9)
    assert wrapped_jumps > 10  # the wrapped positions did cross boundaries


def test_frames_too_far_apart_raise_a_clear_error():
    far = [np.array([[1.0, 1.0, 1.0]]), np.array([[6.0, 1.0, 1.0]])]  # 5 Å of 12 Å: 0.42 of the cell
    with pytest.raises(UnwrapError, match="too far apart.*trajectory_interval"):
        msd(_frames(far, np.diag([12.0, 12.0, 12.0])))


def test_uneven_frame_times():
    cell = np.diag([10.0, 10.0, 10.0])
    x = np.zeros((2, 3)) + 1.0
    frames = [Frame(x, cell, np.ones(3, bool), np.array([18, 18]), t) for t in (0.0, 2.0, 4.0, 5.0)]
    result = msd(frames, fit_start_fs=0.0, fit_end_fs=4.0)
    assert result.dropped_frames == 1 and result.n_frames == 3 and "off the 2.0 fs grid" in result.notes[0]
    with pytest.raises(AnalysisError, match="not evenly spaced"):
        msd(frames + [Frame(x, cell, np.ones(3, bool), np.array([18, 18]), 6.0)])


# ---- files and the command line ---------------------------------------------------------
def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(MissingTrajectoryError, match="does not exist"):
        analyze_run(str(tmp_path / "nowhere"))
    with pytest.raises(MissingTrajectoryError, match="holds no trajectory"):
        analyze_run(str(tmp_path))
    (tmp_path / "trajectory.dcd").write_bytes(b"")
    with pytest.raises(MissingTrajectoryError, match="topology"):
        list(iter_frames(str(tmp_path)))
    assert mlip_main(["analyze", str(tmp_path / "nowhere")]) == 2
    assert "mlip: error: run folder" in capsys.readouterr().err
    with pytest.raises(AnalysisError, match="r_max_A"):
        rdf([], r_max_A=-1.0)
    gas = ase.Atoms("Ar2", positions=[[0, 0, 0], [3, 0, 0]], pbc=False)
    with pytest.raises(AnalysisError, match="periodic in all three"):
        rdf([Frame(gas.positions, np.zeros((3, 3)), gas.pbc, gas.numbers, 0.0)])


def test_cluster_in_vacuum_gets_msd_but_no_rdf(tmp_path):
    rng = np.random.default_rng(5)
    frames = []
    for t in range(12):
        atoms = ase.Atoms("Ar13", positions=rng.normal(scale=3.0, size=(13, 3)), pbc=False)
        atoms.info["time_fs"] = 10.0 * t
        frames.append(atoms)
    ase.io.write(tmp_path / "trajectory.extxyz", frames)
    summary = analyze_run(str(tmp_path), fit_start_fs=10.0, fit_end_fs=50.0, n_blocks=2)
    assert "not periodic" in summary["rdf"]["skipped"] and "rdf.csv" not in summary["files"]
    assert sorted(p.name for p in (tmp_path / "analysis").iterdir()) == ["analysis.json", "msd.csv", "msd.png",
                                                                        "vacf.csv", "vdos.csv", "vdos.png"]
    assert "not periodic" in summary["cell"]["skipped"]
    # a difference of times read back from text: equal to float64 rounding
    assert summary["msd"]["frame_interval_fs"] == pytest.approx(10.0, rel=1e-12) and summary["msd"]["n_frames"] == 12


def test_one_frame_run_gets_rdf_and_cell_but_no_msd(tmp_path):
    crystal = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    crystal.info["time_fs"] = 0.0
    ase.io.write(tmp_path / "trajectory.extxyz", [crystal])
    summary = analyze_run(str(tmp_path), r_max_A=4.0)
    assert "rdf.csv" in summary["files"] and "cell.csv" in summary["files"]
    assert "at least 2 frames" in summary["msd"]["skipped"] and "msd.csv" not in summary["files"]
    assert "at least 3 frames" in summary["vacf"]["skipped"]
    assert summary["rdf"]["first_peak_A"]["total"] == pytest.approx(3.61 / 2**0.5, abs=4.0 / 200 * 2)
    from mlip.cli import main

    assert main(["analyze", str(tmp_path), "--output", str(tmp_path / "cli")]) == 0  # the summary prints too


@pytest.fixture(scope="module")
def md_run(tmp_path_factory):
    import torch

    from md.cli_run import run_from_args
    from md_systems import argon_liquid

    folder = tmp_path_factory.mktemp("analysis_run")
    structure = folder / "argon.extxyz"
    ase.io.write(structure, argon_liquid(repeat=2))
    lj = {"lennard_jones": {"epsilon_eV": 0.0104, "sigma_A": 3.4, "cutoff_A": 7.0, "smooth_onset_A": 6.0}}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_from_args(structure_path=str(structure), ensemble="langevin", temperature_K=150.0, timestep_fs=5.0,
                      steps=200, output_dir=str(folder / "run"), seed=3,
                      options={"forcefield": lj, "progress": False, "trajectory_interval": 4, "thermo_interval": 20,
                               "trajectory_formats": ["extxyz", "dcd", "xtc"]})
    finally:
        torch.set_num_threads(threads)
    return folder / "run"


def test_mlip_md_then_mlip_analyze(md_run, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert mlip_main(["analyze", str(md_run), "--rmax-A", "7", "--bins", "70", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cm²/s" in printed and "51 frames every 20 fs" in printed
    assert sorted(p.name for p in out.iterdir()) == ["analysis.json", "cell.csv", "cell.png", "msd.csv", "msd.png",
                                                     "rdf.csv", "rdf.png", "vacf.csv", "vdos.csv", "vdos.png"]
    summary = json.loads((out / "analysis.json").read_text())
    assert 3.5 < summary["rdf"]["first_peak_A"]["Ar-Ar"] < 4.2  # ≈ 2^(1/6) σ = 3.82 Å
    assert summary["rdf"]["periodic_images"] == 27  # r_max 7 Å > half the 11.4 Å box
    assert summary["msd"]["D_A2_per_fs"] > 0 and math.isfinite(summary["msd"]["D_err_A2_per_fs"])
    rows = (out / "rdf.csv").read_text().splitlines()
    assert rows[0] == "r_A,g_total,g_Ar-Ar,coordination_total,coordination_Ar-Ar" and len(rows) == 71
    assert (out / "msd.csv").read_text().startswith("time_fs,msd_A2,msd_Ar_A2,n_origins\n")
    assert (out / "msd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dcd_and_xtc_read_back_the_extxyz_frames(md_run):
    reference = list(iter_frames(str(md_run / "trajectory.extxyz")))
    for name, atol in (("trajectory.dcd", 1e-4), ("trajectory.xtc", 6e-3)):
        frames = list(iter_frames(str(md_run / name)))
        assert [f.time_fs for f in frames] == pytest.approx([f.time_fs for f in reference])
        for ours, ref in zip(frames, reference):
            np.testing.assert_allclose(ours.cell_A, ref.cell_A, atol=atol)
            shift = np.linalg.solve(ref.cell_A.T, (ours.positions_A - ref.positions_A).T).T
            shift -= np.round(shift)  # a float32 position at the boundary may wrap to the other side
            assert np.abs(shift @ ref.cell_A).max() < atol
            assert np.array_equal(ours.numbers, ref.numbers)
    d = {name: msd(str(md_run / name)).D_A2_per_fs for name in ("trajectory.extxyz", "trajectory.dcd")}
    assert d["trajectory.dcd"] == pytest.approx(d["trajectory.extxyz"], rel=1e-3)


def test_kernels_write_no_disk_cache():
    """cache=False: the first call compiles in memory, so a read-only install works."""
    from numba.core.caching import NullCache

    from md.analysis.msd import msd_kernel
    from md.analysis.rdf import pair_histogram_kernel

    assert isinstance(pair_histogram_kernel()._cache, NullCache) and isinstance(msd_kernel()._cache, NullCache)
