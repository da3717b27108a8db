// Cubic-spline tabulation of radial functions (the radial MLPs, inference only), shared by the
// CPU and CUDA kernels. Torch-free.
//
// A table (n, 4, M) holds, for each interval [r0 + i h, r0 + (i + 1) h), the coefficients of
// f(t) = c0 + c1 t + c2 t^2 + c3 t^3 in t = (r - r0)/h - i for M functions at once (cubic
// Hermite interpolation of values and exact derivatives, built in Python). Outside the grid the
// first/last interval's cubic is extrapolated.
#pragma once

#include <math.h>
#include <stdint.h>

#include "mlip/hd.h"

namespace mlip {
namespace spline {

// Interval index i in [0, n) and local coordinate t of r.
template <typename T>
MLIP_HD MLIP_INLINE void locate(T r, double r0, double inv_h, int64_t n, int64_t* i, T* t) {
  const double x = (static_cast<double>(r) - r0) * inv_h;
  double fl = floor(x);
  if (!(fl >= 0.0)) fl = 0.0;  // also NaN: never an index outside the table
  if (fl > static_cast<double>(n - 1)) fl = static_cast<double>(n - 1);
  *i = static_cast<int64_t>(fl);
  *t = static_cast<T>(x - fl);
}

// out[m] = f_m(t) for m in [m0, m1); c points at the interval's (4, M) coefficients.
template <typename T>
MLIP_HD MLIP_INLINE void eval(const T* MLIP_RESTRICT c, int64_t M, T t, T* MLIP_RESTRICT out, int64_t m0, int64_t m1) {
  const T* c0 = c;
  const T* c1 = c + M;
  const T* c2 = c + 2 * M;
  const T* c3 = c + 3 * M;
  for (int64_t m = m0; m < m1; ++m) out[m] = c0[m] + t * (c1[m] + t * (c2[m] + t * c3[m]));
}

// sum_m g[m] * d f_m / dt for m in [m0, m1) (times 1/h gives d/dr).
template <typename T>
MLIP_HD MLIP_INLINE T slope_dot(const T* MLIP_RESTRICT c, int64_t M, T t, const T* MLIP_RESTRICT g, int64_t m0,
                                int64_t m1) {
  const T* c1 = c + M;
  const T* c2 = c + 2 * M;
  const T* c3 = c + 3 * M;
  T s = 0;
  for (int64_t m = m0; m < m1; ++m) s += g[m] * (c1[m] + t * (T(2) * c2[m] + T(3) * t * c3[m]));
  return s;
}

}  // namespace spline
}  // namespace mlip
