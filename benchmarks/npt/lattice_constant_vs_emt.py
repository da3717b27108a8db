"""Validation: the shipped ``cuau-emt`` potential under NPT reproduces EMT's own NPT lattice
constant of fcc copper (300 K, 0 GPa) and its thermal expansion from 300 to 900 K.

Both force fields run the same way through ``md``: EMT (``ase.calculators.emt``) is wrapped as
an md force field (energy, forces, stress; ASE sign convention), the potential is loaded with
``mlip.potential.load_potential("cuau-emt")``. Same cell (``--repeat`` n: n×n×n conventional
fcc Cu cells, 4n³ atoms; default 2, 32 atoms, to fit a shared 2-core machine), same integrator
(stochastic cell rescaling, isotropic, + Bussi thermostat), same time step, seeds and run
lengths. Per run: the lattice constant a = (V / n³)^{1/3} averaged after equilibration, with a
block-averaging standard error; headline numbers are the mean over the seeds ± the standard
error over the seeds.

Goals (issue 17): |a_mlip − a_EMT| / a_EMT < 0.1 % at 300 K; the thermal expansion
Δa/a (300 → 900 K) within 5 % of EMT's.

Usage (writes results/lattice_constant_vs_emt.json and .md; CPU times are per process):
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/npt/lattice_constant_vs_emt.py \
        [--forcefield emt|cuau-emt|both] [--seeds 3] [--steps 4000] [--equilibrate 500] [--repeat 2]
Running each force field in its own process (``--forcefield emt`` and ``--forcefield cuau-emt``,
then ``--merge``) halves the wall time on two cores.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import ase.build  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

import md  # noqa: E402
from md.state import pressure_GPa, volume_A3  # noqa: E402
from mlip.atomic_io import atomic_open  # noqa: E402
from mlip.types import Prediction  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
COMPRESSIBILITY_CU_PER_GPA = 1.0 / 140.0  # the barostat's guess (copper's bulk modulus ~140 GPa)


class EMTForceField:
    """ASE's EMT as an md force field: energy (1,) eV, forces eV/Å, stress (1, 3, 3) eV/Å^3.

    ``cutoff`` is 0: EMT keeps its own neighbour list, so md builds none. One ``ase.Atoms``
    is kept and updated (EMT reuses its neighbour list while atoms move little)."""

    cutoff = 0.0

    def __init__(self, atoms: ase.Atoms) -> None:
        self.atoms = atoms.copy()
        self.atoms.calc = EMT()
        self.atomic_numbers = sorted(set(int(z) for z in atoms.numbers))

    def __call__(self, system, edges, compute_stress: bool = False) -> Prediction:
        self.atoms.set_cell(system.cell[0].detach().double().numpy())
        self.atoms.set_positions(system.positions.detach().double().numpy())
        energy = torch.tensor([self.atoms.get_potential_energy()], dtype=torch.float64)
        forces = torch.tensor(self.atoms.get_forces(), dtype=torch.float64)
        stress = None
        if compute_stress:
            stress = torch.tensor(self.atoms.get_stress(voigt=False), dtype=torch.float64).unsqueeze(0)
        return Prediction(energy=energy, forces=forces, stress=stress)


def block_mean_error(values: np.ndarray, n_blocks: int = 10):
    """(mean, standard error from ``n_blocks`` consecutive block means)."""
    values = np.asarray(values, dtype=np.float64)
    size = len(values) // n_blocks
    blocks = values[len(values) - size * n_blocks:].reshape(n_blocks, size).mean(axis=1)
    return float(values.mean()), float(blocks.std(ddof=1) / math.sqrt(n_blocks))


def make_forcefield(name: str, atoms: ase.Atoms):
    if name == "emt":
        return EMTForceField(atoms)
    from mlip.potential import load_potential  # the benchmark may import model code; md never does

    return load_potential(name)


def one_run(name: str, temperature_K: float, seed: int, steps: int, equilibrate: int, timestep_fs: float,
            barostat: str, repeat: int, barostat_tau_fs: float) -> Dict:
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    forcefield = make_forcefield(name, atoms)
    integrator = md.make_npt_integrator(timestep_fs, temperature_K, 0.0, barostat=barostat, tau_fs=100.0,
                                        barostat_tau_fs=barostat_tau_fs, compressibility_per_GPa=COMPRESSIBILITY_CU_PER_GPA)
    state = integrator.init(md.initial_state(atoms, forcefield, temperature_K=temperature_K, seed=seed))
    start_cpu, start_wall = time.process_time(), time.time()
    state = md.run(state, forcefield, integrator, equilibrate)
    lattice, pressure, temperature, conserved = [], [], [], []
    for _ in range(steps):
        state = integrator.step(state, forcefield)
        lattice.append((volume_A3(state) / repeat**3) ** (1.0 / 3.0))
        pressure.append(pressure_GPa(state))
        temperature.append(md.temperature_K(state))
        conserved.append(integrator.conserved_energy_eV(state))
    a_mean, a_error = block_mean_error(lattice)
    p_mean, p_error = block_mean_error(pressure)
    drift = np.polyfit(np.arange(steps) * timestep_fs, np.array(conserved) / len(atoms), 1)[0] * 1e6  # eV/atom/ns
    return {"forcefield": name, "temperature_K": temperature_K, "seed": seed, "a_A": a_mean, "a_error_A": a_error,
            "pressure_GPa": p_mean, "pressure_error_GPa": p_error, "mean_temperature_K": float(np.mean(temperature)),
            "conserved_drift_eV_per_atom_per_ns": float(drift), "cpu_s": time.process_time() - start_cpu,
            "wall_s": time.time() - start_wall, "steps": steps, "equilibrate": equilibrate,
            "a_series_every_10": lattice[::10]}


def _paired_differences(runs: List[Dict], temperature_K: float) -> Dict:
    """Mean ± standard error over seeds of 100 (a_mlip − a_EMT)/a_EMT for the seeds both ran."""
    by_seed = {}
    for r in runs:
        if r["temperature_K"] == temperature_K:
            by_seed.setdefault(r["seed"], {})[r["forcefield"]] = r["a_A"]
    diffs = [100 * (v["cuau-emt"] - v["emt"]) / v["emt"] for v in by_seed.values() if len(v) == 2]
    if len(diffs) < 2:
        return {}
    return {"value": float(np.mean(diffs)), "error": float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))),
            "per_seed": diffs}


def _paired_expansion_ratios(runs: List[Dict]) -> Dict:
    """Mean ± standard error over seeds of the per-seed ratio of the two force fields' Δa/a
    (300 → 900 K), for the seeds that ran everything."""
    a = {(r["forcefield"], r["temperature_K"], r["seed"]): r["a_A"] for r in runs}
    ratios = []
    for seed in sorted({r["seed"] for r in runs}):
        keys = [(n, T, seed) for n in ("emt", "cuau-emt") for T in (300.0, 900.0)]
        if all(k in a for k in keys):
            e = (a[("emt", 900.0, seed)] - a[("emt", 300.0, seed)]) / a[("emt", 300.0, seed)]
            m = (a[("cuau-emt", 900.0, seed)] - a[("cuau-emt", 300.0, seed)]) / a[("cuau-emt", 300.0, seed)]
            ratios.append(m / e)
    if len(ratios) < 2:
        return {}
    return {"value": float(np.mean(ratios)), "error": float(np.std(ratios, ddof=1) / math.sqrt(len(ratios))),
            "per_seed": ratios}


def summarize(runs: List[Dict]) -> Dict:
    table: Dict = {}
    for name in sorted({r["forcefield"] for r in runs}):
        for T in sorted({r["temperature_K"] for r in runs}):
            chosen = [r for r in runs if r["forcefield"] == name and r["temperature_K"] == T]
            if chosen:
                values = [r["a_A"] for r in chosen]
                spread = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
                blocks = float(math.sqrt(sum(r["a_error_A"] ** 2 for r in chosen)) / len(chosen))
                # the error is the larger of the seed-to-seed and the block estimate (both noisy with 3 seeds)
                table.setdefault(name, {})[str(int(T))] = {
                    "a_A": float(np.mean(values)), "a_error_A": float(np.nanmax([spread, blocks])),
                    "seed_spread_error_A": spread, "block_error_A": blocks, "n_seeds": len(values)}
    out: Dict = {"lattice_constant": table}
    if {"emt", "cuau-emt"} <= set(table) and "300" in table["emt"] and "300" in table["cuau-emt"]:
        a_e, a_m = table["emt"]["300"], table["cuau-emt"]["300"]
        rel = (a_m["a_A"] - a_e["a_A"]) / a_e["a_A"]
        rel_err = math.hypot(a_m["a_error_A"], a_e["a_error_A"]) / a_e["a_A"]
        out["a300_relative_difference_percent"] = {"value": 100 * rel, "error": 100 * rel_err, "goal": 0.1}
        paired = _paired_differences(runs, 300.0)
        if paired:  # same seeds drive both force fields: the per-seed differences share their noise
            out["a300_relative_difference_percent"]["paired_by_seed"] = paired
        if "900" in table["emt"] and "900" in table["cuau-emt"]:
            expansion = {}
            for name in ("emt", "cuau-emt"):
                lo, hi = table[name]["300"], table[name]["900"]
                value = (hi["a_A"] - lo["a_A"]) / lo["a_A"]
                expansion[name] = {"value": value, "error": math.hypot(hi["a_error_A"], lo["a_error_A"]) / lo["a_A"]}
            ratio = expansion["cuau-emt"]["value"] / expansion["emt"]["value"]
            ratio_err = ratio * math.hypot(expansion["cuau-emt"]["error"] / expansion["cuau-emt"]["value"],
                                           expansion["emt"]["error"] / expansion["emt"]["value"])
            out["thermal_expansion_300_900"] = expansion
            out["expansion_ratio_mlip_over_emt"] = {"value": ratio, "error": ratio_err, "goal": "within 5 %"}
            paired = _paired_expansion_ratios(runs)
            if paired:
                out["expansion_ratio_mlip_over_emt"]["paired_by_seed"] = paired
    return out


def write_markdown(path: str, result: Dict) -> None:
    lines = [f"# cuau-emt vs EMT under NPT (fcc Cu, {result['settings']['atoms']} atoms, 0 GPa)", "",
             f"Integrator: {result['settings']['barostat']} barostat, isotropic, h = "
             f"{result['settings']['timestep_fs']} fs, {result['settings']['steps']} sampled steps after "
             f"{result['settings']['equilibrate']}; seeds {result['settings']['seeds']}. Errors: the larger of the "
             "standard error over the seeds and the combined per-run block errors.", "",
             "| force field | T (K) | a (Å) | ± | seeds |", "|---|---|---|---|---|"]
    for name, temps in result["summary"]["lattice_constant"].items():
        for T, row in temps.items():
            lines.append(f"| {name} | {T} | {row['a_A']:.5f} | {row['a_error_A']:.5f} | {row['n_seeds']} |")
    s = result["summary"]
    if "a300_relative_difference_percent" in s:
        d = s["a300_relative_difference_percent"]
        lines += ["", f"a(300 K): cuau-emt − EMT = {d['value']:+.4f} ± {d['error']:.4f} % (goal |Δ| < 0.1 %)"]
        if "paired_by_seed" in d:
            p = d["paired_by_seed"]
            lines += [f"paired by seed (same random numbers drive both): {p['value']:+.4f} ± {p['error']:.4f} %"]
    if "thermal_expansion_300_900" in s:
        e = s["thermal_expansion_300_900"]
        r = s["expansion_ratio_mlip_over_emt"]
        lines += [f"Δa/a 300→900 K: EMT {100 * e['emt']['value']:.4f} ± {100 * e['emt']['error']:.4f} %, "
                  f"cuau-emt {100 * e['cuau-emt']['value']:.4f} ± {100 * e['cuau-emt']['error']:.4f} %; "
                  f"ratio {r['value']:.4f} ± {r['error']:.4f} (goal within 5 %)"]
        if "paired_by_seed" in r:
            lines += [f"ratio paired by seed: {r['paired_by_seed']['value']:.4f} ± {r['paired_by_seed']['error']:.4f}"]
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forcefield", default="both", choices=("emt", "cuau-emt", "both"))
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 900.0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first..first+seeds-1; > 0 adds to the runs already in results/")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--equilibrate", type=int, default=500)
    parser.add_argument("--timestep-fs", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=2, help="conventional cells per direction")
    parser.add_argument("--barostat-tau-fs", type=float, default=200.0)
    parser.add_argument("--barostat", default="scr")
    parser.add_argument("--merge", action="store_true", help="only merge the per-force-field JSON files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(RESULTS, exist_ok=True)
    names = ["emt", "cuau-emt"] if args.forcefield == "both" else [args.forcefield]
    settings = {"barostat": args.barostat, "timestep_fs": args.timestep_fs, "steps": args.steps,
                "equilibrate": args.equilibrate, "seeds": list(range(args.first_seed + args.seeds)),
                "temperatures_K": args.temperatures,
                "atoms": 4 * args.repeat**3, "barostat_tau_fs": args.barostat_tau_fs, "thermostat_tau_fs": 100.0}
    if not args.merge:
        for name in names:
            runs = []
            path = os.path.join(RESULTS, f"runs_{name}.json")
            if args.first_seed > 0 and os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    runs = [r for r in json.load(handle)["runs"] if r["seed"] < args.first_seed]
            for T in args.temperatures:
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    run = one_run(name, T, seed, args.steps, args.equilibrate, args.timestep_fs, args.barostat,
                                  args.repeat, args.barostat_tau_fs)
                    print(f"{name} T={T:g} K seed {seed}: a = {run['a_A']:.5f} ± {run['a_error_A']:.5f} Å, "
                          f"P = {run['pressure_GPa']:+.4f} ± {run['pressure_error_GPa']:.4f} GPa, "
                          f"<T> = {run['mean_temperature_K']:.1f} K, cpu {run['cpu_s']:.0f} s", flush=True)
                    runs.append(run)
                    with atomic_open(path, "w", encoding="utf-8") as handle:
                        json.dump({"settings": settings, "runs": runs}, handle, indent=1)
    runs = []
    for name in ("emt", "cuau-emt"):
        path = os.path.join(RESULTS, f"runs_{name}.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                runs += json.load(handle)["runs"]
    result = {"settings": settings, "summary": summarize(runs),
              "runs": [{k: v for k, v in r.items() if k != "a_series_every_10"} for r in runs]}
    with atomic_open(os.path.join(RESULTS, "lattice_constant_vs_emt.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
    write_markdown(os.path.join(RESULTS, "lattice_constant_vs_emt.md"), result)
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
