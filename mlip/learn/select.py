"""Selection: which explored frames go to the oracle.

``uncertainty`` (the loop's strategy): frames whose σ (largest per-atom force spread, eV/Å)
passes the threshold are candidates; up to ``max_per_round`` are kept by farthest-point
sampling on a structure descriptor, starting from the most uncertain frame and counting the
frames labelled so far as already chosen, so near-duplicates of one blind spot (successive
frames of one run) are not all labelled. ``random``: frames drawn uniformly from all samples,
the baseline of a label-efficiency comparison.

The descriptor is a smooth radial fingerprint: for every element pair a Gaussian-smeared
histogram of neighbour distances up to ``cutoff_A`` (counts per atom), plus the composition.
"""
from __future__ import annotations

from itertools import combinations_with_replacement
from typing import List, Optional, Sequence

import numpy as np

N_BINS = 24
WIDTH_A = 0.15


def descriptor(atoms, elements: Sequence[int], cutoff_A: float) -> np.ndarray:
    """Fingerprint vector of ``atoms`` (pairs of ``elements`` by atomic number), dimensionless."""
    centres = np.linspace(0.5, cutoff_A, N_BINS)
    numbers = atoms.numbers
    if atoms.pbc.any():
        from matscipy.neighbours import neighbour_list

        i, j, d = neighbour_list("ijd", atoms, cutoff_A)
    else:  # a molecule (its cell may be zero): all pairs directly
        dist = np.linalg.norm(atoms.positions[:, None, :] - atoms.positions[None, :, :], axis=-1)
        i, j = np.nonzero((dist < cutoff_A) & ~np.eye(len(atoms), dtype=bool))
        d = dist[i, j]
    pairs = list(combinations_with_replacement(sorted(elements), 2))
    blocks = []
    for a, b in pairs:
        mask = (numbers[i] == a) & (numbers[j] == b) if len(i) else np.zeros(0, bool)
        if a != b and len(i):
            mask |= (numbers[i] == b) & (numbers[j] == a)
        dist = d[mask]
        hist = np.exp(-0.5 * ((dist[:, None] - centres[None, :]) / WIDTH_A) ** 2).sum(axis=0) if len(dist) else np.zeros(N_BINS)
        blocks.append(hist / max(len(atoms), 1))
    composition = np.array([(numbers == z).mean() for z in sorted(elements)]) * 10.0
    return np.concatenate(blocks + [composition])


def min_distance_A(atoms) -> float:
    """The shortest interatomic distance of ``atoms`` (minimum image), Å; inf for one atom."""
    if len(atoms) < 2:
        return float("inf")
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return float(d[~np.eye(len(atoms), dtype=bool)].min())


def farthest_point(features: np.ndarray, sigma: np.ndarray, chosen: np.ndarray, n: int) -> List[int]:
    """Indices of up to ``n`` rows of ``features``: first the largest ``sigma``, then each time
    the row farthest (Euclidean) from every row picked so far and from ``chosen`` (features of
    frames already labelled)."""
    if len(features) == 0 or n <= 0:
        return []
    picked = [int(np.argmax(sigma))]
    reference = [chosen] if len(chosen) else []
    distance = np.full(len(features), np.inf)
    for ref in reference:
        distance = np.minimum(distance, _min_distance(features, ref))
    distance = np.minimum(distance, _min_distance(features, features[picked]))
    while len(picked) < min(n, len(features)):
        k = int(np.argmax(distance))
        if distance[k] <= 0.0:  # only exact duplicates left
            break
        picked.append(k)
        distance = np.minimum(distance, _min_distance(features, features[[k]]))
    return picked


def _min_distance(features: np.ndarray, others: np.ndarray) -> np.ndarray:
    diff = features[:, None, :] - others[None, :, :]
    return np.sqrt((diff ** 2).sum(axis=-1)).min(axis=1)


def select(sigmas: Sequence[float], features: np.ndarray, labelled_features: np.ndarray, threshold_eV_per_A: float,
           max_per_round: int, strategy: str, rng: np.random.Generator,
           max_sigma_eV_per_A: Optional[float] = None) -> List[int]:
    """Indices of the samples to label this round (see the module docstring).

    Args:
        sigmas: each sample's σ, eV/Å.
        features: (n_samples, d) descriptors.
        labelled_features: (n_labelled, d) descriptors of the frames labelled so far.
        threshold_eV_per_A: σ above which a sample is a candidate, eV/Å.
        max_per_round: most samples returned.
        strategy: "uncertainty" or "random".
        rng: the random generator of ``random``.
        max_sigma_eV_per_A: upper trust level, eV/Å: samples above it are not candidates.
    """
    sigmas = np.asarray(sigmas, dtype=float)
    if strategy == "random":  # any sample the loop did not rule out (σ = -inf: a collapsed frame)
        eligible = np.flatnonzero(np.isfinite(sigmas))
        n = min(max_per_round, len(eligible))
        return sorted(eligible[rng.choice(len(eligible), size=n, replace=False)].tolist()) if n else []
    upper = np.inf if max_sigma_eV_per_A is None else max_sigma_eV_per_A
    candidates = np.flatnonzero((sigmas > threshold_eV_per_A) & (sigmas <= upper))
    if len(candidates) == 0:
        return []
    picked = farthest_point(features[candidates], sigmas[candidates], labelled_features, max_per_round)
    return sorted(int(candidates[k]) for k in picked)
