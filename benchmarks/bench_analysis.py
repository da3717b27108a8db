"""Speed of the md.analysis numba kernels vs plain numpy: g(r) and MSD on N atoms × T frames.

Synthetic data (no file I/O): a random walk of N atoms (0.1 Å steps per axis per frame) in a
cube at liquid-argon density (0.021 Å⁻³; N = 1000 -> 36.2 Å), so r_max = 8 Å needs only the
minimum image. Per frame both versions do the same work:

* g(r): fractional coordinates, all N(N-1)/2 minimum-image pair distances, histogram.
  numpy: vectorised over the pairs (``np.triu_indices``), ``np.bincount``.
  numba: :func:`md.analysis.rdf.pair_histogram_kernel` (a double loop over pairs).
* MSD: a K-frame ring buffer (K = ``--max-lag``, every frame an origin), squared
  displacements from the new frame to each held frame. numpy: one ``((buffer - x)**2).sum``
  over the (K, N, 3) buffer; numba: :func:`md.analysis.msd.msd_kernel`.

Plus the public API on the same in-memory frames (``md.analysis.rdf.rdf``,
``md.analysis.msd.msd``: includes unwrapping, checks and Python per-frame overhead). Each row:
median and spread (min–max) of ``--repeats`` runs of the process CPU time (robust to other
load on a shared machine; the speed-up is the ratio of CPU medians) and the median wall time;
compile time of the numba kernels is measured once, separately. Results are checked to agree. Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_analysis.py [--atoms 1000] [--frames 1000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from md.analysis.msd import msd, msd_kernel  # noqa: E402
from md.analysis.rdf import image_shifts, pair_histogram_kernel, rdf  # noqa: E402
from md.analysis.trajectory_frames import Frame  # noqa: E402

R_MAX_A, BINS = 8.0, 200


def walk(n_atoms: int, n_frames: int, seed: int = 0):
    """(T, N, 3) unwrapped positions (Å) and the cubic cell (Å)."""
    side = (n_atoms / 0.021) ** (1 / 3)
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=0.1, size=(n_frames, n_atoms, 3))
    steps[0] = rng.uniform(0, side, size=(n_atoms, 3))
    return np.cumsum(steps, axis=0), np.diag([side] * 3)


def rdf_numpy(xyz, cell):
    n = xyz.shape[1]
    i, j = np.triu_indices(n, k=1)
    hist = np.zeros(BINS, dtype=np.int64)
    inverse = np.linalg.inv(cell)
    for x in xyz:
        s = x @ inverse
        d = s[j] - s[i]
        d -= np.round(d)
        r = np.sqrt(np.einsum("pk,pk->p", d @ cell, d @ cell))
        hist += np.bincount((r[r < R_MAX_A] * (BINS / R_MAX_A)).astype(np.int64), minlength=BINS)[:BINS]
    return 2 * hist  # ordered pairs, like the kernel


def rdf_numba(xyz, cell):
    kernel = pair_histogram_kernel()
    hist = np.zeros((1, 1, BINS), dtype=np.int64)
    species = np.zeros(xyz.shape[1], dtype=np.int64)
    images = image_shifts(cell, R_MAX_A)
    inverse = np.linalg.inv(cell)
    for x in xyz:
        kernel(np.ascontiguousarray(x @ inverse), cell, species, images, R_MAX_A, hist)
    return hist[0, 0]


def msd_numpy(xyz, k):
    buffer = np.zeros((k,) + xyz.shape[1:])
    sums = np.zeros(k)
    lags = np.arange(k)
    for t, x in enumerate(xyz):
        buffer[t % k] = x
        held = min(t, k - 1)
        squared = ((buffer - x) ** 2).sum(axis=(1, 2))  # slot -> |Δr|² summed over atoms
        slots = (t - lags[1:held + 1]) % k
        sums[1:held + 1] += squared[slots]
    return sums


def msd_numba(xyz, k):
    kernel = msd_kernel()
    buffer = np.zeros((k,) + xyz.shape[1:])
    slot_chunk = np.zeros(k, dtype=np.int64)
    sums = np.zeros((1, k, 1))
    origins = np.zeros((1, k), dtype=np.int64)
    species = np.zeros(xyz.shape[1], dtype=np.int64)
    for t, x in enumerate(xyz):
        buffer[t % k] = x
        kernel(buffer, slot_chunk, t, species, sums, origins)
    return sums[0, :, 0]


def frames_of(xyz, cell):
    numbers = np.full(xyz.shape[1], 18)
    inverse = np.linalg.inv(cell)
    for t, x in enumerate(xyz):
        yield Frame(((x @ inverse) % 1.0) @ cell, cell, np.ones(3, bool), numbers, float(t))


def timed(fn, repeats):
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--max-lag", type=int, default=1000, help="MSD ring buffer length K, frames")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    side = (args.atoms / 0.021) ** (1 / 3)
    if side < 2 * R_MAX_A:  # the numpy reference uses the minimum image
        parser.error(f"--atoms {args.atoms} gives a {side:.1f} Å box, smaller than 2 r_max = {2 * R_MAX_A} Å "
                     f"that the minimum-image numpy reference needs: use --atoms >= {int(0.021 * (2 * R_MAX_A) ** 3) + 1}")
    xyz, cell = walk(args.atoms, args.frames)
    k = min(args.max_lag, args.frames)

    compile_s = {}
    for name, warm in (("g(r)", lambda: rdf_numba(xyz[:2, :10], cell)), ("MSD", lambda: msd_numba(xyz[:3, :10], 2))):
        start = time.perf_counter()
        warm()
        compile_s[name] = time.perf_counter() - start

    rows = [
        ("g(r)", "numpy", lambda: rdf_numpy(xyz, cell)),
        ("g(r)", "numba kernel", lambda: rdf_numba(xyz, cell)),
        ("g(r)", "md.analysis.rdf (API)", lambda: rdf(frames_of(xyz, cell), R_MAX_A, BINS).counts["total"]),
        ("MSD", "numpy", lambda: msd_numpy(xyz, k)),
        ("MSD", "numba kernel", lambda: msd_numba(xyz, k)),
        ("MSD", "md.analysis.msd (API)", lambda: msd(frames_of(xyz, cell), max_lag_frames=k).msd_A2),
    ]
    print(f"{args.atoms} atoms × {args.frames} frames; g(r) r_max {R_MAX_A} Å, {BINS} bins; MSD K = {k} lags; "
          f"{args.repeats} repeats (median, min–max); numba compile: g(r) {compile_s['g(r)']:.2f} s, "
          f"MSD {compile_s['MSD']:.2f} s")
    print(f"| {'observable':<10} | {'code':<24} | {'CPU s (median)':>14} | {'CPU min–max':>17} | "
          f"{'wall s (median)':>15} | {'speed-up (CPU)':>14} |")
    print(f"|{'-' * 12}|{'-' * 26}|{'-' * 16}|{'-' * 19}|{'-' * 17}|{'-' * 16}|")
    results, baseline = {}, {}
    for observable, code, fn in rows:
        walls, cpus, out = timed(fn, args.repeats)
        results[(observable, code)] = np.asarray(out, dtype=np.float64)
        median = statistics.median(cpus)
        baseline.setdefault(observable, median)
        spread = f"{min(cpus):.3f}–{max(cpus):.3f}"
        print(f"| {observable:<10} | {code:<24} | {median:>14.3f} | {spread:>17} | {statistics.median(walls):>15.3f} | "
              f"{baseline[observable] / median:>13.1f}× |", flush=True)
    # the versions agree: identical pair counts; MSD sums vs means (numpy/numba kernels hold Σ over origins)
    assert np.array_equal(results[("g(r)", "numpy")], results[("g(r)", "numba kernel")])
    assert np.array_equal(results[("g(r)", "numba kernel")], results[("g(r)", "md.analysis.rdf (API)")])
    assert np.allclose(results[("MSD", "numpy")], results[("MSD", "numba kernel")], rtol=1e-10)
    n_origins = args.frames - np.arange(k)
    means = results[("MSD", "numba kernel")] / (np.maximum(n_origins, 1) * args.atoms)
    assert np.allclose(means[1:], results[("MSD", "md.analysis.msd (API)")][1:], rtol=1e-8)
    print("checked: numpy, numba and the API give the same pair counts and MSD")


if __name__ == "__main__":
    main()
