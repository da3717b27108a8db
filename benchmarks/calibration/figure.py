#!/usr/bin/env python3
"""docs/figures/uncertainty_calibration.png: the calibration plots of one committee on the test
split (top) and the out-of-distribution set (bottom), as written by measure.py.

Usage (repository root, after measure.py):
    python benchmarks/calibration/figure.py [--run calibration_committee] [--results benchmarks/calibration/results]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    from matplotlib.image import imread
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", default="calibration_committee")
    p.add_argument("--results", type=Path, default=Path("benchmarks/calibration/results"))
    p.add_argument("--out", type=Path, default=Path("docs/figures/uncertainty_calibration.png"))
    args = p.parse_args()
    image = np.concatenate([imread(args.results / f"{args.run}_{name}.png") for name in ("test", "ood")], axis=0)
    h, w = image.shape[:2]
    fig = Figure(figsize=(w / 110, h / 110), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image)
    ax.axis("off")
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp)
    tmp.replace(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
