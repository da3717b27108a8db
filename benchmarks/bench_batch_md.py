"""Benchmark: many small systems as one batch (``md.run_batch``) vs one after another (``md.run``).

Systems: fcc Cu, conventional cell repeated 2x2x2 (32 atoms, a = 3.61 Å), each rattled by
0.05 Å with its own seed; Langevin BAOAB at 300 K, h = 2 fs, each system with its own seed.
Both ways take the same total number of system-steps (``--steps`` per system), no reporters.
Force fields (``--forcefields``):

* ``cuau-emt``        the shipped potential as loaded (float32, native kernels when the op
                      library is built),
* ``cuau-emt+spline`` the same with its radial networks tabulated
                      (``mlip.models.radial_tabulation.tabulate_radial``, inference switch),
* ``lj``              md's Lennard-Jones (ε = 0.409 eV, σ = 2.338 Å, smooth to 5 Å): a cheap
                      force field, so the rows show what md's own per-system work costs.

Per case and batch size (``--systems``, default 8 16 64), ``--repeat`` paired repeats (batch
and sequential alternate within a repeat). Reported: CPU time (``time.process_time``) and wall
time per system-step both ways, the speed-up sequential/batch (median [min, max] over repeats),
the force-call ceiling (n solo force calls vs one batched call on the same structures: no MD
driver can beat it) and md's own time per system-step in a batch (the same batch run with a
force field that returns zeros at the same cutoff: integrators, neighbour-list upkeep,
checks, batching). torch runs single-threaded (this is a script; ``--threads`` to change).

The CPU-time ratio is the figure to quote on a shared machine; wall times are skewed by
other processes. Writes benchmarks/results/batch_md.json and prints a table.

Usage: python benchmarks/bench_batch_md.py [--steps 10] [--repeat 3] [--systems 8 16 64]
       [--forcefields cuau-emt cuau-emt+spline lj]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ase.build  # noqa: E402

import md  # noqa: E402
from md import neighbor_cache  # noqa: E402
from md.batch_evaluate import batch_layout, concatenate, concatenate_edges  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TIMESTEP_FS, TEMPERATURE_K, FRICTION_PER_FS = 2.0, 300.0, 0.01
#: the zero force field drops the potential energy: do not let the energy check stop that run
NO_ENERGY_LIMIT = md.StabilityLimits(max_energy_change_eV_per_atom=1e9)


def load_forcefield(name: str):
    """A force field by benchmark name (model code is fine here: this is not md)."""
    if name == "lj":
        return md.LennardJones(epsilon_eV=0.409, sigma_A=2.338, cutoff_A=5.0, smooth_onset_A=4.0)
    from mlip.potential import load_potential

    potential = load_potential("cuau-emt")
    if name == "cuau-emt":
        return potential
    if name == "cuau-emt+spline":
        from mlip.models.radial_tabulation import tabulate_radial

        return tabulate_radial(potential)
    raise SystemExit(f"unknown force field {name!r}; choose cuau-emt, cuau-emt+spline or lj")


def structures(n: int):
    """``n`` rattled 32-atom Cu cells (seeds 0 … n−1)."""
    out = []
    for seed in range(n):
        atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
        atoms.positions += np.random.default_rng(seed).normal(scale=0.05, size=atoms.positions.shape)
        out.append(atoms)
    return out


def timed(fn):
    """(CPU s, wall s) of one call of ``fn``."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


class ZeroForceField:
    """No forces, same cutoff: what is left of a batch step is md's own work (integrators,
    neighbour-list upkeep, checks, concatenating and splitting the batch)."""

    def __init__(self, cutoff):
        self.cutoff = cutoff

    def __call__(self, system, edges, compute_stress):
        from mlip.types import Prediction

        return Prediction(system.positions.new_zeros(system.cell.shape[0]), torch.zeros_like(system.positions))


def force_ceiling(forcefield, states):
    """(CPU s of n solo force calls, CPU s of one batched call) on the states' structures."""
    edges = [neighbor_cache.update(s.neighbors, s.system)[0] for s in states]
    layout = batch_layout([s.system for s in states])
    batch, batch_edges = concatenate([s.system for s in states], layout), concatenate_edges(edges, layout)
    solo, _ = timed(lambda: [forcefield(s.system, e, False) for s, e in zip(states, edges)])
    together, _ = timed(lambda: forcefield(batch, batch_edges, False))
    return solo, together


def bench_case(name, forcefield, n_systems, n_steps, repeat):
    atoms = structures(n_systems)
    states = [md.initial_state(a, forcefield, TEMPERATURE_K, seed=i) for i, a in enumerate(atoms)]
    integrators = [md.LangevinBAOAB(TIMESTEP_FS, TEMPERATURE_K, FRICTION_PER_FS) for _ in states]
    states = [i.init(s) for i, s in zip(integrators, states)]

    def sequential():
        for s, i in zip(states, integrators):
            md.run(s, forcefield, i, n_steps)

    def batched():
        md.run_batch(states, forcefield, integrators, n_steps)

    zero = ZeroForceField(float(forcefield.cutoff))
    md.run(states[0], forcefield, integrators[0], 2)  # warm-up
    md.run_batch(states, forcefield, integrators, 1)
    rows = []
    for _ in range(repeat):
        seq_cpu, seq_wall = timed(sequential)
        bat_cpu, bat_wall = timed(batched)
        solo_ff, batch_ff = force_ceiling(forcefield, states)
        md_only, _ = timed(lambda: md.run_batch(states, zero, integrators, n_steps, limits=NO_ENERGY_LIMIT))
        rows.append({"sequential_cpu_s": seq_cpu, "sequential_wall_s": seq_wall, "batch_cpu_s": bat_cpu,
                     "batch_wall_s": bat_wall, "force_solo_cpu_s": solo_ff, "force_batch_cpu_s": batch_ff,
                     "batch_zero_forcefield_cpu_s": md_only})
    system_steps = n_systems * n_steps

    def summary(values):
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    result = {
        "forcefield": name, "n_systems": n_systems, "atoms_per_system": len(atoms[0]), "steps": n_steps,
        "repeats": rows,
        "speedup_cpu": summary([r["sequential_cpu_s"] / r["batch_cpu_s"] for r in rows]),
        "speedup_wall": summary([r["sequential_wall_s"] / r["batch_wall_s"] for r in rows]),
        "force_call_ceiling_cpu": summary([r["force_solo_cpu_s"] / r["force_batch_cpu_s"] for r in rows]),
        "sequential_cpu_ms_per_system_step": summary([1e3 * r["sequential_cpu_s"] / system_steps for r in rows]),
        "batch_cpu_ms_per_system_step": summary([1e3 * r["batch_cpu_s"] / system_steps for r in rows]),
        "batch_md_own_cpu_ms_per_system_step": summary(
            [1e3 * r["batch_zero_forcefield_cpu_s"] / system_steps for r in rows]),
    }
    return result


def fmt(s, digits=2):
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="MD steps per system")
    parser.add_argument("--repeat", type=int, default=3, help="paired repeats (>= 3 for a spread)")
    parser.add_argument("--systems", type=int, nargs="+", default=[8, 16, 64], help="batch sizes")
    parser.add_argument("--forcefields", nargs="+", default=["cuau-emt", "cuau-emt+spline", "lj"])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "batch_md.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.repeat} repeats, load average {load}")
    results = []
    header = (f"{'force field':<17}{'n':>4}{'seq ms/sys-step':>17}{'batch ms/sys-step':>19}"
              f"{'speed-up CPU':>24}{'speed-up wall':>24}{'force-call ceiling':>24}{'md ms/sys-step':>16}")
    print(header)
    for name in args.forcefields:
        forcefield = load_forcefield(name)
        for n in args.systems:
            r = bench_case(name, forcefield, n, args.steps, args.repeat)
            results.append(r)
            print(f"{name:<17}{n:>4}{r['sequential_cpu_ms_per_system_step']['median']:>17.3f}"
                  f"{r['batch_cpu_ms_per_system_step']['median']:>19.3f}{fmt(r['speedup_cpu']):>24}"
                  f"{fmt(r['speedup_wall']):>24}{fmt(r['force_call_ceiling_cpu']):>24}"
                  f"{r['batch_md_own_cpu_ms_per_system_step']['median']:>16.3f}", flush=True)
    payload = {"benchmark": "bench_batch_md", "torch": torch.__version__, "threads": args.threads,
               "machine": platform.processor() or platform.machine(), "load_average_start": load,
               "load_average_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
               "note": "CPU time (process_time) is the figure to quote on a shared machine; wall time is skewed "
                       "by other processes", "results": results}
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    from mlip.atomic_io import atomic_open

    with atomic_open(args.output, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
        handle.write("\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
