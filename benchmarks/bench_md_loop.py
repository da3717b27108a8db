"""Benchmark: MD steps/s of ``md.run`` vs ASE's VelocityVerlet, and md's loop overhead.

Same system (fcc argon), same physics (Lennard-Jones, ε = 0.0104 eV, σ = 3.40 Å, shifted at
r_c = 8.5 Å), same time step. Rows:

* ``ase VV + ase LJ``      ASE's VelocityVerlet driving ``ase.calculators.lj.LennardJones``
* ``ase VV + md LJ``       ASE's VelocityVerlet driving md's LJ through a thin ASE calculator
                           (neighbour list rebuilt every call, as a calculator must)
* ``md.run``               md's loop, no reporters
* ``md.run + reporters``   md's loop with the energy/shadow monitor and thermo log every 10 steps
* ``force only``           md's LJ on ready-made exact-cutoff edges (the floor of any MD loop)

Overhead = time per md.run step / time per force evaluation − 1 (goal ≤ 5 %), also shown
without the neighbour-list upkeep (skin check + filtering to the exact cutoff), which is
md's job but scales like a cheap force field.

With ``--potential FILE`` it also times a saved mlip potential: ASE VelocityVerlet driving
``mlip.MLIPCalculator`` vs ``md.run`` (the benchmark may import model code; md never does).

Usage: python benchmarks/bench_md_loop.py [--repeat 4] [--steps 200] [--threads 1] [--potential P]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ase.build  # noqa: E402
from ase.calculators.calculator import Calculator, all_changes  # noqa: E402
from ase.calculators.lj import LennardJones as AseLennardJones  # noqa: E402
from ase.md.verlet import VelocityVerlet as AseVelocityVerlet  # noqa: E402

import md  # noqa: E402
from md import neighbor_cache  # noqa: E402
from mlip import units  # noqa: E402
from mlip.ase_bridge import system_from_atoms  # noqa: E402
from mlip.neighbor_list import neighbor_list  # noqa: E402

EPSILON_EV, SIGMA_A, CUTOFF_A, TIMESTEP_FS, TEMPERATURE_K = 0.0104, 3.40, 8.5, 5.0, 60.0


class ForceFieldCalculator(Calculator):
    """ASE calculator around any md force field (fresh neighbour list per call)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, forcefield):
        super().__init__()
        self.forcefield = forcefield

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        system = system_from_atoms(self.atoms)
        prediction = self.forcefield(system, neighbor_list(system, self.forcefield.cutoff), False)
        self.results = {"energy": float(prediction.energy.sum()), "forces": prediction.forces.detach().numpy()}


def best_of(repeat, fn):
    """Smallest CPU time of this process over ``repeat`` calls (s). CPU time, not wall time:
    on a shared machine other processes' load then barely disturbs the comparison (the
    script runs torch single-threaded by default, so CPU time ≈ undisturbed wall time)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def ase_rate(atoms, calc, n_steps, repeat):
    def go():
        a = atoms.copy()
        a.calc = calc
        AseVelocityVerlet(a, timestep=TIMESTEP_FS / units.ASE_TIME_UNIT_IN_FS).run(n_steps)
    go()  # warm-up
    return n_steps / best_of(repeat, go)


def md_rate(state, forcefield, n_steps, repeat, with_reporters=False):
    """(steps/s of md.run, neighbour-list builds per step)."""
    integrator = md.VelocityVerlet(TIMESTEP_FS)
    final = []

    def go():
        reporters = []
        if with_reporters:
            directory = tempfile.mkdtemp()
            monitor = md.EnergyMonitor(sample_interval=10, order=8)
            reporters = [monitor, md.ThermoReporter(os.path.join(directory, "thermo.csv"), 10, monitor)]
        final.append(md.run(state, forcefield, integrator, n_steps, reporters))
    go()
    rate = n_steps / best_of(repeat, go)
    return rate, (final[-1].neighbors.n_builds - state.neighbors.n_builds) / n_steps


def force_time(state, forcefield, repeat, n_calls=50):
    """Seconds per (force evaluation on exact edges, filtering the skin list, list build)."""
    edges, _ = neighbor_cache.update(state.neighbors, state.system)
    forcefield(state.system, edges, False)
    force = best_of(repeat, lambda: [forcefield(state.system, edges, False) for _ in range(n_calls)]) / n_calls
    upkeep = best_of(repeat, lambda: [neighbor_cache.update(state.neighbors, state.system) for _ in range(n_calls)])
    n = state.neighbors
    build = best_of(repeat, lambda: neighbor_cache.build(state.system, n.cutoff_A, n.skin_A, 0, n.backend))
    return force, upkeep / n_calls, build


def overhead_lines(step_s, force_s, filter_s, build_s, builds_per_step):
    """Print the loop overhead beyond the force evaluation, with and without list upkeep."""
    upkeep_s = filter_s + build_s * builds_per_step
    print(f"  neighbour-list upkeep: filter {1e3 * filter_s:.3f} ms/step + build {1e3 * build_s:.2f} ms "
          f"x {builds_per_step:.3f} builds/step = {1e3 * upkeep_s:.3f} ms/step")
    print(f"  overhead beyond force evaluation: {100 * (step_s / force_s - 1):.1f} % in all; "
          f"integrator + checks alone (list upkeep excluded): {100 * ((step_s - upkeep_s) / force_s - 1):.1f} %")


def table(title, rows, n_atoms):
    print(f"\n{title}")
    print(f"{'loop':<24}{'steps/s':>12}{'ms/step':>10}{'atom·steps/s':>15}{'ns/day':>10}")
    for name, rate in rows:
        ns_day = rate * TIMESTEP_FS * 1e-6 * 86400
        print(f"{name:<24}{rate:>12.1f}{1e3 / rate:>10.3f}{rate * n_atoms:>15.3g}{ns_day:>10.3g}")


def bench_lj(repeat_cells, n_steps, repeat):
    atoms = ase.build.bulk("Ar", "fcc", a=5.26, cubic=True).repeat(repeat_cells)
    lj = md.LennardJones(EPSILON_EV, SIGMA_A, CUTOFF_A)
    state = md.initial_state(atoms, lj, temperature_K=TEMPERATURE_K, seed=0, skin_A=0.5)
    start = atoms.copy()
    start.set_velocities(state.velocities.numpy() * units.ASE_TIME_UNIT_IN_FS)
    n = len(atoms)
    (run_rate, builds), (rep_rate, _) = md_rate(state, lj, n_steps, repeat), md_rate(state, lj, n_steps, repeat, True)
    rows = [("ase VV + ase LJ", ase_rate(start, AseLennardJones(epsilon=EPSILON_EV, sigma=SIGMA_A, rc=CUTOFF_A),
                                         max(n_steps // 10, 5), repeat)),
            ("ase VV + md LJ", ase_rate(start, ForceFieldCalculator(lj), n_steps, repeat)),
            ("md.run", run_rate), ("md.run + reporters", rep_rate)]
    force_s, filter_s, build_s = force_time(state, lj, repeat)
    rows.append(("force only", 1.0 / force_s))
    table(f"Lennard-Jones argon, {n} atoms, r_c = {CUTOFF_A} Å, skin 0.5 Å, h = {TIMESTEP_FS} fs", rows, n)
    print(f"  md.run is {run_rate / rows[1][1]:.2f}x ASE VV driving the same md LJ, "
          f"{run_rate / rows[0][1]:.1f}x ASE VV + ASE LJ")
    overhead_lines(1.0 / run_rate, force_s, filter_s, build_s, builds)
    print(f"  reporters (energy/shadow monitor + thermo every 10 steps): "
          f"{100 * (run_rate / rep_rate - 1):.1f} % on top")


def bench_potential(path, n_steps, repeat):
    from mlip.calculator import MLIPCalculator
    from mlip.potential import load_potential

    potential = load_potential(path)
    symbol = {int(z): s for z, s in zip(potential.atomic_numbers, getattr(potential, "elements", ["X"]))}
    z = int(potential.atomic_numbers[0])
    atoms = ase.build.bulk(symbol.get(z, "Ar"), "fcc", a=5.26, cubic=True).repeat(3)
    state = md.initial_state(atoms, potential, temperature_K=TEMPERATURE_K, seed=0, skin_A=0.5)
    start = atoms.copy()
    start.set_velocities(state.velocities.numpy() * units.ASE_TIME_UNIT_IN_FS)
    (run_rate, builds), (rep_rate, _) = (md_rate(state, potential, n_steps, repeat),
                                         md_rate(state, potential, n_steps, repeat, True))
    rows = [("ase VV + MLIPCalculator", ase_rate(start, MLIPCalculator(potential), n_steps, repeat)),
            ("md.run", run_rate), ("md.run + reporters", rep_rate)]
    force_s, filter_s, build_s = force_time(state, potential, repeat, n_calls=10)
    rows.append(("force only", 1.0 / force_s))
    table(f"mlip potential {os.path.basename(path)}, {len(atoms)} atoms", rows, len(atoms))
    print(f"  md.run is {run_rate / rows[0][1]:.2f}x ASE VV driving the same potential")
    overhead_lines(1.0 / run_rate, force_s, filter_s, build_s, builds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=4, help="timing repeats (best is kept)")
    parser.add_argument("--steps", type=int, default=200, help="MD steps per timing")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (set for this script only)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 5], help="fcc repeats (4 n³ atoms)")
    parser.add_argument("--potential", default=None, help="also time a saved mlip potential")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), best of {args.repeat}")
    for size in args.sizes:
        bench_lj(size, args.steps, args.repeat)
    if args.potential:
        bench_potential(args.potential, max(args.steps // 4, 10), args.repeat)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
