"""Property targets (training.properties): values against independent finite-difference
computations, gradients against finite differences of the loss (float64), a target alone moves
the model toward it, bad targets are clear errors."""
import csv

import ase
import ase.build
import ase.units
import numpy as np
import pytest
import torch

from mlip.calculator import MLIPCalculator
from mlip.errors import ConfigError
from mlip.models.config import ModelConfig
from mlip.potential import build_potential
from mlip.train import TrainConfig, train
from mlip.train.properties import parse_property_targets, property_loss_for
from mlip.train.properties.evaluation import PropertyEvaluation
from mlip.train.properties.whole_model import WholeModel
from mlip.units import EV_PER_A3_IN_GPA
from mlip.vibrations import atoms_hessian, harmonic_wavenumbers
from emt_fixtures import tiny_config

A_TEST = 3.55  # Å; the test potential is stable near here
FCC = {"bulk": "Cu", "crystalstructure": "fcc", "a": A_TEST}


@pytest.fixture(scope="module")
def pot():
    """A small float64 Cu potential: a Lennard-Jones baseline (a stable fcc crystal) plus a
    random network of comparable size, so every property depends on the network weights."""
    cfg = ModelConfig(elements=("Cu",), cutoff=4.0, l_max=1, channels=4, n_layers=2, radial_hidden=8,
                      readout_hidden=4, avg_num_neighbors=30.0)
    p = build_potential(cfg, dtype=torch.float64, seed=5,
                        baselines=[{"kind": "lennard_jones", "epsilon": 0.1, "sigma": 2.3, "cutoff": 4.0}])
    with torch.no_grad():
        p.model.terms[0].readout.scale.fill_(0.5)
    return p


def cluster():
    """A low-symmetry Cu4 cluster (no degenerate modes)."""
    atoms = ase.build.molecule("CH4")[1:]  # the tetrahedron of H, distorted and renamed
    atoms.set_chemical_symbols(["Cu"] * 4)
    atoms.positions *= 2.55 / atoms.get_distance(0, 1)
    atoms.positions += np.array([[0.0, 0.0, 0.0], [0.05, -0.03, 0.02], [-0.04, 0.06, 0.0], [0.02, 0.01, -0.07]])
    return atoms


def evaluation(pot):
    return PropertyEvaluation(WholeModel(pot), {}, differentiable=False)


def one(entry, pot):
    (target,) = parse_property_targets([entry])
    return target, target.values(evaluation(pot))


def strained(atoms, voigt):
    xx, yy, zz, yz, xz, xy = voigt
    eps = np.array([[xx, xy / 2, xz / 2], [xy / 2, yy, yz / 2], [xz / 2, yz / 2, zz]])  # engineering shear
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    out.calc = atoms.calc
    return out


# -- values against independent computations -----------------------------------------------
def test_bulk_modulus_is_the_second_derivative_of_E_of_V(pot):
    _, v = one({"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": 100.0}, pot)
    calc = MLIPCalculator(pot)
    energies, h = [], 1e-3
    for s in (-h, 0.0, h):  # volume V0 (1 + s)
        atoms = ase.build.bulk("Cu", "fcc", a=A_TEST * (1 + s) ** (1 / 3))
        energies.append(calc.get_potential_energy(atoms))
    v0 = ase.build.bulk("Cu", "fcc", a=A_TEST).get_volume()
    b_fd = v0 * (energies[0] - 2 * energies[1] + energies[2]) / (v0 * h) ** 2 * EV_PER_A3_IN_GPA
    assert abs(v["bulk_modulus_GPa"]) > 10
    np.testing.assert_allclose(v["bulk_modulus_GPa"], b_fd, rtol=1e-4)


@pytest.mark.parametrize("cubic", [False, True])
def test_cubic_elastic_constants_match_stress_strain_differences(pot, cubic):
    _, v = one({"kind": "elastic_cubic", "structure": {**FCC, "cubic": cubic}, "c11_GPa": 170.0}, pot)
    atoms = ase.build.bulk("Cu", "fcc", a=A_TEST, cubic=cubic)
    atoms.calc = MLIPCalculator(pot)
    h = 1e-4

    def dsigma(voigt):
        plus = strained(atoms, h * np.asarray(voigt)).get_stress(voigt=True)
        minus = strained(atoms, -h * np.asarray(voigt)).get_stress(voigt=True)
        return (plus - minus) / (2 * h) * EV_PER_A3_IN_GPA

    c11, c12 = dsigma([1, 0, 0, 0, 0, 0])[:2]
    c44 = dsigma([0, 0, 0, 1, 0, 0])[3]
    np.testing.assert_allclose([v["c11_GPa"], v["c12_GPa"], v["c44_GPa"]], [c11, c12, c44], rtol=1e-5, atol=1e-4)
    assert min(abs(c11), abs(c44)) > 1  # not trivially zero


def test_lattice_constant_is_the_zero_of_the_pressure(pot):
    from scipy.optimize import brentq

    target, v = one({"kind": "lattice_constant", "structure": {"bulk": "Cu", "crystalstructure": "fcc"},
                     "lattice_constant_A": A_TEST, "modulus_scale_GPa": 50.0}, pot)
    calc = MLIPCalculator(pot)
    pressure = lambda a: -calc.get_stress(ase.build.bulk("Cu", "fcc", a=a))[:3].mean()
    a0 = brentq(pressure, 3.3, 3.9, xtol=1e-10)
    np.testing.assert_allclose(v["lattice_constant_A"], a0, atol=1e-5)
    np.testing.assert_allclose(v["pressure_GPa"], pressure(A_TEST) * EV_PER_A3_IN_GPA, rtol=1e-8)
    r = float(target.residuals(evaluation(pot)).detach())
    np.testing.assert_allclose(r, pressure(A_TEST) * EV_PER_A3_IN_GPA / (3 * 50.0), rtol=1e-8)


def test_zero_stress_residuals_are_the_stress_from_energy_differences(pot, tmp_path):
    atoms = ase.build.bulk("Cu", "fcc", a=A_TEST, cubic=True)
    atoms.rattle(0.02, seed=1)  # a general (non-cubic) stress
    atoms.write(tmp_path / "rattled.extxyz")
    target, v = one({"kind": "zero_stress", "structure": str(tmp_path / "rattled.extxyz"), "modulus_scale_GPa": 100.0}, pot)
    r = target.residuals(evaluation(pot)).detach().numpy()
    atoms.calc = MLIPCalculator(pot)
    h, v0, fd = 1e-5, atoms.get_volume(), []
    for k in range(6):
        e = [strained(atoms, s * h * np.eye(6)[k]).get_potential_energy() for s in (1, -1)]
        fd.append((e[0] - e[1]) / (2 * h) / v0)  # σ_k = (1/V) dE/dε_k (engineering shear)
    np.testing.assert_allclose(r * 100.0 / EV_PER_A3_IN_GPA, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(v["pressure_GPa"], -np.mean(fd[:3]) * EV_PER_A3_IN_GPA, rtol=1e-6)


def test_molecular_frequencies_match_mlip_vibrations_on_a_finite_difference_hessian(pot, tmp_path):
    atoms = cluster()
    path = tmp_path / "cu4.xyz"
    atoms.write(path)
    target, _ = one({"kind": "frequencies", "structure": str(path), "frequencies_cm1": [100.0] * 6}, pot)
    omega = target.frequencies(evaluation(pot)).detach().numpy()
    atoms.calc = MLIPCalculator(pot)
    ref = harmonic_wavenumbers(atoms_hessian(atoms, step_A=1e-4), atoms.positions, atoms.get_masses())
    np.testing.assert_allclose(omega, ref, rtol=1e-5, atol=1e-2)


def test_gamma_point_frequencies_match_a_finite_difference_hessian(pot, tmp_path):
    atoms = ase.build.bulk("Cu", "fcc", a=A_TEST, cubic=True)
    atoms.rattle(0.03, seed=2)
    atoms.write(tmp_path / "rattled.extxyz")
    target, _ = one({"kind": "frequencies", "structure": str(tmp_path / "rattled.extxyz"), "frequencies_cm1": [100.0] * 9}, pot)
    omega = target.frequencies(evaluation(pot)).detach().numpy()
    atoms.calc = MLIPCalculator(pot)
    m = np.repeat(atoms.get_masses(), 3) ** -0.5
    lam = np.linalg.eigvalsh(m[:, None] * atoms_hessian(atoms, step_A=1e-4) * m[None, :])
    lam = lam[np.argsort(np.abs(lam))][3:]  # drop the three acoustic (translation) modes
    to_cm = np.sqrt(ase.units._e / (1e-20 * ase.units._amu)) / (2 * np.pi * ase.units._c * 100)
    ref = np.sort(np.sign(lam) * np.sqrt(np.abs(lam)) * to_cm)
    np.testing.assert_allclose(omega, ref, rtol=1e-5, atol=1e-2)


def test_energy_curve_is_the_dimer_binding_energy(pot):
    d = [1.9, 2.3, 2.8]
    target, v = one({"kind": "energy_curve", "dimer": ["Cu", "Cu"], "distances_A": d, "energies_eV": [1.0, 0.0, -0.5]}, pot)
    calc = MLIPCalculator(pot)
    atom = calc.get_potential_energy(ase.Atoms("Cu"))
    ref = [calc.get_potential_energy(ase.Atoms("Cu2", positions=[[0, 0, 0], [0, 0, r]])) - 2 * atom for r in d]
    np.testing.assert_allclose(target.energies(evaluation(pot)).detach().numpy(), ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(v["mae_eV"], np.mean(np.abs(np.asarray(ref) - [1.0, 0.0, -0.5])), rtol=1e-10)


def test_properties_include_the_baselines_while_the_network_trains_on_residuals(pot):
    import copy

    residual = copy.deepcopy(pot)
    residual.residual_only = True  # as while Δ-learning: the forward pass is the network alone
    entry = {"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": 100.0}
    whole = one(entry, pot)[1]["bulk_modulus_GPa"]
    np.testing.assert_allclose(one(entry, residual)[1]["bulk_modulus_GPa"], whole, rtol=1e-12)
    network_alone = copy.deepcopy(pot)
    network_alone.model.terms = network_alone.model.terms[:1]
    assert abs(one(entry, network_alone)[1]["bulk_modulus_GPa"] - whole) > 10  # the LJ term matters


# -- gradients of the loss against finite differences --------------------------------------
GRADIENT_CASES = {
    "lattice_constant": {"kind": "lattice_constant", "structure": {"bulk": "Cu", "crystalstructure": "fcc"},
                         "lattice_constant_A": 3.5},
    "zero_stress": {"kind": "zero_stress", "structure": {**FCC, "cubic": True}},
    "bulk_modulus": {"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": 140.0},
    "elastic_cubic": {"kind": "elastic_cubic", "structure": FCC, "c11_GPa": 170.0, "c12_GPa": 120.0, "c44_GPa": 80.0},
    "frequencies": {"kind": "frequencies", "structure": "CU4", "frequencies_cm1": [60, 80, 100, 120, 140, 160]},
    "energy_curve": {"kind": "energy_curve", "dimer": ["Cu", "Cu"], "distances_A": [2.0, 2.5], "energies_eV": [0.5, -1.0]},
}


@pytest.mark.parametrize("kind", sorted(GRADIENT_CASES))
def test_loss_gradient_matches_central_differences(pot, kind, tmp_path):
    entry = dict(GRADIENT_CASES[kind], weight=2.0)
    if entry.get("structure") == "CU4":
        cluster().write(tmp_path / "cu4.xyz")
        entry["structure"] = str(tmp_path / "cu4.xyz")
    loss = property_loss_for(parse_property_targets([entry]), pot)
    params = dict(pot.named_parameters())
    # a weight of the first layer's radial network and one of the readout
    picks = [("model.terms.0.layers.0.radial.weights.0", 3), ("model.terms.0.readout.w1", 1)]
    pot.zero_grad()
    total, _ = loss(pot)
    total.backward()
    for name, k in picks:
        p = params[name]
        analytic = float(p.grad.reshape(-1)[k])
        h = 1e-5 * max(1.0, abs(float(p.detach().reshape(-1)[k])))
        values = []
        with torch.no_grad():
            for sign in (1, -1):
                p.view(-1)[k] += sign * h
                with torch.enable_grad():
                    values.append(float(loss(pot)[0].detach()))
                p.view(-1)[k] -= sign * h
        numeric = (values[0] - values[1]) / (2 * h)
        assert abs(numeric) > 1e-8, f"{kind}: {name} does not change the loss; the test would be vacuous"
        np.testing.assert_allclose(analytic, numeric, rtol=2e-5, atol=1e-9, err_msg=f"{kind}: {name}")
    pot.zero_grad()


# -- a target alone moves the model --------------------------------------------------------
def test_a_bulk_modulus_target_alone_moves_the_model_toward_it(pot):
    import copy

    model = copy.deepcopy(pot)
    start = one({"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": 1.0}, model)[1]["bulk_modulus_GPa"]
    goal = 1.1 * start
    loss = property_loss_for(parse_property_targets([{"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": goal}]), model)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(8):
        opt.zero_grad()
        loss(model)[0].backward()
        opt.step()
    end = loss.values(model)["prop_bulk_modulus_bulk_modulus_GPa"]
    assert abs(end - goal) < 0.5 * abs(start - goal), (start, end, goal)


def test_training_with_zero_frame_weights_follows_a_zero_stress_target(emt_file, tmp_path):
    cfg = tiny_config(emt_file, tmp_path, epochs=4, lr=0.02, scheduler="none", ema_decay=0.0,
                      loss={"energy_weight": 0.0, "forces_weight": 0.0, "stress_weight": 0.0})
    cfg["training"]["properties"] = [{"kind": "zero_stress", "name": "cu", "structure": {**FCC, "cubic": True},
                                      "modulus_scale_GPa": 1.0}]
    train(TrainConfig.from_dict(cfg))
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    stress = [float(r["prop_cu_max_abs_stress_GPa"]) for r in rows]
    assert "train_loss_prop_cu" in rows[0] and "prop_cu_pressure_GPa" in rows[0]
    assert stress[-1] < 0.5 * stress[0], stress



def test_every_committee_member_follows_the_property_target(emt_file, tmp_path):
    """A committee trains each member with the same property loss: each member's bulk modulus
    moves toward a target far from where every member starts."""
    goal = 400.0
    cfg = tiny_config(emt_file, tmp_path, epochs=4, lr=0.02, scheduler="none", ema_decay=0.0,
                      loss={"energy_weight": 0.0, "forces_weight": 0.0, "stress_weight": 0.0})
    cfg["training"]["committee_size"] = 2
    cfg["training"]["properties"] = [{"kind": "bulk_modulus", "name": "cu", "structure": {**FCC, "cubic": True},
                                      "bulk_modulus_GPa": goal}]
    train(TrainConfig.from_dict(cfg))
    for k in range(2):
        rows = list(csv.DictReader(open(tmp_path / f"member_{k}" / "metrics.csv")))
        moduli = [float(r["prop_cu_bulk_modulus_GPa"]) for r in rows]
        closest = min(abs(b - goal) for b in moduli[1:])  # Adam at lr 0.02 overshoots: closest approach
        assert closest < 0.5 * abs(moduli[0] - goal), (k, moduli)

# -- bad targets -----------------------------------------------------------------------------
@pytest.mark.parametrize("entry,match", [
    ({"kind": "bulk_modulus", "structure": "missing.extxyz", "bulk_modulus_GPa": 100}, r"properties\[0\].*missing.extxyz.*does not exist"),
    ({"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": -5}, r"bulk_modulus_GPa must be > 0"),
    ({"kind": "elastic_cubic", "structure": FCC, "c11_GPa": 100, "c12_GPa": 150}, "stability"),
    ({"kind": "elastic_cubic", "structure": FCC, "c44_GPa": -3}, "c44_GPa = -3.0 is not positive"),
    ({"kind": "phonons", "structure": FCC}, r"unknown kind 'phonons'; choose one of \['bulk_modulus'"),
    ({"structure": FCC, "bulk_modulus_GPa": 100}, "has no 'kind'"),
    ({"kind": "lattice_constant", "structure": FCC, "lattice_constant": 3.6}, "'lattice_constant' has no unit.*lattice_constant_A"),
    ({"kind": "bulk_modulus", "structure": FCC, "bulk_modulus": 140}, "bulk_modulus_GPa"),
    ({"kind": "bulk_modulus", "structure": FCC}, r"missing \['bulk_modulus_GPa'\]"),
    ({"kind": "lattice_constant", "structure": {"bulk": "Cu", "crystalstructure": "hcp", "a": 2.5}, "lattice_constant_A": 2.5}, "not a cubic crystal"),
    ({"kind": "bulk_modulus", "structure": {"molecule": "H2O"}, "bulk_modulus_GPa": 2}, "not periodic"),
    ({"kind": "frequencies", "structure": {"molecule": "H2O"}, "frequencies_cm1": [1600, 3700]}, "has 3 vibrational modes"),
    ({"kind": "energy_curve", "dimer": ["Cu", "Xx"], "distances_A": [2], "energies_eV": [0]}, "two chemical symbols"),
    ({"kind": "bulk_modulus", "structure": {"bulk": "Cu", "crystalstructure": "fcc", "size": 3}, "bulk_modulus_GPa": 1}, "ase.build.bulk"),
    ({"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": 100, "weight": -1}, "weight must be >= 0"),
])
def test_bad_targets_are_config_errors_naming_the_fix(entry, match):
    with pytest.raises(ConfigError, match=match):
        parse_property_targets([entry])


def test_bad_targets_fail_at_config_time_and_unknown_elements_at_setup(emt_file, tmp_path, pot):
    cfg = tiny_config(emt_file, tmp_path)
    cfg["training"]["properties"] = [{"kind": "bulk_modulus", "structure": FCC, "bulk_modulus_GPa": 0}]
    with pytest.raises(ConfigError, match=r"training.properties\[0\] \(bulk_modulus\): bulk_modulus_GPa must be > 0"):
        TrainConfig.from_dict(cfg)
    au = parse_property_targets([{"kind": "bulk_modulus", "structure": {"bulk": "Ag", "crystalstructure": "fcc", "a": 4.1},
                                  "bulk_modulus_GPa": 100}])
    with pytest.raises(ConfigError, match=r"element\(s\) \['Ag'\] that the model lacks.*add them to model.elements"):
        property_loss_for(au, pot)
    cfg["training"]["properties"] = [{"kind": "zero_stress", "structure": {"bulk": "Ag", "crystalstructure": "fcc", "a": 4.1}}]
    with pytest.raises(ConfigError, match="Ag"):
        train(TrainConfig.from_dict(cfg))


def test_the_documented_example_parses():
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    block = doc.split("## Property targets", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    targets = parse_property_targets(yaml.safe_load(block)["training"]["properties"])
    assert [t.kind for t in targets] == ["lattice_constant", "bulk_modulus", "elastic_cubic", "frequencies", "energy_curve"]
