"""Re-save a potential with other floating-point type and/or other settings of its ASE baseline.

    python benchmarks/validation/set_baseline_params.py IN.pt OUT.pt [--dtype float64] [--param accuracy=0.001 ...]

Used for the shipped ethanol potential: trained in float32 against GFN2-xTB labels computed at
tblite's default SCF accuracy (1.0), it is saved in float64 with accuracy 0.001, because the
shadow-Hamiltonian monitor showed that both float32 round-off and the loose SCF make MD forces
measurably non-conservative (see potentials/ethanol-b3lyp-xtb/card.md). ``--param`` values are
parsed as numbers when they look like numbers.
"""
from __future__ import annotations

import argparse
import sys

import torch

import mlip


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None)
    p.add_argument("--param", action="append", default=[], help="KEY=VALUE for the ASE baseline calculator")
    args = p.parse_args(argv)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    pot = mlip.load_potential(args.source, dtype=dtype)
    if args.param:
        if pot.external is None:
            raise SystemExit(f"{args.source} has no ASE baseline whose parameters could be set")
        for item in args.param:
            key, _, value = item.partition("=")
            if not key or not value:
                raise SystemExit(f"--param {item!r}: expected KEY=VALUE")
            pot.external.spec["params"][key] = _value(value)
    pot.save(args.dest)
    again = mlip.load_potential(args.dest)
    print(f"saved {args.dest}: dtype {again.dtype}, baseline {again.external.spec if again.external else None}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
