"""Baseline terms (ZBL, Lennard-Jones, frozen potential, ASE calculator) and their life inside
one saved potential: values, smoothness, TorchScript, save/load, calculator, clear errors."""
import math

import ase
import ase.build
import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT

import mlip
from mlip.errors import BackendUnavailableError, ConfigError, PotentialFileError
from mlip.baselines.registry import build_baselines
from physics_systems import single_thread, system_of  # noqa: F401

K_E = 14.399645351950548


def small_config(elements=("Cu", "Au"), **kw):
    base = dict(elements=elements, cutoff=3.5, l_max=1, channels=4, n_layers=2, radial_hidden=8, readout_hidden=4, avg_num_neighbors=8.0)
    base.update(kw)
    return mlip.ModelConfig(**base)


def dimer(z1, z2, r):
    return ase.Atoms(numbers=[z1, z2], positions=[[0, 0, 0], [r, 0, 0]])


def pair_energy(term, z1, z2, r):
    s = system_of(dimer(z1, z2, r))
    return float(term(s, mlip.neighbor_list(s, max(term.cutoff, 0.1) + 1.0)).sum())


def zbl_reference(z1, z2, r):
    """Independent numpy ZBL (Ziegler-Biersack-Littmark universal screening)."""
    a = 0.46850 / (z1**0.23 + z2**0.23)
    x = r / a
    phi = 0.18175 * np.exp(-3.19980 * x) + 0.50986 * np.exp(-0.94229 * x) + 0.28022 * np.exp(-0.40290 * x) + 0.02817 * np.exp(-0.20162 * x)
    return K_E * z1 * z2 / r * phi


def test_zbl_matches_the_universal_formula_times_envelope_and_vanishes_smoothly():
    (zbl,), _, _ = build_baselines([{"kind": "zbl", "cutoff": 2.0}], [6, 8])
    for r in (0.2, 0.5, 1.0):
        x = r / 2.0
        u = 1 - 28 * x**6 + 48 * x**7 - 21 * x**8
        assert pair_energy(zbl, 6, 8, r) == pytest.approx(zbl_reference(6, 8, r) * u, rel=1e-12)
    # value and force go to zero at the cutoff and stay zero beyond
    e = [pair_energy(zbl, 6, 8, x) for x in (1.999, 2.0, 2.5)]
    assert abs(e[0]) < 1e-7 and e[1] == 0.0 and e[2] == 0.0
    # strongly repulsive at close contact
    assert pair_energy(zbl, 6, 8, 0.3) > 50.0


def test_zbl_default_cutoff_is_the_covalent_radius_sum():
    from ase.data import covalent_radii

    (zbl,), specs, _ = build_baselines([{"kind": "zbl"}], [1, 6])
    assert zbl.cutoff == pytest.approx(2 * covalent_radii[6])
    assert pair_energy(zbl, 1, 6, covalent_radii[1] + covalent_radii[6] + 1e-6) == 0.0
    assert pair_energy(zbl, 1, 6, 0.5) > 0.0 and specs[0]["cutoff"] is None


def test_lennard_jones_matches_analytic_inside_switch_and_mixing_rules():
    spec = {"kind": "lennard_jones", "epsilon": {"Cu": 0.01, "Au": 0.04}, "sigma": {"Cu": 2.0, "Au": 3.0}, "cutoff": 6.0, "switch_on": 5.0}
    (lj,), _, _ = build_baselines([spec], [29, 79])
    eps, sig = math.sqrt(0.01 * 0.04), 2.5
    for r in (2.4, 2.8, 4.0):
        assert pair_energy(lj, 29, 79, r) == pytest.approx(4 * eps * ((sig / r) ** 12 - (sig / r) ** 6), rel=1e-12)
    assert pair_energy(lj, 29, 79, 6.0) == 0.0
    (lj2,), _, _ = build_baselines([{**spec, "pairs": {"Cu-Au": [0.5, 2.2]}}], [29, 79])
    r = 2.9
    assert pair_energy(lj2, 29, 79, r) == pytest.approx(4 * 0.5 * ((2.2 / r) ** 12 - (2.2 / r) ** 6), rel=1e-12)


def test_baseline_forces_are_continuous_across_their_cutoffs():
    (zbl, lj), _, _ = build_baselines([{"kind": "zbl", "cutoff": 2.0}, {"kind": "lennard_jones", "epsilon": 0.02, "sigma": 2.3, "cutoff": 5.0}], [29, 79])
    model = mlip.models.force_model.ForceModel([zbl, lj])
    for rc in (2.0, 4.0, 5.0):
        f = []
        for r in (rc - 1e-9, rc + 1e-9):
            s = system_of(dimer(29, 79, r))
            f.append(float(model(s, mlip.neighbor_list(s, 6.0)).forces[0, 0]))
        assert abs(f[0] - f[1]) < 1e-6


def test_registry_rejects_unknown_kinds_keys_and_missing_elements():
    with pytest.raises(ConfigError, match="unknown baseline kind"):
        build_baselines([{"kind": "morse"}], [29])
    with pytest.raises(ConfigError, match="unknown key"):
        build_baselines([{"kind": "zbl", "cutof": 2.0}], [29])
    with pytest.raises(ConfigError, match="lacks element"):
        build_baselines([{"kind": "lennard_jones", "epsilon": {"Cu": 0.1}, "sigma": 2.0, "cutoff": 5.0}], [29, 79])
    with pytest.raises(ConfigError, match="at most one ase"):
        build_baselines([{"kind": "ase", "calculator": "emt"}, {"kind": "ase", "calculator": "emt"}], [29])
    with pytest.raises(ConfigError, match="unknown calculator"):
        build_baselines([{"kind": "ase", "calculator": "dftb"}], [29])


ALL_TORCH_BASELINES = [
    {"kind": "zbl"},
    {"kind": "lennard_jones", "epsilon": 0.01, "sigma": 2.2, "cutoff": 5.0},
    {"kind": "point_charges", "charges": {"Cu": 0.0, "Au": 0.0}},
]


def cu_au_crystal(seed=0):
    a = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True)
    a[1].symbol = "Au"
    a.rattle(0.05, seed=seed)
    return a


def test_potential_with_torch_baselines_sums_terms_scripts_and_round_trips(tmp_path):
    pot = mlip.build_potential(small_config(), seed=1, baselines=ALL_TORCH_BASELINES)
    assert pot.cutoff == 5.0 and len(pot.model.terms) == 4
    s = mlip.system_from_atoms(cu_au_crystal())
    e = mlip.neighbor_list(s, pot.cutoff)
    full = pot(s, e, compute_stress=True)
    parts = sum(float(mlip.models.force_model.ForceModel([t])(s, e).energy) for t in pot.model.terms)
    assert float(full.energy) == pytest.approx(parts, rel=1e-12)
    scripted = torch.jit.script(pot.model)(s, e, True, True, False)
    torch.testing.assert_close(scripted.forces, full.forces)
    torch.testing.assert_close(scripted.stress, full.stress)
    loaded = mlip.load_potential(pot.save(tmp_path / "p.pt"))
    assert loaded.metadata()["baselines"] == pot.metadata()["baselines"] and loaded.cutoff == 5.0
    torch.testing.assert_close(loaded(s, e, compute_stress=True).stress, full.stress)


def test_frozen_potential_baseline_is_self_contained_and_not_trained(tmp_path):
    base = mlip.build_potential(small_config(), seed=2, baselines=[{"kind": "zbl"}])
    base_path = base.save(tmp_path / "base.pt")
    pot = mlip.build_potential(small_config(), seed=3, baselines=[{"kind": "frozen_potential", "path": str(base_path)}])
    frozen = pot.model.terms[1]
    assert all(not p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in pot.model.terms[0].parameters())
    s = mlip.system_from_atoms(cu_au_crystal(1))
    e = mlip.neighbor_list(s, pot.cutoff)
    learned_only = mlip.models.force_model.ForceModel([pot.model.terms[0]])(s, e).energy
    torch.testing.assert_close(pot(s, e).energy, learned_only + base(s, e).energy)
    saved = pot.save(tmp_path / "combined.pt")
    base_path.unlink()  # the combined file embeds the frozen weights
    loaded = mlip.load_potential(saved)
    torch.testing.assert_close(loaded(s, e).energy, pot(s, e).energy)
    assert not any(p.requires_grad for p in loaded.model.terms[1].parameters())
    torch.jit.script(loaded.model)


def test_frozen_potential_must_know_every_element(tmp_path):
    path = mlip.build_potential(small_config(elements=("Cu",))).save(tmp_path / "cu.pt")
    with pytest.raises(ConfigError, match="does not know element"):
        mlip.build_potential(small_config(), baselines=[{"kind": "frozen_potential", "path": str(path)}])


def test_ase_baseline_energy_forces_stress_are_added_in_potential_and_calculator(tmp_path):
    pot = mlip.build_potential(small_config(), seed=4, baselines=[{"kind": "zbl"}, {"kind": "ase", "calculator": "emt"}])
    atoms = cu_au_crystal(2)
    s = mlip.system_from_atoms(atoms)
    e = mlip.neighbor_list(s, pot.cutoff)
    torch_only = pot.model(s, e, True, True, False)
    ref = atoms.copy()
    ref.calc = EMT()
    total = pot(s, e, compute_stress=True)
    assert float(total.energy) == pytest.approx(float(torch_only.energy) + ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(total.forces.numpy(), torch_only.forces.numpy() + ref.get_forces(), atol=1e-12)
    assert float(total.atomic_energies.sum()) == pytest.approx(float(total.energy), rel=1e-12)
    loaded = mlip.load_potential(pot.save(tmp_path / "emt_delta.pt"))
    assert loaded.metadata()["external_baseline"] == {"kind": "ase", "calculator": "emt", "params": {}}
    atoms.calc = mlip.MLIPCalculator(loaded)
    assert atoms.get_potential_energy() == pytest.approx(float(total.energy), rel=1e-10)
    voigt = ref.get_stress()
    torch_stress = torch_only.stress[0].numpy()
    np.testing.assert_allclose(atoms.get_stress(), voigt + torch_stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]], atol=1e-10)
    pot.residual_only = True  # training mode: the network alone
    torch.testing.assert_close(pot(s, e).energy, mlip.models.force_model.ForceModel([pot.model.terms[0]])(s, e).energy)


def test_missing_baseline_calculator_is_refused_at_load_with_a_clear_error(tmp_path):
    pot = mlip.build_potential(small_config(), baselines=[{"kind": "ase", "calculator": "emt"}])
    path = pot.save(tmp_path / "p.pt")
    payload = torch.load(path, weights_only=True)
    payload["metadata"]["external_baseline"] = {"kind": "ase", "calculator": "no_such_package.ase:Calc", "params": {}}
    torch.save(payload, path)
    with pytest.raises(BackendUnavailableError, match="no_such_package"):
        mlip.load_potential(path)
    payload["metadata"]["baselines"] = [{"kind": "morse"}]
    torch.save(payload, path)
    with pytest.raises(PotentialFileError, match="invalid baseline"):
        mlip.load_potential(path)
