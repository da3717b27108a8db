// mlip::tp_conv and mlip::tp_conv_backward, CPU.
//
// Forward: edges grouped by receiver (CSR; the neighbour list is already receiver-sorted, so
// usually no permutation), receivers in parallel; each receiver accumulates its own output
// row in a small (D3 x channel-block) buffer, so no per-edge message is ever stored and no
// atomics are needed. Backward: edges grouped by sender (counting sort), senders in parallel;
// one pass computes dL/dx (accumulated per sender), dL/dweight and dL/dsh (per edge).
// Features are transposed to (nodes, components, channels) so the channel loops of the shared
// math (tp_conv_math.h) run over contiguous memory and vectorise.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "mlip/tp_conv_math.h"
#include "ops_internal.h"

namespace mlip {

TpShapes check_tp_inputs(const char* op, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight,
                         const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                         const at::Tensor& cg_coeff) {
  TORCH_CHECK(x.dim() == 3, op, ": x must be (n_nodes, channels, dim_in), got ", x.sizes());
  TORCH_CHECK(sh.dim() == 2, op, ": sh must be (n_edges, dim_sh), got ", sh.sizes());
  TORCH_CHECK(weight.dim() == 3, op, ": weight must be (n_edges, n_paths, channels), got ", weight.sizes());
  TORCH_CHECK(x.scalar_type() == sh.scalar_type() && x.scalar_type() == weight.scalar_type(), op,
              ": x, sh and weight must share one dtype, got ", x.scalar_type(), ", ", sh.scalar_type(), ", ",
              weight.scalar_type());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": float32 and float64 are supported, got ", x.scalar_type());
  const int64_t E = sh.size(0);
  TORCH_CHECK(weight.size(0) == E && weight.size(2) == x.size(1), op, ": weight must be (n_edges=", E,
              ", n_paths, channels=", x.size(1), "), got ", weight.sizes());
  TORCH_CHECK(sender.dim() == 1 && receiver.dim() == 1 && sender.size(0) == E && receiver.size(0) == E, op,
              ": sender and receiver must be (n_edges=", E, ",)");
  TORCH_CHECK(sender.scalar_type() == at::kLong && receiver.scalar_type() == at::kLong, op,
              ": sender and receiver must be int64");
  TORCH_CHECK(cg_index.dim() == 2 && cg_index.size(1) == 4 && cg_index.scalar_type() == at::kInt, op,
              ": cg_index must be int32 (n_entries, 4)");
  TORCH_CHECK(cg_coeff.dim() == 1 && cg_coeff.size(0) == cg_index.size(0), op, ": cg_coeff must be (n_entries,)");
  for (const at::Tensor* t : {&sh, &weight, &sender, &receiver, &cg_index, &cg_coeff})
    TORCH_CHECK(t->device() == x.device(), op, ": all inputs must be on ", x.device(), ", got one on ", t->device());
  return TpShapes{x.size(0), x.size(1), x.size(2), E, sh.size(1), weight.size(1), cg_index.size(0)};
}

void check_tp_dim_out(const char* op, int64_t dim_out) {
  TORCH_CHECK(dim_out >= 1, op, ": dim_out must be >= 1, got ", dim_out);
}

int64_t check_tp_grad_out(const char* op, const at::Tensor& grad_out, const at::Tensor& x, const TpShapes& s) {
  TORCH_CHECK(grad_out.dim() == 3 && grad_out.size(0) == s.n_nodes && grad_out.size(1) == s.channels, op,
              ": grad_out must be (n_nodes, channels, dim_out), got ", grad_out.sizes());
  TORCH_CHECK(grad_out.scalar_type() == x.scalar_type() && grad_out.device() == x.device(), op,
              ": grad_out must match x's dtype and device");
  check_tp_dim_out(op, grad_out.size(2));
  return grad_out.size(2);
}

void check_tp_index_range(const char* op, const char* what, const int64_t* index, int64_t n_edges, int64_t n_nodes) {
  for (int64_t e = 0; e < n_edges; ++e)
    TORCH_CHECK(index[e] >= 0 && index[e] < n_nodes, op, ": ", what, "[", e, "] = ", index[e],
                " is out of range [0, ", n_nodes, ")");
}

void check_tp_table(const char* op, const int32_t* idx, int64_t K, int64_t D1, int64_t D2, int64_t D3, int64_t P) {
  for (int64_t k = 0; k < K; ++k) {
    const int32_t* r = idx + 4 * k;
    TORCH_CHECK(r[0] >= 0 && r[0] < D1 && r[1] >= 0 && r[1] < D2 && r[2] >= 0 && r[2] < D3 && r[3] >= 0 && r[3] < P,
                op, ": cg_index row ", k, " = (", r[0], ", ", r[1], ", ", r[2], ", ", r[3],
                ") is out of range for dim_in=", D1, ", dim_sh=", D2, ", dim_out=", D3, ", n_paths=", P);
    if (k > 0) {  // groups (same k1, p) must be contiguous: table sorted by (p, k1)
      const int32_t* q = idx + 4 * (k - 1);
      TORCH_CHECK(q[3] < r[3] || (q[3] == r[3] && q[0] <= r[0]), op,
                  ": cg_index must be sorted by (path, k1) (mlip.nn.native_tensor_product.cg_table does this)");
    }
  }
}

namespace {

// The value checks on host memory (CPU tensors, or host copies of device ones).
void check_tp_values_on_host(const char* op, const at::Tensor& sender, const at::Tensor& receiver,
                             const at::Tensor& cg_index, const TpShapes& s, int64_t dim_out) {
  const at::Tensor idx = cg_index.contiguous(), snd = sender.contiguous(), rcv = receiver.contiguous();
  check_tp_table(op, idx.data_ptr<int32_t>(), s.n_entries, s.dim_in, s.dim_sh, dim_out, s.n_paths);
  check_tp_index_range(op, "sender", snd.data_ptr<int64_t>(), s.n_edges, s.n_nodes);
  check_tp_index_range(op, "receiver", rcv.data_ptr<int64_t>(), s.n_edges, s.n_nodes);
}

}  // namespace

void check_tp_values_by_reduction(const char* op, const at::Tensor& sender, const at::Tensor& receiver,
                                  const at::Tensor& cg_index, const TpShapes& s, int64_t dim_out) {
  const int64_t E = s.n_edges, K = s.n_entries;
  std::vector<at::Tensor> parts;  // int64 summaries, computed where the data live
  if (E > 0) {
    for (const at::Tensor* t : {&sender, &receiver}) {
      const auto mm = at::aminmax(*t);
      parts.push_back(std::get<0>(mm).reshape({1}));
      parts.push_back(std::get<1>(mm).reshape({1}));
    }
  }
  if (K > 0) {
    const auto mm = at::aminmax(cg_index, 0);  // per column: k1, k2, k3, p
    parts.push_back(std::get<0>(mm).to(at::kLong));
    parts.push_back(std::get<1>(mm).to(at::kLong));
    if (K > 1) {  // sorted by (p, k1)
      const at::Tensor prev = cg_index.narrow(0, 0, K - 1), next = cg_index.narrow(0, 1, K - 1);
      const at::Tensor p0 = prev.select(1, 3), p1 = next.select(1, 3);
      const at::Tensor unsorted =
          at::logical_or(p0 > p1, at::logical_and(p0 == p1, prev.select(1, 0) > next.select(1, 0))).any();
      parts.push_back(unsorted.to(at::kLong).reshape({1}));
    }
  }
  if (parts.empty()) return;
  const at::Tensor summary = at::cat(parts).cpu();  // the call's one device->host copy
  const int64_t* v = summary.data_ptr<int64_t>();
  bool ok = true;
  int64_t i = 0;
  if (E > 0) {
    ok = v[0] >= 0 && v[1] < s.n_nodes && v[2] >= 0 && v[3] < s.n_nodes;
    i = 4;
  }
  if (K > 0) {
    const int64_t limit[4] = {s.dim_in, s.dim_sh, dim_out, s.n_paths};
    for (int c = 0; c < 4; ++c) ok = ok && v[i + c] >= 0 && v[i + 4 + c] < limit[c];
    i += 8;
    if (K > 1) ok = ok && v[i] == 0;
  }
  if (ok) return;
  // rare path: the host checks on copies give the exact message (which row, which edge)
  check_tp_values_on_host(op, sender.cpu(), receiver.cpu(), cg_index.cpu(), s, dim_out);
  TORCH_CHECK(false, op, ": invalid sender/receiver indices or cg_index table");  // not reached
}

void check_tp_values(const char* op, const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                     const TpShapes& s, int64_t dim_out) {
  if (sender.device().is_cpu())
    check_tp_values_on_host(op, sender, receiver, cg_index, s, dim_out);
  else
    check_tp_values_by_reduction(op, sender, receiver, cg_index, s, dim_out);
}

namespace {

// Edges grouped by node: edges of node v are perm[offsets[v] .. offsets[v + 1]) (identity
// permutation when the index is already sorted).
struct Csr {
  std::vector<int64_t> offsets;
  std::vector<int64_t> perm;
  bool identity = true;
  int64_t edge(int64_t t) const { return identity ? t : perm[t]; }
};

// `index` must be in range [0, n_nodes) (check_tp_values).
Csr build_csr(const int64_t* index, int64_t n_edges, int64_t n_nodes) {
  Csr c;
  c.offsets.assign(n_nodes + 1, 0);
  bool sorted = true;
  for (int64_t e = 0; e < n_edges; ++e) {
    const int64_t v = index[e];
    ++c.offsets[v + 1];
    if (e > 0 && v < index[e - 1]) sorted = false;
  }
  for (int64_t v = 0; v < n_nodes; ++v) c.offsets[v + 1] += c.offsets[v];
  c.identity = sorted;
  if (!sorted) {
    c.perm.resize(n_edges);
    std::vector<int64_t> fill(c.offsets.begin(), c.offsets.end() - 1);
    for (int64_t e = 0; e < n_edges; ++e) c.perm[fill[index[e]]++] = e;
  }
  return c;
}

// ---------------------------------------------------------------------------------------
// SIMD lanes: 32-byte vectors of consecutive channels (GCC/Clang vector extensions).
typedef float vfloat __attribute__((vector_size(32)));
typedef double vdouble __attribute__((vector_size(32)));

template <typename T>
struct Simd;
template <>
struct Simd<float> {
  typedef vfloat type;
  static constexpr int width = 8;
};
template <>
struct Simd<double> {
  typedef vdouble type;
  static constexpr int width = 4;
};

}  // namespace

namespace tp {
template <typename V, typename T>
struct VectorLanes {
  static MLIP_INLINE V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static MLIP_INLINE void store(T* p, const V& v) { std::memcpy(p, &v, sizeof(V)); }
  static MLIP_INLINE void add(T* p, const V& v) { store(p, load(p) + v); }
};
template <>
struct Lanes<vfloat, float> : VectorLanes<vfloat, float> {};
template <>
struct Lanes<vdouble, double> : VectorLanes<vdouble, double> {};
}  // namespace tp

namespace {

std::atomic<int> g_cpu_variant{0};  // 0: group-major (default), 1: edge-major (the CUDA loop order)

// The edges of one node, for the group-major math: x(t)/w(t)/g(t) blocks offset to the lane,
// coefficients a(t, k), and per-edge scratch for the weight / harmonics gradients.
template <typename T>
struct NodeEdges {
  const T* const* xs;  // forward: sender feature blocks
  const T* const* ws;  // edge weight blocks
  const T* const* gs;  // backward: receiver grad blocks
  const T* coef;       // (deg, K)
  int K;
  int64_t c0;
  int ldx, ldw, ldg;
  T* gw_part;   // (deg, P, lw)
  T* gsh_part;  // (deg, D2, lw)
  int P, D2, lw;
  const T* x(int64_t t) const { return xs[t] + c0; }
  const T* w(int64_t t) const { return ws[t] + c0; }
  const T* g(int64_t t) const { return gs[t] + c0; }
  T a(int64_t t, int k) const { return coef[t * K + k]; }
  template <typename V>
  void add_gw(int64_t t, int p, const V& v) {
    tp::Lanes<V, T>::add(gw_part + (t * P + p) * lw, v);
  }
  template <typename V>
  void add_gsh(int64_t t, int k2, const V& v) {
    tp::Lanes<V, T>::add(gsh_part + (t * D2 + k2) * lw, v);
  }
};

// Template dispatch of the group chunk size (entries per register block, <= 8).
template <typename V, typename T>
void forward_groups(const int32_t* idx, int K, int64_t deg, const NodeEdges<T>& nb, T* acc, int lda) {
  for (int k0 = 0; k0 < K;) {
    const int k_end = tp::group_end(idx, K, k0);
    for (int k = k0; k < k_end; k += 8) {
      switch (std::min(8, k_end - k)) {
        case 1: tp::forward_group<1, V>(idx, k, deg, nb, acc, lda); break;
        case 2: tp::forward_group<2, V>(idx, k, deg, nb, acc, lda); break;
        case 3: tp::forward_group<3, V>(idx, k, deg, nb, acc, lda); break;
        case 4: tp::forward_group<4, V>(idx, k, deg, nb, acc, lda); break;
        case 5: tp::forward_group<5, V>(idx, k, deg, nb, acc, lda); break;
        case 6: tp::forward_group<6, V>(idx, k, deg, nb, acc, lda); break;
        case 7: tp::forward_group<7, V>(idx, k, deg, nb, acc, lda); break;
        default: tp::forward_group<8, V>(idx, k, deg, nb, acc, lda); break;
      }
    }
    k0 = k_end;
  }
}

template <typename V, bool GX, bool GW, bool GSH, typename T>
void backward_groups(const int32_t* idx, const T* coeff, int K, int64_t deg, const T* x, int ldx, NodeEdges<T>& nb,
                     T* gx, int ldgx) {
  for (int k0 = 0; k0 < K;) {
    const int k_end = tp::group_end(idx, K, k0);
    for (int k = k0; k < k_end; k += 8) {
#define MLIP_G(NG) tp::backward_group<NG, GX, GW, GSH, V>(idx, coeff, k, deg, x, ldx, nb, gx, ldgx)
      switch (std::min(8, k_end - k)) {
        case 1: MLIP_G(1); break;
        case 2: MLIP_G(2); break;
        case 3: MLIP_G(3); break;
        case 4: MLIP_G(4); break;
        case 5: MLIP_G(5); break;
        case 6: MLIP_G(6); break;
        case 7: MLIP_G(7); break;
        default: MLIP_G(8); break;
      }
#undef MLIP_G
    }
    k0 = k_end;
  }
}

template <typename T>
void forward_kernel(const TpShapes& s, int64_t D3, const T* xt, const T* sh, const T* w, const int64_t* sender,
                    const Csr& rc, const int32_t* idx, const T* coeff, T* out) {
  typedef typename Simd<T>::type V;
  constexpr int W = Simd<T>::width;
  const int64_t N = s.n_nodes, C = s.channels, D1 = s.dim_in, D2 = s.dim_sh, P = s.n_paths;
  const int K = static_cast<int>(s.n_entries);
  const bool edge_major = g_cpu_variant.load() == 1;
  const int64_t grain = std::max<int64_t>(1, 2048 / std::max<int64_t>(1, (s.n_edges / std::max<int64_t>(N, 1) + 1) * C));
  at::parallel_for(0, N, grain, [&](int64_t ib, int64_t ie) {
    std::vector<T> a, acc(D3 * W);
    std::vector<const T*> xs, ws;
    for (int64_t i = ib; i < ie; ++i) {
      const int64_t t0 = rc.offsets[i], deg = rc.offsets[i + 1] - t0;
      if (deg == 0) continue;
      a.resize(deg * K);
      xs.resize(deg);
      ws.resize(deg);
      for (int64_t t = 0; t < deg; ++t) {
        const int64_t e = rc.edge(t0 + t);
        tp::edge_coefficients<T>(K, idx, coeff, sh + e * D2, &a[t * K]);
        xs[t] = xt + sender[e] * D1 * C;
        ws[t] = w + e * P * C;
      }
      NodeEdges<T> nb{xs.data(), ws.data(), nullptr, a.data(), K, 0, static_cast<int>(C), static_cast<int>(C), 0,
                      nullptr, nullptr, 0, 0, 0};
      for (int64_t c0 = 0; c0 < C; c0 += W) {
        const bool full = c0 + W <= C;
        const int nc = static_cast<int>(std::min<int64_t>(W, C - c0));
        std::fill(acc.begin(), acc.end(), T(0));
        // a full block as one SIMD lane value; the remaining channels one at a time
        for (int l = 0; l < (full ? 1 : nc); ++l) {
          nb.c0 = c0 + l;
          T* acc_l = acc.data() + l;
          if (edge_major) {
            for (int64_t t = 0; t < deg; ++t) {
              const tp::TabulatedCoefficients<T> coef{&a[t * K]};
              if (full)
                tp::forward_edge<V>(K, idx, coef, nb.x(t), nb.ldx, nb.w(t), nb.ldw, acc_l, W);
              else
                tp::forward_edge<T>(K, idx, coef, nb.x(t), nb.ldx, nb.w(t), nb.ldw, acc_l, W);
            }
          } else if (full) {
            forward_groups<V>(idx, K, deg, nb, acc_l, W);
          } else {
            forward_groups<T>(idx, K, deg, nb, acc_l, W);
          }
        }
        T* o = out + (i * C + c0) * D3;
        for (int c = 0; c < nc; ++c)
          for (int64_t k3 = 0; k3 < D3; ++k3) o[c * D3 + k3] = acc[k3 * W + c];
      }
    }
  });
}

template <bool GX, bool GW, bool GSH, typename T>
void backward_kernel(const TpShapes& s, int64_t D3, const T* xt, const T* gt, const T* sh, const T* w,
                     const int64_t* receiver, const Csr& sc, const int32_t* idx, const T* coeff, T* gx, T* gsh, T* gw) {
  typedef typename Simd<T>::type V;
  constexpr int W = Simd<T>::width;
  const int64_t N = s.n_nodes, C = s.channels, D1 = s.dim_in, D2 = s.dim_sh, P = s.n_paths;
  const int K = static_cast<int>(s.n_entries);
  const bool edge_major = g_cpu_variant.load() == 1;
  const int64_t grain = std::max<int64_t>(1, 1024 / std::max<int64_t>(1, (s.n_edges / std::max<int64_t>(N, 1) + 1) * C));
  at::parallel_for(0, N, grain, [&](int64_t jb, int64_t je) {
    std::vector<T> a, gx_acc(D1 * W), gw_part, gsh_part;
    std::vector<const T*> gs, ws;
    std::vector<int64_t> edges;
    for (int64_t j = jb; j < je; ++j) {
      const int64_t t0 = sc.offsets[j], deg = sc.offsets[j + 1] - t0;
      if (deg == 0) continue;  // gx[j] stays zero
      a.resize(deg * K);
      gs.resize(deg);
      ws.resize(deg);
      edges.resize(deg);
      gw_part.resize(deg * P * W);
      gsh_part.resize(deg * D2 * W);
      for (int64_t t = 0; t < deg; ++t) {
        const int64_t e = sc.edge(t0 + t);
        edges[t] = e;
        tp::edge_coefficients<T>(K, idx, coeff, sh + e * D2, &a[t * K]);
        gs[t] = gt + receiver[e] * D3 * C;
        ws[t] = w + e * P * C;
      }
      const T* xj = xt + j * D1 * C;
      for (int64_t c0 = 0; c0 < C; c0 += W) {
        const bool full = c0 + W <= C;
        const int nc = static_cast<int>(std::min<int64_t>(W, C - c0));
        const int lw = full ? W : 1;  // lane width of the scratch layout
        if (GX) std::fill(gx_acc.begin(), gx_acc.end(), T(0));
        for (int l = 0; l < (full ? 1 : nc); ++l) {
          if (GW) std::fill(gw_part.begin(), gw_part.end(), T(0));
          if (GSH) std::fill(gsh_part.begin(), gsh_part.end(), T(0));
          NodeEdges<T> nb{nullptr, ws.data(), gs.data(), a.data(), K, c0 + l, 0, static_cast<int>(C),
                          static_cast<int>(C), gw_part.data(), gsh_part.data(), static_cast<int>(P),
                          static_cast<int>(D2), lw};
          T* gx_l = gx_acc.data() + l;
          const T* x_l = xj + c0 + l;
          if (edge_major) {
            for (int64_t t = 0; t < deg; ++t) {
              const tp::TabulatedCoefficients<T> coef{&a[t * K]};
              T* gw_t = gw_part.data() + t * P * lw;
              T* gsh_t = gsh_part.data() + t * D2 * lw;
              if (full)
                tp::backward_edge<V, GX, GW, GSH>(K, idx, coeff, coef, x_l, static_cast<int>(C), nb.w(t), nb.ldw,
                                                  nb.g(t), nb.ldg, gx_l, W, gw_t, lw, gsh_t, lw);
              else
                tp::backward_edge<T, GX, GW, GSH>(K, idx, coeff, coef, x_l, static_cast<int>(C), nb.w(t), nb.ldw,
                                                  nb.g(t), nb.ldg, gx_l, W, gw_t, lw, gsh_t, lw);
            }
          } else if (full) {
            backward_groups<V, GX, GW, GSH>(idx, coeff, K, deg, x_l, static_cast<int>(C), nb, gx_l, W);
          } else {
            backward_groups<T, GX, GW, GSH>(idx, coeff, K, deg, x_l, static_cast<int>(C), nb, gx_l, W);
          }
          const int lanes = full ? W : 1;
          for (int64_t t = 0; t < deg; ++t) {
            const int64_t e = edges[t];
            if (GW) {
              T* g = gw + e * P * C + c0 + l;
              for (int64_t p = 0; p < P; ++p)
                for (int c = 0; c < lanes; ++c) g[p * C + c] = gw_part[(t * P + p) * lw + c];
            }
            if (GSH) {
              T* g = gsh + e * D2;
              for (int64_t k2 = 0; k2 < D2; ++k2) {
                T sum = 0;
                for (int c = 0; c < lanes; ++c) sum += gsh_part[(t * D2 + k2) * lw + c];
                g[k2] += sum;
              }
            }
          }
        }
        if (GX) {
          T* g = gx + (j * C + c0) * D1;
          for (int c = 0; c < nc; ++c)
            for (int64_t k1 = 0; k1 < D1; ++k1) g[c * D1 + k1] = gx_acc[k1 * W + c];
        }
      }
    }
  });
}

// Runtime output mask -> compile-time kernel variant.
template <typename T>
void run_backward(std::array<bool, 3> mask, const TpShapes& s, int64_t D3, const T* xt, const T* gt, const T* sh,
                  const T* w, const int64_t* receiver, const Csr& sc, const int32_t* idx, const T* coeff, T* gx, T* gsh,
                  T* gw) {
  const int code = (mask[0] ? 4 : 0) | (mask[2] ? 2 : 0) | (mask[1] ? 1 : 0);
  switch (code) {
    case 1: return backward_kernel<false, false, true>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, gx, gsh, gw);
    case 2: return backward_kernel<false, true, false>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, gx, gsh, gw);
    case 3: return backward_kernel<false, true, true>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, gx, gsh, gw);
    case 4: return backward_kernel<true, false, false>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, gx, gsh, gw);
    case 5: return backward_kernel<true, false, true>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, gx, gsh, gw);
    case 6: return backward_kernel<true, true, false>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, gx, gsh, gw);
    case 7: return backward_kernel<true, true, true>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, gx, gsh, gw);
    default: return;
  }
}

}  // namespace

int64_t set_tp_conv_cpu_variant(int64_t variant) {
  TORCH_CHECK(variant == 0 || variant == 1, "mlip::_set_tp_conv_cpu_variant: 0 (group-major) or 1 (edge-major)");
  return g_cpu_variant.exchange(static_cast<int>(variant));
}

at::Tensor tp_conv_cpu(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& sender,
                       const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
                       int64_t dim_out) {
  const char* op = "mlip::tp_conv";
  const TpShapes s = check_tp_inputs(op, x, sh, weight, sender, receiver, cg_index, cg_coeff);
  check_tp_dim_out(op, dim_out);
  check_tp_values(op, sender, receiver, cg_index, s, dim_out);
  at::Tensor out = at::zeros({s.n_nodes, s.channels, dim_out}, x.options());
  if (s.n_edges == 0 || s.n_nodes == 0 || s.channels == 0 || s.n_entries == 0) return out;
  const at::Tensor idx = cg_index.contiguous();
  const at::Tensor snd = sender.contiguous(), rcv = receiver.contiguous();
  const Csr rc = build_csr(rcv.data_ptr<int64_t>(), s.n_edges, s.n_nodes);
  const int64_t* sp = snd.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mlip_tp_conv_cpu", [&] {
    const at::Tensor xt = x.transpose(1, 2).contiguous();
    const at::Tensor shc = sh.contiguous(), wc = weight.contiguous();
    const at::Tensor cf = cg_coeff.to(x.scalar_type()).contiguous();
    forward_kernel<scalar_t>(s, dim_out, xt.data_ptr<scalar_t>(), shc.data_ptr<scalar_t>(), wc.data_ptr<scalar_t>(), sp,
                             rc, idx.data_ptr<int32_t>(), cf.data_ptr<scalar_t>(), out.data_ptr<scalar_t>());
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_conv_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight,
    const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
    std::array<bool, 3> mask) {
  const char* op = "mlip::tp_conv_backward";
  const TpShapes s = check_tp_inputs(op, x, sh, weight, sender, receiver, cg_index, cg_coeff);
  const int64_t D3 = check_tp_grad_out(op, grad_out, x, s);
  check_tp_values(op, sender, receiver, cg_index, s, D3);
  at::Tensor gx, gsh, gw;
  if (mask[0]) gx = at::zeros_like(x, at::MemoryFormat::Contiguous);
  if (mask[1]) gsh = at::zeros_like(sh, at::MemoryFormat::Contiguous);
  if (mask[2]) gw = at::empty_like(weight, at::MemoryFormat::Contiguous);  // every edge's block is written
  if (!(mask[0] || mask[1] || mask[2])) return {gx, gsh, gw};
  if (s.n_edges == 0 || s.n_nodes == 0 || s.channels == 0 || s.n_entries == 0) {
    if (mask[2]) gw.zero_();
    return {gx, gsh, gw};
  }
  const at::Tensor idx = cg_index.contiguous();
  const at::Tensor snd = sender.contiguous(), rcv = receiver.contiguous();
  const Csr sc = build_csr(snd.data_ptr<int64_t>(), s.n_edges, s.n_nodes);
  const int64_t* rp = rcv.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mlip_tp_conv_backward_cpu", [&] {
    const at::Tensor xt = x.transpose(1, 2).contiguous();
    const at::Tensor gt = grad_out.transpose(1, 2).contiguous();
    const at::Tensor shc = sh.contiguous(), wc = weight.contiguous();
    const at::Tensor cf = cg_coeff.to(x.scalar_type()).contiguous();
    scalar_t* pgx = mask[0] ? gx.data_ptr<scalar_t>() : nullptr;
    scalar_t* pgsh = mask[1] ? gsh.data_ptr<scalar_t>() : nullptr;
    scalar_t* pgw = mask[2] ? gw.data_ptr<scalar_t>() : nullptr;
    run_backward<scalar_t>(mask, s, D3, xt.data_ptr<scalar_t>(), gt.data_ptr<scalar_t>(), shc.data_ptr<scalar_t>(),
                           wc.data_ptr<scalar_t>(), rp, sc, idx.data_ptr<int32_t>(), cf.data_ptr<scalar_t>(), pgx, pgsh,
                           pgw);
  });
  return {gx, gsh, gw};
}

}  // namespace mlip
