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

namespace {

// Edges grouped by node: edges of node v are perm[offsets[v] .. offsets[v + 1]) (identity
// permutation when the index is already sorted).
struct Csr {
  std::vector<int64_t> offsets;
  std::vector<int64_t> perm;
  bool identity = true;
  int64_t edge(int64_t t) const { return identity ? t : perm[t]; }
};

Csr build_csr(const char* op, const char* what, const int64_t* index, int64_t n_edges, int64_t n_nodes) {
  Csr c;
  c.offsets.assign(n_nodes + 1, 0);
  bool sorted = true;
  for (int64_t e = 0; e < n_edges; ++e) {
    const int64_t v = index[e];
    TORCH_CHECK(v >= 0 && v < n_nodes, op, ": ", what, "[", e, "] = ", v, " is out of range [0, ", n_nodes, ")");
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

void check_table(const char* op, const int32_t* idx, int64_t K, int64_t D1, int64_t D2, int64_t D3, int64_t P) {
  for (int64_t k = 0; k < K; ++k) {
    const int32_t* r = idx + 4 * k;
    TORCH_CHECK(r[0] >= 0 && r[0] < D1 && r[1] >= 0 && r[1] < D2 && r[2] >= 0 && r[2] < D3 && r[3] >= 0 && r[3] < P,
                op, ": cg_index row ", k, " = (", r[0], ", ", r[1], ", ", r[2], ", ", r[3],
                ") is out of range for dim_in=", D1, ", dim_sh=", D2, ", dim_out=", D3, ", n_paths=", P);
  }
}

// Channels per block: two AVX2 vectors (or four SSE ones).
template <typename T>
constexpr int block_channels() {
  return 64 / static_cast<int>(sizeof(T));
}

template <typename T>
void forward_kernel(const TpShapes& s, int64_t D3, const T* xt, const T* sh, const T* w, const int64_t* sender,
                    const Csr& rc, const int32_t* idx, const T* coeff, T* out) {
  constexpr int CB = block_channels<T>();
  const int64_t N = s.n_nodes, C = s.channels, D1 = s.dim_in, D2 = s.dim_sh, P = s.n_paths;
  const int K = static_cast<int>(s.n_entries);
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, (s.n_edges / std::max<int64_t>(N, 1) + 1) * C));
  at::parallel_for(0, N, grain, [&](int64_t ib, int64_t ie) {
    std::vector<T> a;
    std::vector<T> acc(D3 * CB);
    for (int64_t i = ib; i < ie; ++i) {
      const int64_t t0 = rc.offsets[i], deg = rc.offsets[i + 1] - t0;
      if (deg == 0) continue;
      a.resize(deg * K);
      for (int64_t t = 0; t < deg; ++t) tp::edge_coefficients<T>(K, idx, coeff, sh + rc.edge(t0 + t) * D2, &a[t * K]);
      for (int64_t c0 = 0; c0 < C; c0 += CB) {
        const int nc = static_cast<int>(std::min<int64_t>(CB, C - c0));
        std::fill(acc.begin(), acc.end(), T(0));
        for (int64_t t = 0; t < deg; ++t) {
          const int64_t e = rc.edge(t0 + t);
          const T* xj = xt + sender[e] * D1 * C + c0;
          const T* we = w + e * P * C + c0;
          const tp::TabulatedCoefficients<T> coef{&a[t * K]};
          if (nc == CB)
            tp::forward_edge<CB>(K, idx, coef, xj, static_cast<int>(C), we, static_cast<int>(C), acc.data(), CB, CB);
          else
            tp::forward_edge<0>(K, idx, coef, xj, static_cast<int>(C), we, static_cast<int>(C), acc.data(), CB, nc);
        }
        T* o = out + (i * C + c0) * D3;
        for (int c = 0; c < nc; ++c)
          for (int64_t k3 = 0; k3 < D3; ++k3) o[c * D3 + k3] = acc[k3 * CB + c];
      }
    }
  });
}

template <int NC, bool GX, bool GW, bool GSH, typename T>
void backward_sender(const TpShapes& s, int64_t D3, const T* xt, const T* gt, const T* sh, const T* w,
                     const int64_t* receiver, const Csr& sc, const int32_t* idx, const T* coeff, int64_t j, int64_t c0,
                     int nc, std::vector<T>& a, std::vector<T>& gx_acc, std::vector<T>& gw_acc,
                     std::vector<T>& gsh_acc, T* gx, T* gsh, T* gw) {
  constexpr int CB = block_channels<T>();
  const int64_t C = s.channels, D1 = s.dim_in, D2 = s.dim_sh, P = s.n_paths;
  const int K = static_cast<int>(s.n_entries);
  const int64_t t0 = sc.offsets[j], deg = sc.offsets[j + 1] - t0;
  if (GX) std::fill(gx_acc.begin(), gx_acc.end(), T(0));
  const T* xj = xt + j * D1 * C + c0;
  for (int64_t t = 0; t < deg; ++t) {
    const int64_t e = sc.edge(t0 + t);
    const T* she = sh + e * D2;
    tp::edge_coefficients<T>(K, idx, coeff, she, a.data());
    if (GW) std::fill(gw_acc.begin(), gw_acc.end(), T(0));
    if (GSH) std::fill(gsh_acc.begin(), gsh_acc.end(), T(0));
    tp::backward_edge<NC, GX, GW, GSH>(K, idx, coeff, tp::TabulatedCoefficients<T>{a.data()}, xj, static_cast<int>(C),
                                       w + e * P * C + c0, static_cast<int>(C), gt + receiver[e] * D3 * C + c0,
                                       static_cast<int>(C), gx_acc.data(), CB, gw_acc.data(), CB, gsh_acc.data(), CB,
                                       nc);
    if (GW) {
      T* g = gw + e * P * C + c0;
      for (int64_t p = 0; p < P; ++p)
        for (int c = 0; c < nc; ++c) g[p * C + c] = gw_acc[p * CB + c];
    }
    if (GSH) {
      T* g = gsh + e * D2;
      for (int64_t k2 = 0; k2 < D2; ++k2) {
        T sum = 0;
        for (int c = 0; c < nc; ++c) sum += gsh_acc[k2 * CB + c];
        g[k2] += sum;
      }
    }
  }
  if (GX) {
    T* g = gx + (j * C + c0) * D1;
    for (int c = 0; c < nc; ++c)
      for (int64_t k1 = 0; k1 < D1; ++k1) g[c * D1 + k1] = gx_acc[k1 * CB + c];
  }
}

template <bool GX, bool GW, bool GSH, typename T>
void backward_kernel(const TpShapes& s, int64_t D3, const T* xt, const T* gt, const T* sh, const T* w,
                     const int64_t* receiver, const Csr& sc, const int32_t* idx, const T* coeff, T* gx, T* gsh, T* gw) {
  constexpr int CB = block_channels<T>();
  const int64_t N = s.n_nodes, C = s.channels;
  const int64_t grain = std::max<int64_t>(1, 2048 / std::max<int64_t>(1, (s.n_edges / std::max<int64_t>(N, 1) + 1) * C));
  at::parallel_for(0, N, grain, [&](int64_t jb, int64_t je) {
    std::vector<T> a(s.n_entries), gx_acc(s.dim_in * CB), gw_acc(s.n_paths * CB), gsh_acc(s.dim_sh * CB);
    for (int64_t j = jb; j < je; ++j) {
      for (int64_t c0 = 0; c0 < C; c0 += CB) {
        const int nc = static_cast<int>(std::min<int64_t>(CB, C - c0));
        if (nc == CB)
          backward_sender<CB, GX, GW, GSH>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, j, c0, nc, a, gx_acc, gw_acc,
                                           gsh_acc, gx, gsh, gw);
        else
          backward_sender<0, GX, GW, GSH>(s, D3, xt, gt, sh, w, receiver, sc, idx, coeff, j, c0, nc, a, gx_acc, gw_acc,
                                          gsh_acc, gx, gsh, gw);
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

at::Tensor tp_conv_cpu(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& sender,
                       const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
                       int64_t dim_out) {
  const char* op = "mlip::tp_conv";
  const TpShapes s = check_tp_inputs(op, x, sh, weight, sender, receiver, cg_index, cg_coeff);
  TORCH_CHECK(dim_out >= 1, op, ": dim_out must be >= 1");
  at::Tensor out = at::zeros({s.n_nodes, s.channels, dim_out}, x.options());
  const at::Tensor idx = cg_index.contiguous();
  check_table(op, idx.data_ptr<int32_t>(), s.n_entries, s.dim_in, s.dim_sh, dim_out, s.n_paths);
  if (s.n_edges == 0 || s.n_nodes == 0 || s.channels == 0 || s.n_entries == 0) return out;
  const at::Tensor snd = sender.contiguous(), rcv = receiver.contiguous();
  const Csr rc = build_csr(op, "receiver", rcv.data_ptr<int64_t>(), s.n_edges, s.n_nodes);
  const int64_t* sp = snd.data_ptr<int64_t>();
  for (int64_t e = 0; e < s.n_edges; ++e)
    TORCH_CHECK(sp[e] >= 0 && sp[e] < s.n_nodes, op, ": sender[", e, "] = ", sp[e], " is out of range [0, ", s.n_nodes, ")");
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
  TORCH_CHECK(grad_out.dim() == 3 && grad_out.size(0) == s.n_nodes && grad_out.size(1) == s.channels, op,
              ": grad_out must be (n_nodes, channels, dim_out), got ", grad_out.sizes());
  TORCH_CHECK(grad_out.scalar_type() == x.scalar_type() && grad_out.device() == x.device(), op,
              ": grad_out must match x's dtype and device");
  const int64_t D3 = grad_out.size(2);
  const at::Tensor idx = cg_index.contiguous();
  check_table(op, idx.data_ptr<int32_t>(), s.n_entries, s.dim_in, s.dim_sh, D3, s.n_paths);
  at::Tensor gx, gsh, gw;
  if (mask[0]) gx = at::zeros_like(x, at::MemoryFormat::Contiguous);
  if (mask[1]) gsh = at::zeros_like(sh, at::MemoryFormat::Contiguous);
  if (mask[2]) gw = at::zeros_like(weight, at::MemoryFormat::Contiguous);
  if (!(mask[0] || mask[1] || mask[2])) return {gx, gsh, gw};
  if (s.n_edges == 0 || s.n_nodes == 0 || s.channels == 0 || s.n_entries == 0) return {gx, gsh, gw};
  const at::Tensor snd = sender.contiguous(), rcv = receiver.contiguous();
  const Csr sc = build_csr(op, "sender", snd.data_ptr<int64_t>(), s.n_edges, s.n_nodes);
  const int64_t* rp = rcv.data_ptr<int64_t>();
  for (int64_t e = 0; e < s.n_edges; ++e)
    TORCH_CHECK(rp[e] >= 0 && rp[e] < s.n_nodes, op, ": receiver[", e, "] = ", rp[e], " is out of range [0, ", s.n_nodes, ")");
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
