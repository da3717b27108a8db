// The steps of the device neighbour list (one thread per structure or per atom), shared by the
// CUDA kernels (cuda/kernels/neighbor_list_kernels.cu) and by their host rehearsal (the CPU op
// mlip::_neighbor_list_pipeline, which runs the same bodies in loops). Torch-free.
//
// The whole batch goes through each step at once; the driver between the steps
// (cuda/torch/neighbor_list_pipeline.cpp) only uses tensor operations that stay on the device
// (sort, searchsorted, cumsum, scatter reductions), and reads back one small vector: the
// number of edges and the first bad atom / structure of each kind, so the list costs one
// device->host copy and bad input still gets the CPU op's error messages.
//
//   1. grid_step     per structure: working grid from cell and pbc (neighbor_geometry.h), or a
//                    fallback grid and status kGridDegenerate
//   2. atom_step     per atom: flags (non-finite position, system index out of range or
//                    decreasing), the clamped structure index, fractional coordinates
//   (driver: extents of the open axes per structure, atoms per structure)
//   3. finish_step   per structure: bins (finish_grid; at most max(64, 2 n) bins) and their count
//   (driver: exclusive prefix sum of the bin counts -> each structure's first global bin)
//   4. wrap_step     per atom: wrapped position, wrap counts, global bin key
//   (driver: stable sort of the keys -> order, bin starts, bin-sorted positions)
//   5. count_step    per receiver: number of neighbours (for_each_neighbor, neighbor_math.h)
//   (driver: prefix sum -> segment starts; the one read-back; errors raised here)
//   6. fill_step     per receiver: its segment of (i, j, shift), sorted by (sender, shift)
// Every step reads only in-range memory whatever the input (indices are clamped, non-finite
// positions are replaced by 0), so bad input cannot crash a kernel before the read-back.
#pragma once

#include <stdint.h>

#include "mlip/neighbor_geometry.h"
#include "mlip/neighbor_math.h"

namespace mlip {
namespace nl {

// Atom flags written by atom_step.
enum AtomFlag : uint8_t { kAtomNonFinite = 1, kAtomSystemOutOfRange = 2, kAtomSystemDecreasing = 4 };

// 1. Structure s: grids[s] and status[s] (kGridOk or kGridDegenerate).
MLIP_HD MLIP_INLINE void grid_step(int64_t s, const double* MLIP_RESTRICT cell, const bool* MLIP_RESTRICT pbc,
                                   Grid* MLIP_RESTRICT grids, int32_t* MLIP_RESTRICT status) {
  Grid g;
  const int err = build_working_grid(cell + 9 * s, pbc + 3 * s, &g);
  grids[s] = err == kGridOk ? g : fallback_grid();
  status[s] = err;
}

// The atom's position, or the origin when it is not finite.
MLIP_HD MLIP_INLINE void safe_position(const double* MLIP_RESTRICT pos, int64_t a, double* p) {
  const double* q = pos + 3 * a;
  const bool ok = isfinite(q[0]) && isfinite(q[1]) && isfinite(q[2]);
  for (int c = 0; c < 3; ++c) p[c] = ok ? q[c] : 0.0;
}

// 2. Atom a of n_atoms (n_sys >= 1): flags[a], sys[a] (system_index clamped into [0, n_sys)),
// frac[3a..3a+3) (fractional coordinates in its structure's working basis).
MLIP_HD MLIP_INLINE void atom_step(int64_t a, int64_t n_sys, const double* MLIP_RESTRICT pos,
                                   const int64_t* MLIP_RESTRICT system_index, const Grid* MLIP_RESTRICT grids,
                                   uint8_t* MLIP_RESTRICT flags, int64_t* MLIP_RESTRICT sys,
                                   double* MLIP_RESTRICT frac) {
  const double* q = pos + 3 * a;
  uint8_t f = (isfinite(q[0]) && isfinite(q[1]) && isfinite(q[2])) ? 0 : kAtomNonFinite;
  int64_t s = system_index[a];
  if (s < 0 || s >= n_sys) {
    f |= kAtomSystemOutOfRange;
    s = s < 0 ? 0 : n_sys - 1;
  }
  if (a > 0 && system_index[a] < system_index[a - 1]) f |= kAtomSystemDecreasing;
  flags[a] = f;
  sys[a] = s;
  double p[3];
  safe_position(pos, a, p);
  for (int d = 0; d < 3; ++d) frac[3 * a + d] = fractional(grids[s], p, d);
}

// 3. Structure s with n_in_system[s] atoms: bins of its grid (fmin/fmax: extents of the
// fractional coordinates along open axes, (n_sys, 3)); n_bins[s] = their number.
MLIP_HD MLIP_INLINE void finish_step(int64_t s, const double* MLIP_RESTRICT fmin, const double* MLIP_RESTRICT fmax,
                                     const int64_t* MLIP_RESTRICT n_in_system, double cutoff,
                                     Grid* MLIP_RESTRICT grids, int64_t* MLIP_RESTRICT n_bins) {
  Grid& g = grids[s];
  const int64_t n = n_in_system[s];
  finish_grid(g, fmin + 3 * s, fmax + 3 * s, cutoff, 2 * n > 64 ? 2 * n : 64);
  n_bins[s] = static_cast<int64_t>(g.n[0]) * g.n[1] * g.n[2];
}

// Upper bound of the total number of bins of a batch (finish_step caps each structure).
MLIP_HD MLIP_INLINE int64_t max_total_bins(int64_t n_atoms, int64_t n_sys) { return 64 * n_sys + 2 * n_atoms; }

// 4. Atom a: wrapped position pw, wrap counts, global bin key (first_bin[s] + bin in s).
MLIP_HD MLIP_INLINE void wrap_step(int64_t a, const double* MLIP_RESTRICT pos, const int64_t* MLIP_RESTRICT sys,
                                   const Grid* MLIP_RESTRICT grids, const int64_t* MLIP_RESTRICT first_bin,
                                   double* MLIP_RESTRICT pw, int64_t* MLIP_RESTRICT wrap, int64_t* MLIP_RESTRICT key) {
  double p[3];
  safe_position(pos, a, p);
  const int64_t s = sys[a];
  int b;
  wrap_atom(grids[s], p, pw + 3 * a, wrap + 3 * a, &b);
  key[a] = first_bin[s] + b;
}

// The bin-sorted arrays the search reads (step 4 + the driver's sort).
struct SortedAtoms {
  const int64_t* sys;        // (n,) structure of each atom
  const int64_t* key;        // (n,) global bin of each atom
  const double* pw;          // (n, 3) wrapped positions, by atom
  const int64_t* wrap;       // (n, 3) wrap counts, by atom
  const int64_t* first_bin;  // (n_sys,) first global bin of each structure
  const int64_t* bin_start;  // (total bins + 1,) first bin-sorted position of each global bin
  const double* sorted_pos;  // (n, 3) wrapped positions, bin-sorted
  const int64_t* order;      // (n,) atom at each bin-sorted position
};

struct CountVisitor {
  int64_t count;
  MLIP_HD void operator()(int64_t, int64_t, int, int, int) { ++count; }
};

// 5. Receiver i: its number of neighbours.
MLIP_HD MLIP_INLINE int64_t count_step(int64_t i, const Grid* MLIP_RESTRICT grids, const SortedAtoms& at,
                                       double cutoff2) {
  const int64_t s = at.sys[i];
  CountVisitor c{0};
  for_each_neighbor(grids[s], i, at.pw + 3 * i, static_cast<int>(at.key[i] - at.first_bin[s]),
                    at.bin_start + at.first_bin[s], at.sorted_pos, at.order, cutoff2, c);
  return c.count;
}

struct FillVisitor {
  int64_t i, at, end;
  const int64_t* wrap;
  int64_t* index_i;
  int64_t* index_j;
  int64_t* shift;
  MLIP_HD void operator()(int64_t, int64_t j, int s0, int s1, int s2) {
    if (at >= end) return;  // never past the counted segment
    index_i[at] = i;
    index_j[at] = j;
    shift[3 * at] = total_shift(s0, wrap[3 * i], wrap[3 * j]);
    shift[3 * at + 1] = total_shift(s1, wrap[3 * i + 1], wrap[3 * j + 1]);
    shift[3 * at + 2] = total_shift(s2, wrap[3 * i + 2], wrap[3 * j + 2]);
    ++at;
  }
};

// 6. Receiver i: writes its segment [first[i], first[i] + count[i]) of index_i, index_j and
// shift (E, 3), sorted by (sender, shift) (insertion sort: segments hold tens of entries).
MLIP_HD MLIP_INLINE void fill_step(int64_t i, const Grid* MLIP_RESTRICT grids, const SortedAtoms& at,
                                   double cutoff2, const int64_t* MLIP_RESTRICT first,
                                   const int64_t* MLIP_RESTRICT count, int64_t* MLIP_RESTRICT index_i,
                                   int64_t* MLIP_RESTRICT index_j, int64_t* MLIP_RESTRICT shift) {
  const int64_t s = at.sys[i];
  const int64_t begin = first[i];
  FillVisitor wr{i, begin, begin + count[i], at.wrap, index_i, index_j, shift};
  for_each_neighbor(grids[s], i, at.pw + 3 * i, static_cast<int>(at.key[i] - at.first_bin[s]),
                    at.bin_start + at.first_bin[s], at.sorted_pos, at.order, cutoff2, wr);
  for (int64_t a = begin + 1; a < wr.at; ++a) {
    const int64_t j = index_j[a];
    const int64_t sa[3] = {shift[3 * a], shift[3 * a + 1], shift[3 * a + 2]};
    int64_t b = a - 1;
    while (b >= begin && neighbor_less(j, sa, index_j[b], shift + 3 * b)) {
      index_j[b + 1] = index_j[b];
      for (int c = 0; c < 3; ++c) shift[3 * (b + 1) + c] = shift[3 * b + c];
      --b;
    }
    index_j[b + 1] = j;
    for (int c = 0; c < 3; ++c) shift[3 * (b + 1) + c] = sa[c];
  }
}

}  // namespace nl
}  // namespace mlip
