"""The ``mlip`` command line: thin wrappers over the Python API.

    mlip train CONFIG.yaml [--resume]
    mlip eval POTENTIAL DATA [--index I] [--energy-key K --forces-key K --stress-key K --energy-unit U] [--plot PNG]
              [--calibration-plot PNG]   (committees: Spearman(σ, error), coverage |ΔF| < 2σ, binned σ vs error)
              [--fidelity NAME | --fidelity-keys NAME=ENERGY_KEY,FORCES_KEY ...]   (multi-fidelity potentials)
    mlip md --potential P --structure FILE [--ensemble nve|langevin|bussi|nose-hoover] ... (see mlip md -h)
    mlip analyze RUN_DIR [--rmax-A R] [--bins N] [--output DIR]   g(r), MSD, diffusion, VDOS, density of an md run
    mlip calibrate POTENTIAL DATA -o OUT.pt [--method rmse|coverage] [--plot PNG] [keys as mlip eval]
    mlip learn CONFIG.yaml [--resume]   active learning: explore (MD) -> select (σ) -> label (oracle) -> retrain
    mlip export POTENTIAL --lammps OUT [--fidelity NAME]
    mlip list                      shipped potentials

Errors the user can fix are printed as one line ``mlip: error: ...`` with exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mlip.errors import MLIPError


def _train(args) -> int:
    from mlip.train import TrainConfig, train

    cfg = TrainConfig.from_yaml(args.config)

    def show(row):
        cols = [f"epoch {row['epoch']:>4}", f"loss {row['train_loss']:.4g}", f"valid {row['valid_loss']:.4g}"]
        for key, short in (("valid_energy_mae_meV/atom", "E MAE meV/atom"), ("valid_forces_mae_meV/A", "F MAE meV/Å")):
            if key in row:
                cols.append(f"{short} {row[key]:.3g}")
        # property targets (training.properties): their values, units in the names
        cols += [f"{k[5:]} {v:.5g}" for k, v in row.items() if k.startswith("prop_") and not k.endswith("_loss") and "_mode" not in k]
        print("  ".join(cols), flush=True)

    best = train(cfg, resume=args.resume, progress=show if cfg.training.progress else None)
    print(f"best potential: {best}")
    if (best.parent / "calibration.json").exists():  # committees: calibrated on the validation split
        import json

        cal = json.loads((best.parent / "calibration.json").read_text())
        print(f"validation split: {cal['summary']}" if cal["calibrated"] else f"not calibrated: {cal['reason']}")
    return 0


def _labelled_frames(args, pot) -> list:
    """The frames of ``args.data`` with the labels the eval/calibrate key flags name, checked
    against the potential's elements."""
    from mlip.data import DataKeys, check_frame, read_frames

    if getattr(args, "fidelity_keys", None):  # multi-fidelity: each fidelity scored on its own labels
        from mlip.train.fidelity_metrics import read_fidelity_frames

        frames = read_fidelity_frames(args.data, args.index, args.fidelity_keys, args.energy_unit, pot.fidelities)
    else:
        keys = DataKeys(energy=args.energy_key, forces=args.forces_key, stress=args.stress_key, energy_unit=args.energy_unit)
        frames = read_frames(args.data, keys, index=args.index)
    for f in frames:
        check_frame(f, pot.atomic_numbers)
    return frames


def _eval(args) -> int:
    import torch

    from mlip.data import build_graphs
    from mlip.potential import load_potential
    from mlip.train.fidelity_metrics import evaluate_by_fidelity
    from mlip.train.parity_plot import write_parity_plot

    pot = load_potential(args.potential, dtype=torch.float64 if args.float64 else None, backend=args.backend,
                         fidelity=args.fidelity)
    frames = _labelled_frames(args, pot)
    graphs = build_graphs(frames, pot.cutoff)
    results = evaluate_by_fidelity(pot, graphs, args.batch_size, keep_values=True)
    where = args.data if args.index == ":" else f"{args.data} [{args.index}]"
    structures = len({f.source for f in frames})
    counted = f"{len(frames)} frames" if structures == len(frames) else f"{structures} structures, {len(frames)} labelled frames"
    print(f"{where}: {counted}, potential {args.potential}")
    for fidelity, m in results.items():
        values = m.pop("_values")
        label = fidelity or pot.fidelity
        if label is not None:
            print(f"fidelity {label}:")
        print(f"{'quantity':<10}{'MAE':>12}{'RMSE':>12}  unit")
        for q, unit in (("energy", "meV/atom"), ("forces", "meV/A"), ("stress", "meV/A3")):
            if f"{q}_mae_{unit}" in m:
                print(f"{q:<10}{m[f'{q}_mae_{unit}']:>12.4g}{m[f'{q}_rmse_{unit}']:>12.4g}  {unit.replace('A', 'Å')}")
        if args.plot:
            plot = args.plot if len(results) == 1 else args.plot.replace(".png", f"_{fidelity}.png")
            title = str(args.data) + (f" ({label})" if label else "")
            print(f"parity plot: {write_parity_plot(values, plot, title=title)}")
    if pot.committee_size > 1 and any(f.forces is not None for f in frames):  # the committee's σ vs its true error
        from mlip.train.calibration import calibration_report, force_uncertainty

        report = calibration_report(force_uncertainty(pot, graphs, args.batch_size), pot.uncertainty_scale)
        print(f"committee uncertainty: {report.summary()}")
        if args.calibration_plot:
            from mlip.train.calibration_plot import write_calibration_plot

            print("calibration plot: {} (table {})".format(*write_calibration_plot(report, args.calibration_plot, str(args.data))))
    elif args.calibration_plot:
        print("no calibration plot: it needs a committee potential and reference forces")
    return 0


def _calibrate(args) -> int:
    import torch

    from mlip.data import build_graphs
    from mlip.potential import load_potential
    from mlip.train.calibration import calibrate

    pot = load_potential(args.potential, backend=args.backend)
    saved_dtype = pot.dtype
    if args.float64:
        pot.to(dtype=torch.float64)
    report = calibrate(pot, build_graphs(_labelled_frames(args, pot), pot.cutoff), args.batch_size, args.method,
                       args.target_coverage)
    print(f"{args.data}: {report.summary()}")
    print(f"calibrated potential: {pot.to(dtype=saved_dtype).save(args.output)}")
    if args.plot:
        from mlip.train.calibration_plot import write_calibration_plot

        print("calibration plot: {} (table {})".format(*write_calibration_plot(report, args.plot, str(args.data))))
    return 0


def _learn(args) -> int:
    from mlip.learn import LearnConfig, learn

    learn(LearnConfig.from_yaml(args.config), resume=args.resume, say=lambda line: print(line, flush=True))
    return 0


def _md(args) -> int:
    from md.cli_run import main_from_namespace

    from mlip.potential import load_potential

    return main_from_namespace(args, load_potential=load_potential)


def _analyze(args) -> int:
    from md.analysis.cli import main_from_namespace

    return main_from_namespace(args)


def _export(args) -> int:
    from mlip.export import export_lammps
    from mlip.potential import load_potential

    pot = load_potential(args.potential, backend=args.backend)
    out = export_lammps(pot, args.lammps, fidelity=args.fidelity)
    needs = "needs the op library in LAMMPS (pair_style mlip ... ops PATH)" if pot.backend == "native" else "plain libtorch, no op library needed"
    at = f"; fidelity {args.fidelity or pot.fidelity} of {list(pot.fidelities)}" if pot.fidelities else ""
    print(f"LAMMPS model written: {out} ({pot.backend} kernels: {needs}{at})")
    return 0


def _list(args) -> int:
    from mlip.shipped import list_shipped

    for name in list_shipped():
        print(name)
    return 0


def _add_md_command(sub, name: str, module: str, func, help: str) -> None:
    """A subcommand whose flags ``module.add_arguments`` defines (md's own modules)."""
    import importlib

    parser = sub.add_parser(name, help=help)
    try:
        importlib.import_module(module).add_arguments(parser)
    except ImportError:  # md not installed: keep the rest of the CLI usable
        pass
    parser.set_defaults(func=func)


def _add_data_arguments(parser) -> None:
    """POTENTIAL DATA and the label-key, frame-selection and evaluation flags of eval/calibrate."""
    parser.add_argument("potential")
    parser.add_argument("data")
    parser.add_argument("--energy-key", default="energy")
    parser.add_argument("--forces-key", default="forces")
    parser.add_argument("--stress-key", default="stress")
    parser.add_argument("--energy-unit", default="eV")
    parser.add_argument("--index", default=":", help="ASE index string of the frames to use, e.g. 900: (default: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--float64", action="store_true", help="evaluate in float64")
    parser.add_argument("--backend", default="auto", choices=("auto", "native", "reference"), help="model kernels (default auto)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlip", description="Train equivariant interatomic potentials and run MD.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a potential from a YAML config")
    t.add_argument("config")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint in the output directory")
    t.set_defaults(func=_train)
    e = sub.add_parser("eval", help="error table and parity plot of a potential on a data file")
    _add_data_arguments(e)
    e.add_argument("--plot", default=None, help="write a parity plot PNG here")
    e.add_argument("--calibration-plot", default=None, metavar="PNG",
                   help="committees: write the binned predicted-σ vs observed-error plot here (and its table as .csv)")
    e.add_argument("--fidelity", default=None, help="multi-fidelity potentials: the level of theory the keys' labels "
                                                    "are at (default: the potential's highest)")
    e.add_argument("--fidelity-keys", action="append", default=None, metavar="NAME=ENERGY_KEY,FORCES_KEY",
                   help="multi-fidelity potentials: score fidelity NAME on these label keys (repeat per fidelity; "
                        "'-' for none); prints one table per fidelity")
    e.set_defaults(func=_eval)
    c = sub.add_parser("calibrate", help="fit a committee's uncertainty scale on labelled data and save the potential")
    _add_data_arguments(c)
    c.add_argument("-o", "--output", required=True, help="write the calibrated potential here")
    c.add_argument("--method", default="coverage", choices=("rmse", "coverage"),
                   help="coverage (default, as mlip train): --target-coverage of atoms have |ΔF| < 2σ; "
                        "rmse: RMS σ = RMS force error")
    c.add_argument("--target-coverage", type=float, default=0.95, help="for --method coverage (default 0.95)")
    c.add_argument("--plot", default=None, help="write the calibration plot PNG (and its table as .csv) here")
    c.set_defaults(func=_calibrate)
    lrn = sub.add_parser("learn", help="active learning: explore with MD, label where the committee disagrees, retrain")
    lrn.add_argument("config", help="learn YAML (see mlip.learn.config)")
    lrn.add_argument("--resume", action="store_true", help="continue the loop recorded in the output folder's journal")
    lrn.set_defaults(func=_learn)
    _add_md_command(sub, "md", "md.cli_run", _md, "run molecular dynamics with a potential")
    _add_md_command(sub, "analyze", "md.analysis.cli", _analyze,
                    "g(r), MSD, diffusion coefficient, VACF/VDOS and cell/density of an `mlip md` run folder")
    x = sub.add_parser("export", help="export a potential for LAMMPS (pair_style mlip)")
    x.add_argument("potential")
    x.add_argument("--lammps", required=True, help="output model file")
    x.add_argument("--backend", default="reference", choices=("auto", "native", "reference"),
                   help="kernels baked into the exported model: reference (default; plain libtorch) or native "
                        "(faster; LAMMPS must load the op library)")
    x.add_argument("--fidelity", default=None, help="multi-fidelity potentials: the level of theory baked into the file "
                                                    "(default: the highest)")
    x.set_defaults(func=_export)
    ls = sub.add_parser("list", help="list shipped potentials")
    ls.set_defaults(func=_list)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run one ``mlip`` command. Called without ``argv`` (the ``mlip`` program, ``python -m
    mlip.cli``) it owns the process and first tunes the allocator to reuse freed memory
    (:func:`mlip.allocator.keep_freed_memory`); called with an argument list from Python it
    leaves the process as it is."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None:
        from mlip.allocator import keep_freed_memory

        keep_freed_memory()
    try:
        return int(args.func(args) or 0)
    except MLIPError as exc:
        print(f"mlip: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
