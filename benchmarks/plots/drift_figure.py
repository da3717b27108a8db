"""Energy drift of the shipped potential cuau-emt in NVE at three time steps, with H̃.

Runs velocity Verlet (md engine) on 108 fcc Cu atoms from one shared initial state
(Maxwell–Boltzmann at 600 K on the perfect lattice, so ~300 K after equipartition) at
h = 1, 2 and 4 fs for ``--steps`` steps each, sampling the total energy H = K + U and the
order-8 shadow Hamiltonian H̃ (md/shadow.py, docs/md.md) every step. Writes the series and
each run's drift report to ``benchmarks/results/drift.json``; ``make_figures.py`` plots them.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/plots/drift_figure.py [--steps 300]

Units: Å, eV, amu, fs, K; energies in the JSON are eV (series) and meV/atom (reports).
The potential runs in float64 (``--model-dtype float64``, converted on load) so that
float32 round-off does not hide the integrator's own behaviour; one extra run at 2 fs with
the saved float32 weights shows what round-off in the forces does to H̃.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUTPUT = os.path.join(REPO, "benchmarks", "results", "drift.json")


def run_one(potential, atoms, timestep_fs: float, n_steps: int, temperature_K: float, seed: int) -> dict:
    """One NVE run from the shared initial state; returns its sampled series and drift report."""
    import torch

    import md

    state = md.initial_state(atoms, potential, temperature_K=temperature_K, seed=seed, dtype=torch.float64)
    integrator = md.VelocityVerlet(timestep_fs=timestep_fs)
    state = integrator.init(state)
    monitor = md.EnergyMonitor(sample_interval=1, order=8)
    start = time.perf_counter()
    md.run(state, potential, integrator, n_steps, reporters=[monitor])
    wall_s = time.perf_counter() - start
    series = monitor.series()
    return {"timestep_fs": timestep_fs, "model_dtype": str(potential.dtype).replace("torch.", ""),
            "n_steps": n_steps, "wall_s": round(wall_s, 2),
            "report": monitor.last_report.to_dict(), **series}


def _compact_json(result: dict) -> str:
    """JSON with one line per top-level key and per run field (series stay on one line)."""
    lines = []
    for key, value in result.items():
        if key != "runs":
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    runs = [" {\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in run.items()) + "\n }"
            for run in result["runs"]]
    lines.append(' "runs": [\n' + ",\n".join(runs) + "\n ]")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--potential", default="cuau-emt", help="shipped name or file")
    parser.add_argument("--timesteps-fs", default="1,2,4", help="comma-separated time steps, fs")
    parser.add_argument("--steps", type=int, default=500, help="NVE steps per time step")
    parser.add_argument("--temperature-K", type=float, default=600.0,
                        help="initial Maxwell–Boltzmann temperature, K (lattice start: ~half after equipartition)")
    parser.add_argument("--cells", type=int, default=3, help="fcc conventional cells per side (3 -> 108 atoms)")
    parser.add_argument("--model-dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--float32-timestep-fs", type=float, default=2.0,
                        help="one extra run with the saved float32 weights at this time step, fs (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    sys.path.insert(0, REPO)
    import ase.build
    import torch

    import mlip

    torch.set_num_threads(1)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.model_dtype]
    potential = mlip.load_potential(args.potential, dtype=dtype)
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((args.cells,) * 3)
    plan = [(potential, float(x)) for x in args.timesteps_fs.split(",")]
    if args.float32_timestep_fs > 0 and args.model_dtype != "float32":
        plan.append((mlip.load_potential(args.potential, dtype=torch.float32), args.float32_timestep_fs))
    runs = []
    for pot, h in plan:
        run = run_one(pot, atoms, h, args.steps, args.temperature_K, args.seed)
        r = run["report"]
        print(f"h = {h:g} fs, {run['model_dtype']} model: {args.steps} steps in {run['wall_s']:.1f} s; H RMS {r['rms_meV_per_atom']:.3g} "
              f"meV/atom, drift {r['drift_meV_per_atom_per_ps']:+.3g} meV/atom/ps; H~ RMS "
              f"{r['shadow_rms_meV_per_atom']:.3g}, drift {r['shadow_drift_meV_per_atom_per_ps']:+.3g}; "
              f"{r['verdict']}", flush=True)
        runs.append(run)
    result = {
        "what": "NVE (velocity Verlet) energy and order-8 shadow Hamiltonian, shared initial state",
        "command": " ".join(["python benchmarks/plots/drift_figure.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread",
        "potential": args.potential, "model_dtype": args.model_dtype, "state_dtype": "float64",
        "n_atoms": len(atoms), "structure": f"fcc Cu a = 3.61 Å, {args.cells}x{args.cells}x{args.cells} cells",
        "initial_temperature_K": args.temperature_K, "seed": args.seed,
        "units": {"time_fs": "fs", "energy_eV": "eV (total, not per atom)", "report": "meV/atom, meV/atom/ps"},
        "runs": runs,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = f"{args.output}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(_compact_json(result))
    os.replace(tmp, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
