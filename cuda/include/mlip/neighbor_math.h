// Per-pair and per-bin math of the cell-list neighbour search, shared by the CPU (C++) and
// CUDA kernels. Torch-free.
//
// Geometry (built on the host, see neighbor_geometry.h): a working basis W whose rows are the
// periodic lattice vectors of the cell (unchanged, so image shifts refer to the real cell)
// completed by unit vectors orthogonal to them along the non-periodic directions. Atoms are
// binned on a grid of n[d] bins along each fractional axis d; every bin is at least `cutoff`
// thick / kBinsPerCutoff (distance between its faces; a periodic axis too short for that gets one
// bin) and `reach[d]` = ceil(cutoff / bin thickness) bins (or images) are searched each way.
// Bins whose distance to the receiver is at least the cutoff are skipped: per axis the gap
// between the receiver and the bin's slab is exact; the distance bound combines the axes as
// sqrt(sum gap^2) for orthogonal bases and max(gap) otherwise.
#pragma once

#include <math.h>
#include <stdint.h>

#include "mlip/hd.h"

namespace mlip {
namespace nl {

struct Grid {
  double basis[9];    // W, rows = working lattice vectors (Å), row-major
  double inverse[9];  // W^-1 (column d gives fractional coordinate d), row-major
  double origin[3];   // fractional origin subtracted along non-periodic axes
  double scale[3];    // bins per unit fractional coordinate along each axis
  double thickness[3];  // Å between the lattice planes of each axis, per unit fractional coordinate
  int n[3];             // bins per axis
  int reach[3];         // bins searched on each side along each axis
  int periodic[3];      // 1 where periodic
  int orthogonal;       // 1 when the basis rows are mutually orthogonal (sharper bin pruning)
};

// floor(a / n) for n > 0.
MLIP_HD MLIP_INLINE int floor_div(int a, int n) { return a >= 0 ? a / n : -((-a + n - 1) / n); }

// Bin coordinate of a (wrapped) fractional coordinate, clamped into [0, n).
MLIP_HD MLIP_INLINE int bin_of(double f, double scale, int n) {
  int b = static_cast<int>(f * scale);
  if (f * scale < 0.0) b = 0;
  return b < 0 ? 0 : (b >= n ? n - 1 : b);
}

MLIP_HD MLIP_INLINE int linear_bin(const Grid& g, int b0, int b1, int b2) {
  return (b0 * g.n[1] + b1) * g.n[2] + b2;
}

// Neighbouring bin b + k along axis d: the wrapped bin and its image shift along d.
// Returns false when the bin lies outside a non-periodic axis.
MLIP_HD MLIP_INLINE bool image_bin(const Grid& g, int d, int b_plus_k, int* bin, int* shift) {
  const int n = g.n[d];
  if (b_plus_k >= 0 && b_plus_k < n) {  // inside the home cell (the common case)
    *shift = 0;
    *bin = b_plus_k;
    return true;
  }
  if (g.periodic[d]) {
    const int s = floor_div(b_plus_k, n);
    *shift = s;
    *bin = b_plus_k - s * n;
    return true;
  }
  *shift = 0;
  *bin = b_plus_k;
  return b_plus_k >= 0 && b_plus_k < n;
}

// Squared gap (Å^2) between a point at bin coordinate fb (fractional coordinate times scale)
// and the slab of (unwrapped) bin b along axis d, measured perpendicular to the axis' planes.
MLIP_HD MLIP_INLINE double bin_gap2(const Grid& g, int d, double fb, int b) {
  double gap = 0.0;
  if (fb < b) gap = b - fb;
  else if (fb > b + 1) gap = fb - (b + 1);
  if (g.scale[d] <= 0.0) return 0.0;
  gap *= g.thickness[d] / g.scale[d];
  return gap * gap;
}

// Lower bound (Å^2) of the squared distance between a point of one bin and a point of the bin k
// bins further along axis d: (|k| - 1) bin thicknesses, measured perpendicular to the planes.
MLIP_HD MLIP_INLINE double bin_pair_gap2(const Grid& g, int d, int k) {
  const int a = k < 0 ? -k - 1 : (k > 0 ? k - 1 : 0);
  if (g.scale[d] <= 0.0) return 0.0;
  const double gap = a * (g.thickness[d] / g.scale[d]);
  return gap * gap;
}

// Combined lower bound from per-axis squared gaps: their sum for orthogonal bases, else the max.
MLIP_HD MLIP_INLINE double combine_gap2(const Grid& g, double a, double b) {
  return g.orthogonal ? a + b : (a > b ? a : b);
}

// Cartesian offset s @ W of an integer image shift (Å).
MLIP_HD MLIP_INLINE void shift_vector(const Grid& g, int s0, int s1, int s2, double* out) {
  for (int c = 0; c < 3; ++c)
    out[c] = s0 * g.basis[c] + s1 * g.basis[3 + c] + s2 * g.basis[6 + c];
}

// The pair test: |p_j + offset - p_i|^2 < cutoff^2, with wrapped Cartesian positions.
MLIP_HD MLIP_INLINE bool within_cutoff(const double* MLIP_RESTRICT pi, const double* MLIP_RESTRICT pj,
                                       const double* MLIP_RESTRICT offset, double cutoff2) {
  const double dx = pj[0] + offset[0] - pi[0];
  const double dy = pj[1] + offset[1] - pi[1];
  const double dz = pj[2] + offset[2] - pi[2];
  return dx * dx + dy * dy + dz * dz < cutoff2;
}

// Total image shift of a pair found between wrapped atoms: the wrapped-frame shift plus
// the lattice vectors removed from i and j when they were wrapped, r_ij = p_j - p_i + S @ W.
MLIP_HD MLIP_INLINE int64_t total_shift(int s_wrapped, int64_t wrap_i, int64_t wrap_j) {
  return static_cast<int64_t>(s_wrapped) - wrap_j + wrap_i;
}

// Order of neighbours within a receiver's list: by sender, then shift (lexicographic).
MLIP_HD MLIP_INLINE bool neighbor_less(int64_t ja, const int64_t* sa, int64_t jb, const int64_t* sb) {
  if (ja != jb) return ja < jb;
  if (sa[0] != sb[0]) return sa[0] < sb[0];
  if (sa[1] != sb[1]) return sa[1] < sb[1];
  return sa[2] < sb[2];
}

}  // namespace nl
}  // namespace mlip

namespace mlip {
namespace nl {

// Wrap one atom into the working cell: fractional coordinates f = p W^-1; along periodic axes
// the integer part is removed (wrap[d] = floor(f_d)), along non-periodic ones the origin.
// Outputs the wrapped Cartesian position p - wrap @ W, the wrap counts and the linear bin.
MLIP_HD MLIP_INLINE void wrap_atom(const Grid& g, const double* MLIP_RESTRICT p, double* MLIP_RESTRICT pw,
                                   int64_t* MLIP_RESTRICT wrap, int* MLIP_RESTRICT bin) {
  int b[3];
  double w[3];
  for (int d = 0; d < 3; ++d) {
    double f = p[0] * g.inverse[d] + p[1] * g.inverse[3 + d] + p[2] * g.inverse[6 + d];
    if (g.periodic[d]) {
      const double fl = floor(f);
      wrap[d] = static_cast<int64_t>(fl);
      w[d] = fl;
      f -= fl;
    } else {
      wrap[d] = 0;
      w[d] = 0.0;
      f -= g.origin[d];
    }
    b[d] = bin_of(f, g.scale[d], g.n[d]);
  }
  for (int c = 0; c < 3; ++c)
    pw[c] = p[c] - (w[0] * g.basis[c] + w[1] * g.basis[3 + c] + w[2] * g.basis[6 + c]);
  *bin = linear_bin(g, b[0], b[1], b[2]);
}

// Bin coordinates of a linear bin index.
MLIP_HD MLIP_INLINE void bin_coords(const Grid& g, int bin, int* b) {
  b[2] = bin % g.n[2];
  b[1] = (bin / g.n[2]) % g.n[1];
  b[0] = bin / (g.n[1] * g.n[2]);
}

// Visit every neighbour of receiver i: for each of the (2 reach + 1)^3 image bins around i's
// bin, every atom m of that bin (positions sorted by bin: `sorted_pos` (3 per atom), atom ids
// `order`, bin m-range [bin_start[b], bin_start[b + 1])) with |r| < cutoff, except i itself in
// the home image. Calls visit(m, j, s0, s1, s2) (m: position of j in the bin-sorted arrays)
// with the wrapped-frame image shift; the order of
// the visits is fixed (bins, then atoms by index), so results are deterministic.
template <typename Visit>
MLIP_HD MLIP_INLINE void for_each_neighbor(const Grid& g, int64_t i, const double* MLIP_RESTRICT pi, int bin_i,
                                           const int64_t* MLIP_RESTRICT bin_start,
                                           const double* MLIP_RESTRICT sorted_pos,
                                           const int64_t* MLIP_RESTRICT order, double cutoff2, Visit& visit) {
  int bi[3];
  bin_coords(g, bin_i, bi);
  // receiver's coordinate along each axis, in bins (wrapped frame; origin removed)
  double fb[3];
  for (int d = 0; d < 3; ++d) {
    double f = pi[0] * g.inverse[d] + pi[1] * g.inverse[3 + d] + pi[2] * g.inverse[6 + d];
    if (!g.periodic[d]) f -= g.origin[d];
    fb[d] = f * g.scale[d];
  }
  for (int k0 = -g.reach[0]; k0 <= g.reach[0]; ++k0) {
    int w0, s0;
    if (!image_bin(g, 0, bi[0] + k0, &w0, &s0)) continue;
    const double q0 = bin_gap2(g, 0, fb[0], bi[0] + k0);
    if (q0 >= cutoff2) continue;
    for (int k1 = -g.reach[1]; k1 <= g.reach[1]; ++k1) {
      int w1, s1;
      if (!image_bin(g, 1, bi[1] + k1, &w1, &s1)) continue;
      const double q1 = bin_gap2(g, 1, fb[1], bi[1] + k1);
      const double q01 = g.orthogonal ? q0 + q1 : (q0 > q1 ? q0 : q1);
      if (q01 >= cutoff2) continue;
      const int base = (w0 * g.n[1] + w1) * g.n[2];
      double off01[3];
      for (int c = 0; c < 3; ++c) off01[c] = s0 * g.basis[c] + s1 * g.basis[3 + c];
      // along axis 2, consecutive bins with the same image shift are one contiguous run of atoms
      int k2 = -g.reach[2];
      while (k2 <= g.reach[2]) {
        int w2, s2;
        if (!image_bin(g, 2, bi[2] + k2, &w2, &s2) ||
            (g.orthogonal ? q01 + bin_gap2(g, 2, fb[2], bi[2] + k2)
                          : fmax(q01, bin_gap2(g, 2, fb[2], bi[2] + k2))) >= cutoff2) {
          ++k2;
          continue;
        }
        int last = w2;
        while (k2 < g.reach[2]) {
          int wn, sn;
          if (!image_bin(g, 2, bi[2] + k2 + 1, &wn, &sn) || sn != s2 || wn != last + 1) break;
          const double qn = bin_gap2(g, 2, fb[2], bi[2] + k2 + 1);
          if ((g.orthogonal ? q01 + qn : fmax(q01, qn)) >= cutoff2) break;
          last = wn;
          ++k2;
        }
        ++k2;
        const double off[3] = {off01[0] + s2 * g.basis[6], off01[1] + s2 * g.basis[7], off01[2] + s2 * g.basis[8]};
        const bool home = s0 == 0 && s1 == 0 && s2 == 0;
        const int64_t m_end = bin_start[base + last + 1];
        for (int64_t m = bin_start[base + w2]; m < m_end; ++m) {
          if (!within_cutoff(pi, sorted_pos + 3 * m, off, cutoff2)) continue;
          const int64_t j = order[m];
          if (home && j == i) continue;
          visit(m, j, s0, s1, s2);
        }
      }
    }
  }
}

}  // namespace nl
}  // namespace mlip
