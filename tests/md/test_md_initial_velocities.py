"""Maxwell–Boltzmann initial velocities: seeded by an explicit generator, COM removed,
fixed atoms at rest (and kept at rest by every integrator)."""
import numpy as np
import pytest
import torch

import md
from md_systems import argon_liquid, argon_lj
from mlip import units


def test_maxwell_boltzmann_has_the_right_temperature_and_zero_momentum():
    masses = torch.cat([torch.full((3000,), 39.95), torch.full((3000,), 4.0)]).double()
    v = md.maxwell_boltzmann_velocities(masses, 250.0, torch.Generator().manual_seed(1))
    kinetic = units.kinetic_energy_eV(masses, v)
    assert float(kinetic) / (0.5 * (3 * 6000 - 3) * units.BOLTZMANN_EV_PER_K * 250.0) == pytest.approx(1.0, abs=0.03)
    assert float((masses[:, None] * v).sum(dim=0).abs().max()) < 1e-10
    # per-species equipartition: the light atoms are faster, same mean kinetic energy
    light = units.kinetic_energy_eV(masses[3000:], v[3000:])
    heavy = units.kinetic_energy_eV(masses[:3000], v[:3000])
    assert float(light / heavy) == pytest.approx(1.0, abs=0.06)


def test_same_seed_same_velocities_and_global_rng_untouched():
    global_state = torch.random.get_rng_state().clone()
    a = md.initial_state(argon_liquid(1), argon_lj(5.0), temperature_K=100.0, seed=42)
    b = md.initial_state(argon_liquid(1), argon_lj(5.0), temperature_K=100.0, seed=42)
    c = md.initial_state(argon_liquid(1), argon_lj(5.0), temperature_K=100.0, seed=43)
    assert torch.equal(a.velocities, b.velocities) and not torch.equal(a.velocities, c.velocities)
    assert torch.equal(torch.random.get_rng_state(), global_state)


@pytest.mark.parametrize("integrator", [md.VelocityVerlet(5.0), md.LangevinBAOAB(5.0, 200.0, 0.05),
                                        md.Bussi(5.0, 200.0, 50.0), md.NoseHooverChain(5.0, 200.0, 50.0)],
                         ids=["nve", "langevin", "bussi", "nose-hoover"])
def test_fixed_atoms_never_move(integrator):
    lj = argon_lj(7.0)
    state = md.initial_state(argon_liquid(2, seed=2), lj, temperature_K=200.0, seed=0, fixed=[0, 5, 7])
    assert state.constrained_dof == 0 and md.degrees_of_freedom(state) == 3 * 29
    start = state.positions[[0, 5, 7]].clone()
    state = md.run(state, lj, integrator, 30)
    assert torch.equal(state.positions[[0, 5, 7]], start)
    assert float(state.velocities[[0, 5, 7]].abs().max()) == 0.0
    assert float((state.positions - md.initial_state(argon_liquid(2, seed=2), lj).positions).abs().max()) > 0.01


@pytest.mark.slow  # ~5 s: a fresh interpreter imports md
def test_importing_md_changes_no_global_state():
    import subprocess
    import sys

    code = ("import os, torch, matplotlib; env = dict(os.environ); b = matplotlib.get_backend(); "
            "d = torch.get_default_dtype(); r = torch.random.get_rng_state().clone(); "
            "import md, md.cli_run, md.reporters.energy_plot; "
            "assert dict(os.environ) == env and torch.get_default_dtype() == d; "
            "assert torch.equal(torch.random.get_rng_state(), r) and matplotlib.get_backend() == b; print('CLEAN')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "CLEAN" in out.stdout, out.stderr[-2000:]
