// Per-edge math of the fused channelwise ("uvu") tensor-product convolution, shared by the
// CPU (C++) and CUDA kernels. Torch-free: plain pointers, strides and channel counts.
//
// The Clebsch-Gordan structure is a sparse table of K entries, each (k1, k2, k3, p) with a
// coefficient c_k (the CG value times the path normalisation alpha_p):
//
//   out[i, c, k3] += sum_{e: receiver(e) = i} sum_k  c_k * sh[e, k2] * w[e, p, c] * x[s(e), c, k1]
//
// The table is stored as int32 (K, 4) rows {k1, k2, k3, p} plus coefficients (K,), built in
// Python from the same path list and normalisation as the pure-torch reference.
//
// Channel blocks: every function works on the channels [0, nc) of row-major blocks whose rows
// (one per irrep component or path) are `ld*` elements apart. The CPU kernels pass blocks of
// NC = 8..16 consecutive channels (compile-time NC, so the channel loop becomes SIMD code);
// the CUDA kernels pass NC = 1 and point each thread at its own channel.
#pragma once

#include <stdint.h>

#include "mlip/hd.h"

namespace mlip {
namespace tp {

// Entry k of the table.
struct Entry {
  int k1, k2, k3, p;
};

MLIP_HD MLIP_INLINE Entry entry(const int32_t* MLIP_RESTRICT idx, int k) {
  return Entry{idx[4 * k], idx[4 * k + 1], idx[4 * k + 2], idx[4 * k + 3]};
}

// a_k = c_k * sh[k2_k], computed on the fly (CUDA: no per-thread arrays).
template <typename T>
struct EdgeCoefficients {
  const int32_t* idx;
  const T* coeff;
  const T* sh;  // the edge's harmonics (or any vector in their place), (D2,)
  MLIP_HD MLIP_INLINE T operator()(int k) const { return coeff[k] * sh[idx[4 * k + 1]]; }
};

// a_k read from a table filled once per edge by `edge_coefficients` (CPU: reused by every
// channel block).
template <typename T>
struct TabulatedCoefficients {
  const T* a;
  MLIP_HD MLIP_INLINE T operator()(int k) const { return a[k]; }
};

template <typename T>
MLIP_HD MLIP_INLINE void edge_coefficients(int n_entries, const int32_t* MLIP_RESTRICT idx,
                                           const T* MLIP_RESTRICT coeff, const T* MLIP_RESTRICT sh,
                                           T* MLIP_RESTRICT a) {
  for (int k = 0; k < n_entries; ++k) a[k] = coeff[k] * sh[idx[4 * k + 1]];
}

// Forward, one edge:  acc[k3, c] += a_k * w[p, c] * x[k1, c]   for c < nc.
// x: sender features (D1 rows, ldx apart); w: edge weights (P rows, ldw apart);
// acc: receiver accumulator (D3 rows, lda apart).  NC > 0 fixes nc at compile time.
template <int NC, typename T, typename Coef>
MLIP_HD MLIP_INLINE void forward_edge(int n_entries, const int32_t* MLIP_RESTRICT idx, Coef a,
                                      const T* MLIP_RESTRICT x, int ldx, const T* MLIP_RESTRICT w,
                                      int ldw, T* MLIP_RESTRICT acc, int lda, int nc_runtime) {
  const int nc = NC > 0 ? NC : nc_runtime;
  for (int k = 0; k < n_entries; ++k) {
    const Entry en = entry(idx, k);
    const T ak = a(k);
    const T* MLIP_RESTRICT xr = x + en.k1 * ldx;
    const T* MLIP_RESTRICT wr = w + en.p * ldw;
    T* MLIP_RESTRICT ar = acc + en.k3 * lda;
#if !defined(__CUDA_ARCH__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
    for (int c = 0; c < nc; ++c) ar[c] += ak * (wr[c] * xr[c]);
  }
}

// Backward, one edge, all three input gradients fused (g = dL/d out of the edge's receiver):
//   gx [k1, c] += a_k * w[p, c] * g[k3, c]            (accumulated over the sender's edges)
//   gw [p,  c] += a_k * x[k1, c] * g[k3, c]           (this edge's weight gradient)
//   gsh[k2, c] += c_k * w[p, c] * x[k1, c] * g[k3, c] (per-channel partials of dL/d sh[e, k2];
//                                                      the caller sums them over channels)
// GX, GW, GSH select which gradients are computed.
template <int NC, bool GX, bool GW, bool GSH, typename T, typename Coef>
MLIP_HD MLIP_INLINE void backward_edge(int n_entries, const int32_t* MLIP_RESTRICT idx,
                                       const T* MLIP_RESTRICT coeff, Coef a,
                                       const T* MLIP_RESTRICT x, int ldx,
                                       const T* MLIP_RESTRICT w, int ldw,
                                       const T* MLIP_RESTRICT g, int ldg,
                                       T* MLIP_RESTRICT gx, int ldgx,
                                       T* MLIP_RESTRICT gw, int ldgw,
                                       T* MLIP_RESTRICT gsh, int ldgsh, int nc_runtime) {
  const int nc = NC > 0 ? NC : nc_runtime;
  for (int k = 0; k < n_entries; ++k) {
    const Entry en = entry(idx, k);
    const T ak = a(k);
    const T ck = coeff[k];
    const T* MLIP_RESTRICT xr = x + en.k1 * ldx;
    const T* MLIP_RESTRICT wr = w + en.p * ldw;
    const T* MLIP_RESTRICT gr = g + en.k3 * ldg;
    T* MLIP_RESTRICT gxr = gx + (GX ? en.k1 * ldgx : 0);
    T* MLIP_RESTRICT gwr = gw + (GW ? en.p * ldgw : 0);
    T* MLIP_RESTRICT gshr = gsh + (GSH ? en.k2 * ldgsh : 0);
#if !defined(__CUDA_ARCH__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
    for (int c = 0; c < nc; ++c) {
      const T gc = gr[c];
      if (GX) gxr[c] += ak * (wr[c] * gc);
      if (GW) gwr[c] += ak * (xr[c] * gc);
      if (GSH) gshr[c] += ck * (wr[c] * (xr[c] * gc));
    }
  }
}

}  // namespace tp
}  // namespace mlip
