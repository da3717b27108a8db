"""Cost of our Ewald sum (energy + forces + stress by autograd) vs cell size, one CPU thread,
and, when torch-pme is installed, torch-pme's PME (energy + forces) at comparable accuracy.

Rock-salt NaCl supercells (a = 5.64 Å, rattled 0.05 Å), ±1 e. Ours: tolerance 1e-6,
real-space cutoff 10 Å (pair search included in the time). torch-pme: PMECalculator tuned by
``torchpme.tuning.tune_pme`` for accuracy 1e-6 at the same 10 Å real-space cutoff; its
neighbour list (matscipy, 10 Å) is timed separately. Accuracy: energy error against our
Ewald at tolerance 1e-12. Writes results/bench_ewald.json.

Run: nice -n 19 .venv/bin/python benchmarks/coulomb/bench_ewald.py
"""
import json
import os
import time

import ase.build
import torch

import mlip
from mlip.models.force_model import ForceModel
from mlip.physics.ewald import ewald_parameters, real_space_pairs, reciprocal_vectors
from mlip.physics.point_charges import PointCharges
from mlip.types import empty_edges

HERE = os.path.dirname(os.path.abspath(__file__))


def best_of(fn, repeats=3):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def torch_pme_row(atoms, exact_energy):
    try:
        import torchpme
        from torchpme.tuning import tune_pme
    except ImportError:
        return None
    s = mlip.system_from_atoms(atoms)
    q = torch.tensor([[1.0] if z == 11 else [-1.0] for z in atoms.numbers], dtype=torch.float64)
    cell = s.cell[0]

    def neighbors():
        e = mlip.neighbor_list(s, 10.0)
        half = e.index[0] < e.index[1]
        idx = e.index[:, half].T
        vec = s.positions[idx[:, 1]] - s.positions[idx[:, 0]] + e.shift[half].double() @ cell
        return idx, vec

    t_nl, (idx, vec) = best_of(neighbors)
    smearing, params, _ = tune_pme(q, cell, s.positions, 10.0, idx, vec.norm(dim=1), prefactor=torchpme.prefactors.eV_A, accuracy=1e-6)
    calc = torchpme.PMECalculator(torchpme.CoulombPotential(smearing=smearing, prefactor=torchpme.prefactors.eV_A), **params)
    calc.to(torch.float64)

    def energy_forces():
        pos = s.positions.clone().requires_grad_(True)
        v = pos[idx[:, 1]] - pos[idx[:, 0]] + (vec - (s.positions[idx[:, 1]] - s.positions[idx[:, 0]]))
        phi = calc(q, cell, pos, idx, v.norm(dim=1))
        energy = (q * phi).sum()  # torch-pme's potentials carry the 1/2 of the pair double count
        (g,) = torch.autograd.grad(energy, pos)
        return float(energy.detach())

    t_pme, energy = best_of(energy_forces)
    return {"seconds": t_pme, "neighbor_list_seconds": t_nl, "energy_error_eV": abs(energy - exact_energy), "params": {**params, "smearing": smearing}}


def main():
    torch.set_num_threads(1)
    model = ForceModel([PointCharges([11, 17], [1.0, -1.0], 0.0, 0.0, 1e-6, 10.0)])
    exact = ForceModel([PointCharges([11, 17], [1.0, -1.0], 0.0, 0.0, 1e-12, 10.0)])
    rows = []
    for rep in (2, 3, 4, 5, 6):
        atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(rep)
        atoms.rattle(0.05, seed=0)
        s = mlip.system_from_atoms(atoms)
        seconds, pred = best_of(lambda: model(s, empty_edges(), True, True, False))
        exact_energy = float(exact(s, empty_edges(), False).energy)
        alpha, r_real, k_max = ewald_parameters(1e-6, 10.0, 0.0)
        row = {"n_atoms": len(atoms), "ewald_seconds": seconds, "ewald_energy_error_eV": abs(float(pred.energy) - exact_energy),
               "real_space_pairs": real_space_pairs(s.positions, s.cell[0], r_real)[0].numel(),
               "k_vectors_half_space": reciprocal_vectors(s.cell[0], k_max).shape[0]}
        row["torch_pme"] = torch_pme_row(atoms, exact_energy)
        rows.append(row)
        print(row, flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    json.dump({"device": "CPU, 1 thread (shared, busy machine)", "tolerance": 1e-6, "real_space_cutoff_A": 10.0, "rows": rows},
              open(os.path.join(HERE, "results", "bench_ewald.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
