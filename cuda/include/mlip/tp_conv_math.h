// Per-edge math of the fused channelwise ("uvu") tensor-product convolution, shared by the
// CPU (C++) and CUDA kernels. Torch-free: plain pointers, strides and lane types.
//
// The Clebsch-Gordan structure is a sparse table of K entries, each (k1, k2, k3, p) with a
// coefficient c_k (the CG value times the path normalisation alpha_p):
//
//   out[i, c, k3] += sum_{e: receiver(e) = i} sum_k  c_k * sh[e, k2] * w[e, p, c] * x[s(e), c, k1]
//
// The table is stored as int32 (K, 4) rows {k1, k2, k3, p} plus coefficients (K,), built in
// Python from the same path list and normalisation as the pure-torch reference, sorted so that
// entries sharing (p, k1) are consecutive ("groups").
//
// Lanes: every function handles one "lane value" V per feature row: V = T is one channel (the
// CUDA kernels: one thread per channel; the CPU remainder channels), V = a SIMD vector of
// consecutive channels (the CPU kernels; Lanes<V, T> is specialised there). Rows (irrep
// components, paths) of a block are `ld*` elements apart.
//
// Two loop orders over the same math:
//   * edge-major (forward_edge / backward_edge): one edge at a time, accumulators in memory.
//     Used by the CUDA kernels, and by the CPU kernels' "edge" variant (so CPU CI exercises
//     exactly the code the GPU runs).
//   * group-major (forward_group / backward_group): one (p, k1) group at a time over all edges
//     of a receiver/sender, accumulators in registers. Used by the CPU kernels by default.
#pragma once

#include <stdint.h>

#include "mlip/hd.h"

namespace mlip {
namespace tp {

// Load/store of one lane value at p (scalar default; SIMD specialisations in the CPU code).
template <typename V, typename T>
struct Lanes {
  static MLIP_HD MLIP_INLINE V load(const T* p) { return *p; }
  static MLIP_HD MLIP_INLINE void store(T* p, const V& v) { *p = v; }
  static MLIP_HD MLIP_INLINE void add(T* p, const V& v) { *p += v; }
};

// Entry k of the table.
struct Entry {
  int k1, k2, k3, p;
};

MLIP_HD MLIP_INLINE Entry entry(const int32_t* MLIP_RESTRICT idx, int k) {
  return Entry{idx[4 * k], idx[4 * k + 1], idx[4 * k + 2], idx[4 * k + 3]};
}

// End of the group starting at k0 (entries with the same path and input component).
MLIP_HD MLIP_INLINE int group_end(const int32_t* MLIP_RESTRICT idx, int n_entries, int k0) {
  int k = k0 + 1;
  while (k < n_entries && idx[4 * k] == idx[4 * k0] && idx[4 * k + 3] == idx[4 * k0 + 3]) ++k;
  return k;
}

// a_k = c_k * sh[k2_k], computed on the fly (CUDA: no per-thread arrays).
template <typename T>
struct EdgeCoefficients {
  const int32_t* idx;
  const T* coeff;
  const T* sh;  // the edge's harmonics (or any vector in their place), (D2,)
  MLIP_HD MLIP_INLINE T operator()(int k) const { return coeff[k] * sh[idx[4 * k + 1]]; }
};

// a_k read from a table filled once per edge by `edge_coefficients` (CPU).
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

// ---------------------------------------------------------------------------------------
// Edge-major

// Forward, one edge:  acc[k3] += a_k * w[p] * x[k1]   (one lane value per row).
// x: sender features (D1 rows, ldx apart); w: edge weights (P rows, ldw apart);
// acc: receiver accumulator (D3 rows, lda apart).
template <typename V, typename T, typename Coef>
MLIP_HD MLIP_INLINE void forward_edge(int n_entries, const int32_t* MLIP_RESTRICT idx, Coef a, const T* x, int ldx,
                                      const T* w, int ldw, T* acc, int lda) {
  typedef Lanes<V, T> L;
  for (int k = 0; k < n_entries; ++k) {
    const Entry en = entry(idx, k);
    const V t = L::load(w + en.p * ldw) * L::load(x + en.k1 * ldx);
    L::add(acc + en.k3 * lda, a(k) * t);
  }
}

// Backward, one edge, all three input gradients fused (g = dL/d out of the edge's receiver):
//   gx [k1] += a_k * w[p] * g[k3]             (accumulated over the sender's edges)
//   gw [p]  += a_k * x[k1] * g[k3]            (this edge's weight gradient)
//   gsh[k2] += c_k * w[p] * x[k1] * g[k3]     (per-lane partials of dL/d sh[e, k2]; the
//                                              caller sums them over channels)
// GX, GW, GSH select which gradients are computed.
template <typename V, bool GX, bool GW, bool GSH, typename T, typename Coef>
MLIP_HD MLIP_INLINE void backward_edge(int n_entries, const int32_t* MLIP_RESTRICT idx, const T* MLIP_RESTRICT coeff,
                                       Coef a, const T* x, int ldx, const T* w, int ldw, const T* g, int ldg, T* gx,
                                       int ldgx, T* gw, int ldgw, T* gsh, int ldgsh) {
  typedef Lanes<V, T> L;
  for (int k = 0; k < n_entries; ++k) {
    const Entry en = entry(idx, k);
    const T ak = a(k);
    const V gk = L::load(g + en.k3 * ldg);
    const V wk = L::load(w + en.p * ldw);
    const V xk = L::load(x + en.k1 * ldx);
    if (GX) L::add(gx + en.k1 * ldgx, ak * (wk * gk));
    if (GW) L::add(gw + en.p * ldgw, ak * (xk * gk));
    if (GSH) L::add(gsh + en.k2 * ldgsh, coeff[k] * (wk * (xk * gk)));
  }
}

// ---------------------------------------------------------------------------------------
// Group-major. `Nbr` describes the edges t < deg of one receiver (forward) or sender
// (backward): x(t) / w(t) / g(t) point at the blocks of the other node / the edge, already
// offset to the lane; a(t, k) is the edge's coefficient a_k.

// Forward: the NG entries [k0, k0 + NG) of one group (same p, k1), summed over the edges:
//   acc[k3_e] += sum_t a_t(k0 + e) * w_t[p] * x_t[k1]
template <int NG, typename V, typename T, typename Nbr>
MLIP_HD MLIP_INLINE void forward_group(const int32_t* MLIP_RESTRICT idx, int k0, int64_t deg, const Nbr& nb, T* acc,
                                       int lda) {
  typedef Lanes<V, T> L;
  const int p = idx[4 * k0 + 3], k1 = idx[4 * k0];
  V r[NG];
  for (int e = 0; e < NG; ++e) r[e] = V{};
  for (int64_t t = 0; t < deg; ++t) {
    const V v = L::load(nb.w(t) + p * nb.ldw) * L::load(nb.x(t) + k1 * nb.ldx);
    for (int e = 0; e < NG; ++e) r[e] += nb.a(t, k0 + e) * v;
  }
  for (int e = 0; e < NG; ++e) L::add(acc + idx[4 * (k0 + e) + 2] * lda, r[e]);
}

// Backward for one sender j: the NG entries [k0, k0 + NG) of one group (same p, k1):
//   s_t      = sum_e a_t(e) g_t[k3_e]                   (g_t: dL/d out of the edge's receiver)
//   gx[k1]  += sum_t w_t[p] s_t                         (register, then memory)
//   gw_t[p] += x[k1] s_t                                (nb.add_gw)
//   gsh_t[k2_e] += c_e w_t[p] x[k1] g_t[k3_e]           (per-lane partials, nb.add_gsh)
template <int NG, bool GX, bool GW, bool GSH, typename V, typename T, typename Nbr>
MLIP_HD MLIP_INLINE void backward_group(const int32_t* MLIP_RESTRICT idx, const T* MLIP_RESTRICT coeff, int k0,
                                        int64_t deg, const T* x, int ldx, Nbr& nb, T* gx, int ldgx) {
  typedef Lanes<V, T> L;
  const int p = idx[4 * k0 + 3], k1 = idx[4 * k0];
  const V xk = L::load(x + k1 * ldx);
  V gxr = V{};
  int k3[NG], k2[NG];
  T c[NG];
  for (int e = 0; e < NG; ++e) {
    k3[e] = idx[4 * (k0 + e) + 2];
    k2[e] = idx[4 * (k0 + e) + 1];
    c[e] = coeff[k0 + e];
  }
  for (int64_t t = 0; t < deg; ++t) {
    const T* g = nb.g(t);
    const V wv = L::load(nb.w(t) + p * nb.ldw);
    const V u = wv * xk;
    V s = V{};
    for (int e = 0; e < NG; ++e) {
      const V ge = L::load(g + k3[e] * nb.ldg);
      s += nb.a(t, k0 + e) * ge;
      if (GSH) nb.add_gsh(t, k2[e], c[e] * (u * ge));
    }
    if (GX) gxr += wv * s;
    if (GW) nb.add_gw(t, p, xk * s);
  }
  if (GX) L::add(gx + k1 * ldgx, gxr);
}

}  // namespace tp
}  // namespace mlip
