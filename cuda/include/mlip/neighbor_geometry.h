// Set-up of the cell-list grid of one structure (see neighbor_math.h). Torch-free; host and
// device (the CPU kernel builds grids on the host, the CUDA pipeline one thread per structure).
#pragma once

#include <math.h>
#include <stdint.h>

#include <stdexcept>

#include "mlip/neighbor_math.h"

namespace mlip {
namespace nl {

namespace detail {
MLIP_HD MLIP_INLINE void cross(const double* a, const double* b, double* out) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}
MLIP_HD MLIP_INLINE double norm(const double* a) { return sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]); }
MLIP_HD MLIP_INLINE bool normalize(double* a) {
  const double n = norm(a);
  if (!(n > 1e-300)) return false;
  for (int c = 0; c < 3; ++c) a[c] /= n;
  return true;
}
MLIP_HD MLIP_INLINE bool invert3(const double* m, double* inv) {
  const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                     m[2] * (m[3] * m[7] - m[4] * m[6]);
  if (det == 0.0 || !isfinite(det)) return false;
  const double r = 1.0 / det;
  inv[0] = (m[4] * m[8] - m[5] * m[7]) * r;
  inv[1] = (m[2] * m[7] - m[1] * m[8]) * r;
  inv[2] = (m[1] * m[5] - m[2] * m[4]) * r;
  inv[3] = (m[5] * m[6] - m[3] * m[8]) * r;
  inv[4] = (m[0] * m[8] - m[2] * m[6]) * r;
  inv[5] = (m[2] * m[3] - m[0] * m[5]) * r;
  inv[6] = (m[3] * m[7] - m[4] * m[6]) * r;
  inv[7] = (m[1] * m[6] - m[0] * m[7]) * r;
  inv[8] = (m[0] * m[4] - m[1] * m[3]) * r;
  return true;
}
MLIP_HD MLIP_INLINE double dmax(double a, double b) { return a > b ? a : b; }
MLIP_HD MLIP_INLINE double dmin(double a, double b) { return a < b ? a : b; }
MLIP_HD MLIP_INLINE int imax(int a, int b) { return a > b ? a : b; }
}  // namespace detail

// Result of build_working_grid.
enum GridStatus : int { kGridOk = 0, kGridDegenerate = 1 };

constexpr const char* kDegenerateCellMessage =
    "degenerate cell along a periodic direction: give a full-rank cell (periodic lattice "
    "vectors must be non-zero and linearly independent)";

// A harmless grid (identity basis, nothing periodic, one bin) for a structure whose cell was
// refused: the device pipeline keeps running on it and raises the error afterwards.
MLIP_HD MLIP_INLINE Grid fallback_grid() {
  Grid g{};
  for (int d = 0; d < 3; ++d) {
    g.basis[4 * d] = 1.0;
    g.inverse[4 * d] = 1.0;
    g.n[d] = 1;
    g.reach[d] = 1;
    g.scale[d] = 1.0;
    g.thickness[d] = 1.0;
  }
  g.orthogonal = 1;
  return g;
}

// Step 1: the working basis. Periodic rows of `cell` (row-major 3x3, Å) are kept; the other
// rows become unit vectors orthogonal to the periodic rows and to each other, so fractional
// coordinates along non-periodic axes are plain Cartesian distances (Å). Host and device;
// returns kGridDegenerate (and leaves *out unspecified) for a degenerate periodic cell.
MLIP_HD MLIP_INLINE int build_working_grid(const double* cell, const bool* pbc, Grid* out) {
  Grid g{};
  int per[3] = {0, 0, 0}, n_per = 0, non[3] = {0, 0, 0}, n_non = 0;
  for (int d = 0; d < 3; ++d) {
    g.periodic[d] = pbc[d] ? 1 : 0;
    if (pbc[d]) per[n_per++] = d; else non[n_non++] = d;
  }
  double* W = g.basis;
  for (int d = 0; d < 3; ++d)
    for (int c = 0; c < 3; ++c) W[3 * d + c] = pbc[d] ? cell[3 * d + c] : 0.0;
  if (n_per == 2) {
    double nrm[3];
    detail::cross(W + 3 * per[0], W + 3 * per[1], nrm);
    const double scale = detail::norm(W + 3 * per[0]) * detail::norm(W + 3 * per[1]);
    if (!(detail::norm(nrm) > 1e-12 * scale) || !detail::normalize(nrm)) return kGridDegenerate;
    for (int c = 0; c < 3; ++c) W[3 * non[0] + c] = nrm[c];
  } else if (n_per == 1) {
    const double* a = W + 3 * per[0];
    if (!(detail::norm(a) > 0.0)) return kGridDegenerate;
    int least = 0;  // Cartesian axis least aligned with a
    for (int c = 1; c < 3; ++c)
      if (fabs(a[c]) < fabs(a[least])) least = c;
    double e[3] = {0.0, 0.0, 0.0}, u[3], v[3];
    e[least] = 1.0;
    detail::cross(a, e, u);
    detail::normalize(u);
    detail::cross(a, u, v);
    detail::normalize(v);
    for (int c = 0; c < 3; ++c) {
      W[3 * non[0] + c] = u[c];
      W[3 * non[1] + c] = v[c];
    }
  } else if (n_per == 0) {
    for (int d = 0; d < 3; ++d) W[4 * d] = 1.0;
  }
  if (n_per == 3) {
    double c01[3];
    detail::cross(W, W + 3, c01);
    const double vol = fabs(c01[0] * W[6] + c01[1] * W[7] + c01[2] * W[8]);
    const double scale = detail::norm(W) * detail::norm(W + 3) * detail::norm(W + 6);
    if (!(vol > 1e-12 * scale)) return kGridDegenerate;
  }
  if (!detail::invert3(W, g.inverse)) return kGridDegenerate;
  {
    const double n0 = detail::norm(W), n1 = detail::norm(W + 3), n2 = detail::norm(W + 6);
    const double d01 = fabs(W[0] * W[3] + W[1] * W[4] + W[2] * W[5]) / (n0 * n1);
    const double d02 = fabs(W[0] * W[6] + W[1] * W[7] + W[2] * W[8]) / (n0 * n2);
    const double d12 = fabs(W[3] * W[6] + W[4] * W[7] + W[5] * W[8]) / (n1 * n2);
    g.orthogonal = (d01 < 1e-12 && d02 < 1e-12 && d12 < 1e-12) ? 1 : 0;
  }
  for (int d = 0; d < 3; ++d) {
    g.n[d] = 1;
    g.reach[d] = 1;
    g.scale[d] = 1.0;
    g.origin[d] = 0.0;
  }
  *out = g;
  return kGridOk;
}

// Host convenience: build_working_grid, throwing std::invalid_argument for a degenerate cell.
inline Grid working_grid(const double* cell, const bool* pbc) {
  Grid g;
  if (build_working_grid(cell, pbc, &g) != kGridOk) throw std::invalid_argument(kDegenerateCellMessage);
  return g;
}

// Fractional coordinate d of a Cartesian position.
MLIP_HD MLIP_INLINE double fractional(const Grid& g, const double* p, int d) {
  return p[0] * g.inverse[d] + p[1] * g.inverse[3 + d] + p[2] * g.inverse[6 + d];
}

// Bins per cutoff length along each axis (finer bins + pruning test fewer candidate pairs).
constexpr double kBinsPerCutoff = 2.0;

// Step 2: bins. `fmin`/`fmax` are the extents of the atoms' fractional coordinates along the
// non-periodic axes (ignored along periodic ones). Bins are about cutoff / `bins_per_cutoff`
// thick; their number is capped near `max_bins` (>= 1) by coarsening (the search reach follows
// the bin thickness).
MLIP_HD MLIP_INLINE void finish_grid(Grid& g, const double* fmin, const double* fmax, double cutoff, int64_t max_bins,
                                     double bins_per_cutoff = kBinsPerCutoff) {
  double thickness[3];  // Å per unit fractional coordinate (distance between lattice planes)
  for (int d = 0; d < 3; ++d) {
    if (g.periodic[d]) {
      const double col = sqrt(g.inverse[d] * g.inverse[d] + g.inverse[3 + d] * g.inverse[3 + d] +
                              g.inverse[6 + d] * g.inverse[6 + d]);
      thickness[d] = 1.0 / col;
      g.origin[d] = 0.0;
    } else {
      thickness[d] = detail::dmax(fmax[d] - fmin[d], 0.0);  // unit axis: fractional = Å
      g.origin[d] = fmin[d];
    }
    g.thickness[d] = thickness[d];
    const double bins = floor(bins_per_cutoff * thickness[d] / cutoff);
    g.n[d] = static_cast<int>(detail::dmin(detail::dmax(bins, 1.0), 1.0e6));
  }
  const double limit = static_cast<double>(max_bins > 1 ? max_bins : 1);
  while (static_cast<double>(g.n[0]) * g.n[1] * g.n[2] > limit) {
    const double f = cbrt(static_cast<double>(g.n[0]) * g.n[1] * g.n[2] / limit);
    for (int d = 0; d < 3; ++d) g.n[d] = detail::imax(1, static_cast<int>(floor(g.n[d] / detail::dmax(f, 1.0001))));
  }
  for (int d = 0; d < 3; ++d) {
    if (g.periodic[d]) {
      g.scale[d] = g.n[d];
      // bin thickness thickness/n; search enough bins to cover the cutoff
      g.reach[d] = detail::imax(1, static_cast<int>(ceil(cutoff * g.n[d] / thickness[d] - 1e-12)));
    } else {
      g.scale[d] = thickness[d] > 0.0 ? g.n[d] / thickness[d] : 0.0;
      g.reach[d] = thickness[d] > 0.0 ? detail::imax(1, static_cast<int>(ceil(cutoff * g.n[d] / thickness[d] - 1e-12))) : 1;
      g.thickness[d] = 1.0;  // unit axis: fractional coordinate = Å
    }
  }
}

}  // namespace nl
}  // namespace mlip
