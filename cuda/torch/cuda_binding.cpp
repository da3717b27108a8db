// CUDA implementations of the mlip ops: tensors, groupings and sorting (ATen) around the
// torch-free kernels of cuda/kernels/*.cu. Compiled only when torch has CUDA
// (CMake -DMLIP_WITH_CUDA=ON); autograd is the device-independent code of ops.cpp.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <limits>
#include <stdexcept>
#include <vector>

#include "../cpu/ops_internal.h"
#include "../kernels/launchers.h"
#include "mlip/neighbor_geometry.h"

namespace mlip {
namespace {

void check_cuda(cudaError_t err, const char* op) {
  TORCH_CHECK(err == cudaSuccess, op, ": CUDA error: ", cudaGetErrorString(err));
}

// Edges grouped by node: (edge_of (E,), offsets (N + 1,)), via a stable sort on the device.
std::pair<at::Tensor, at::Tensor> group_edges(const at::Tensor& index, int64_t n_nodes) {
  const at::Tensor edge_of = at::argsort(index, /*stable=*/true);
  const at::Tensor sorted = index.index_select(0, edge_of).contiguous();
  const at::Tensor offsets = at::searchsorted(sorted, at::arange(n_nodes + 1, index.options())).contiguous();
  return {edge_of.contiguous(), offsets};
}

// The kernels' dimensions; refuses, with a clear error, what they cannot run (sizes beyond
// int32, irreps too large for the per-warp shared-memory accumulators). The checks common to
// CPU and CUDA (shapes, dtypes, devices, index and CG-table values) come before, from
// ops_internal.h.
cuda::TpDims dims(const char* op, const TpShapes& s, int64_t dim_out, size_t element_size, bool backward) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  TORCH_CHECK(s.n_nodes < kMax, op, " (CUDA): ", s.n_nodes, " nodes; at most ", kMax - 1, " per call");
  TORCH_CHECK(s.channels < (1 << 20), op, " (CUDA): ", s.channels, " channels; at most ", (1 << 20) - 1);
  TORCH_CHECK(s.dim_in < kMax && s.dim_sh < kMax && s.n_paths < kMax && dim_out < kMax && s.n_entries < kMax, op,
              " (CUDA): dim_in, dim_sh, n_paths, dim_out and the cg_index rows must each be < ", kMax);
  const cuda::TpDims d{s.n_nodes,
                       static_cast<int>(s.channels),
                       static_cast<int>(s.dim_in),
                       static_cast<int>(s.dim_sh),
                       static_cast<int>(s.n_paths),
                       static_cast<int>(dim_out),
                       static_cast<int>(s.n_entries)};
  const size_t smem =
      backward ? cuda::tp_backward_shared_bytes(d, element_size) : cuda::tp_forward_shared_bytes(d, element_size);
  TORCH_CHECK(smem <= cuda::kTpMaxSharedBytes, op, " (CUDA): the kernel needs ", smem,
              " bytes of shared memory per block (",
              backward ? "dim_in + n_paths + dim_sh = " : "dim_out = ",
              backward ? s.dim_in + s.n_paths + s.dim_sh : dim_out, " rows of 32 lanes), more than the ",
              cuda::kTpMaxSharedBytes, " available; use smaller irreps or the CPU op");
  return d;
}

at::Tensor tp_conv_cuda(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& sender,
                        const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
                        int64_t dim_out) {
  const char* op = "mlip::tp_conv";
  const TpShapes s = check_tp_inputs(op, x, sh, weight, sender, receiver, cg_index, cg_coeff);
  check_tp_dim_out(op, dim_out);
  const c10::cuda::CUDAGuard guard(x.device());
  check_tp_values(op, sender, receiver, cg_index, s, dim_out);  // one reduction, one small copy
  at::Tensor out = at::zeros({s.n_nodes, s.channels, dim_out}, x.options());
  if (s.n_edges == 0 || s.n_nodes == 0 || s.channels == 0 || s.n_entries == 0) return out;
  const cuda::TpDims d = dims(op, s, dim_out, x.element_size(), /*backward=*/false);
  const auto grouped = group_edges(receiver.contiguous(), s.n_nodes);
  const at::Tensor idx = cg_index.contiguous(), snd = sender.contiguous();
  const auto stream = c10::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mlip_tp_conv_cuda", [&] {
    const at::Tensor xt = x.transpose(1, 2).contiguous();
    const at::Tensor shc = sh.contiguous(), wc = weight.contiguous();
    const at::Tensor cf = cg_coeff.to(x.scalar_type()).contiguous();
    check_cuda(cuda::tp_conv_forward<scalar_t>(d, xt.data_ptr<scalar_t>(), shc.data_ptr<scalar_t>(),
                                               wc.data_ptr<scalar_t>(), snd.data_ptr<int64_t>(),
                                               grouped.first.data_ptr<int64_t>(), grouped.second.data_ptr<int64_t>(),
                                               idx.data_ptr<int32_t>(), cf.data_ptr<scalar_t>(),
                                               out.data_ptr<scalar_t>(), stream),
               op);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_conv_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight,
    const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
    std::array<bool, 3> mask) {
  const char* op = "mlip::tp_conv_backward";
  const TpShapes s = check_tp_inputs(op, x, sh, weight, sender, receiver, cg_index, cg_coeff);
  const int64_t D3 = check_tp_grad_out(op, grad_out, x, s);
  const c10::cuda::CUDAGuard guard(x.device());
  check_tp_values(op, sender, receiver, cg_index, s, D3);  // one reduction, one small copy
  at::Tensor gx, gsh, gw;
  if (mask[0]) gx = at::zeros_like(x, at::MemoryFormat::Contiguous);
  if (mask[1]) gsh = at::zeros_like(sh, at::MemoryFormat::Contiguous);
  if (mask[2]) gw = at::zeros_like(weight, at::MemoryFormat::Contiguous);
  if (!(mask[0] || mask[1] || mask[2]) || s.n_edges == 0 || s.n_nodes == 0 || s.channels == 0 || s.n_entries == 0)
    return {gx, gsh, gw};
  const cuda::TpDims d = dims(op, s, D3, x.element_size(), /*backward=*/true);
  const auto grouped = group_edges(sender.contiguous(), s.n_nodes);
  const at::Tensor idx = cg_index.contiguous(), rcv = receiver.contiguous();
  const auto stream = c10::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mlip_tp_conv_backward_cuda", [&] {
    const at::Tensor xt = x.transpose(1, 2).contiguous();
    const at::Tensor gt = grad_out.transpose(1, 2).contiguous();
    const at::Tensor shc = sh.contiguous(), wc = weight.contiguous();
    const at::Tensor cf = cg_coeff.to(x.scalar_type()).contiguous();
    check_cuda(cuda::tp_conv_backward<scalar_t>(
                   d, xt.data_ptr<scalar_t>(), gt.data_ptr<scalar_t>(),
                   shc.data_ptr<scalar_t>(), wc.data_ptr<scalar_t>(), rcv.data_ptr<int64_t>(),
                   grouped.first.data_ptr<int64_t>(), grouped.second.data_ptr<int64_t>(), idx.data_ptr<int32_t>(),
                   cf.data_ptr<scalar_t>(), mask[0] ? gx.data_ptr<scalar_t>() : nullptr,
                   mask[1] ? gsh.data_ptr<scalar_t>() : nullptr, mask[2] ? gw.data_ptr<scalar_t>() : nullptr, stream),
               op);
  });
  return {gx, gsh, gw};
}

std::tuple<at::Tensor, at::Tensor> neighbor_list_cuda(const at::Tensor& positions, const at::Tensor& cell,
                                                      const at::Tensor& pbc, const at::Tensor& system_index,
                                                      double cutoff) {
  const char* op = "mlip::neighbor_list";
  TORCH_CHECK(positions.dim() == 2 && positions.size(1) == 3, op, ": positions must be (n_atoms, 3)");
  TORCH_CHECK(cell.dim() == 3 && cell.size(1) == 3 && cell.size(2) == 3, op, ": cell must be (n_systems, 3, 3)");
  TORCH_CHECK(cutoff > 0.0 && std::isfinite(cutoff), op, ": cutoff must be positive and finite");
  const c10::cuda::CUDAGuard guard(positions.device());
  const auto stream = c10::cuda::getCurrentCUDAStream().stream();
  const int64_t n_sys = cell.size(0);
  const at::Tensor pos = positions.detach().to(at::kDouble).contiguous();
  TORCH_CHECK(at::isfinite(pos).all().item<bool>(), op, ": non-finite positions");
  const at::Tensor sidx = system_index.to(at::kLong);
  TORCH_CHECK(sidx.dim() == 1 && sidx.size(0) == positions.size(0), op, ": system_index must be (n_atoms,)");
  if (sidx.numel() > 0)
    TORCH_CHECK(sidx.min().item<int64_t>() >= 0 && sidx.max().item<int64_t>() < n_sys &&
                    (sidx.numel() < 2 || (sidx.narrow(0, 1, sidx.numel() - 1) >= sidx.narrow(0, 0, sidx.numel() - 1))
                                             .all()
                                             .item<bool>()),
                op, ": system_index must be sorted and in [0, n_systems)");
  // structure boundaries and cells on the host (small)
  const at::Tensor counts = at::bincount(sidx, {}, n_sys).cpu();
  const at::Tensor cell_h = cell.detach().to(at::kDouble).cpu().contiguous();
  const at::Tensor pbc_h = pbc.to(at::kBool).cpu().contiguous();
  const int64_t* cnt = counts.data_ptr<int64_t>();
  std::vector<at::Tensor> parts_index, parts_shift;
  int64_t lo = 0;
  for (int64_t s = 0; s < n_sys; ++s) {
    const int64_t n = cnt[s];
    if (n == 0) continue;
    const at::Tensor p = pos.narrow(0, lo, n);
    nl::Grid g;
    try {
      g = nl::working_grid(cell_h.data_ptr<double>() + 9 * s, pbc_h.data_ptr<bool>() + 3 * s);
    } catch (const std::invalid_argument& err) {
      TORCH_CHECK_VALUE(false, op, ": system ", s, ": ", err.what());
    }
    const at::Tensor inv = at::from_blob(g.inverse, {3, 3}, at::kDouble).to(pos.device());
    const auto ext = at::aminmax(at::matmul(p, inv), 0);
    const at::Tensor fmin_h = std::get<0>(ext).cpu(), fmax_h = std::get<1>(ext).cpu();
    nl::finish_grid(g, fmin_h.data_ptr<double>(), fmax_h.data_ptr<double>(), cutoff, std::max<int64_t>(64, 2 * n));
    const int64_t n_bins = static_cast<int64_t>(g.n[0]) * g.n[1] * g.n[2];

    at::Tensor pw = at::empty({n, 3}, pos.options());
    at::Tensor wrap = at::empty({n, 3}, pos.options().dtype(at::kLong));
    at::Tensor bin = at::empty({n}, pos.options().dtype(at::kInt));
    check_cuda(cuda::nl_wrap(g, p.data_ptr<double>(), n, pw.data_ptr<double>(), wrap.data_ptr<int64_t>(),
                             bin.data_ptr<int32_t>(), stream),
               op);
    const auto sorted = at::sort(bin.to(at::kLong), /*stable=*/true, /*dim=*/0, /*descending=*/false);
    const at::Tensor order = std::get<1>(sorted).contiguous();
    const at::Tensor bin_start =
        at::searchsorted(std::get<0>(sorted).contiguous(), at::arange(n_bins + 1, order.options())).contiguous();
    const at::Tensor sorted_pos = pw.index_select(0, order).contiguous();
    at::Tensor count = at::empty({n}, order.options());
    check_cuda(cuda::nl_count(g, cutoff, n, pw.data_ptr<double>(), bin.data_ptr<int32_t>(),
                              bin_start.data_ptr<int64_t>(), sorted_pos.data_ptr<double>(), order.data_ptr<int64_t>(),
                              count.data_ptr<int64_t>(), stream),
               op);
    const at::Tensor first = (at::cumsum(count, 0) - count).contiguous();
    const int64_t total = count.sum().item<int64_t>();
    at::Tensor index = at::empty({2, total}, order.options());
    at::Tensor shift = at::empty({total, 3}, order.options());
    if (total > 0)
      check_cuda(cuda::nl_fill(g, cutoff, n, pw.data_ptr<double>(), wrap.data_ptr<int64_t>(), bin.data_ptr<int32_t>(),
                               bin_start.data_ptr<int64_t>(), sorted_pos.data_ptr<double>(),
                               order.data_ptr<int64_t>(), first.data_ptr<int64_t>(), lo, index.data_ptr<int64_t>(),
                               index.data_ptr<int64_t>() + total, shift.data_ptr<int64_t>(), stream),
                 op);
    parts_index.push_back(index);
    parts_shift.push_back(shift);
    lo += n;
  }
  if (parts_index.empty())
    return {at::empty({2, 0}, pos.options().dtype(at::kLong)), at::empty({0, 3}, pos.options().dtype(at::kLong))};
  return {at::cat(parts_index, 1), at::cat(parts_shift, 0)};
}

at::Tensor radial_spline_cuda(const at::Tensor& r, const at::Tensor& table, double r0, double inv_h) {
  check_spline_inputs("mlip::radial_spline", r, table, inv_h);
  const c10::cuda::CUDAGuard guard(r.device());
  const int64_t E = r.size(0), n = table.size(0), M = table.size(2);
  at::Tensor out = at::empty({E, M}, table.options());
  const at::Tensor rc = r.contiguous(), tc = table.contiguous();
  const auto stream = c10::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "mlip_radial_spline_cuda", [&] {
    check_cuda(cuda::radial_spline_forward<scalar_t>(rc.data_ptr<scalar_t>(), tc.data_ptr<scalar_t>(), E, n, M, r0,
                                                     inv_h, out.data_ptr<scalar_t>(), stream),
               "mlip::radial_spline");
  });
  return out;
}

at::Tensor radial_spline_backward_cuda(const at::Tensor& grad, const at::Tensor& r, const at::Tensor& table, double r0,
                                       double inv_h) {
  check_spline_inputs("mlip::radial_spline_backward", r, table, inv_h);
  const c10::cuda::CUDAGuard guard(r.device());
  const int64_t E = r.size(0), n = table.size(0), M = table.size(2);
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == E && grad.size(1) == M && grad.scalar_type() == r.scalar_type(),
              "mlip::radial_spline_backward: grad must be (n_edges, n_outputs) of r's dtype");
  at::Tensor gr = at::empty({E}, r.options());
  const at::Tensor rc = r.contiguous(), tc = table.contiguous(), gc = grad.contiguous();
  const auto stream = c10::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "mlip_radial_spline_backward_cuda", [&] {
    check_cuda(cuda::radial_spline_backward<scalar_t>(gc.data_ptr<scalar_t>(), rc.data_ptr<scalar_t>(),
                                                      tc.data_ptr<scalar_t>(), E, n, M, r0, inv_h,
                                                      gr.data_ptr<scalar_t>(), stream),
               "mlip::radial_spline_backward");
  });
  return gr;
}

}  // namespace
}  // namespace mlip

TORCH_LIBRARY_IMPL(mlip, CUDA, m) {
  m.impl("radial_spline", &mlip::radial_spline_cuda);
  m.impl("radial_spline_backward", &mlip::radial_spline_backward_cuda);
  m.impl("tp_conv", &mlip::tp_conv_cuda);
  m.impl("tp_conv_backward", &mlip::tp_conv_backward_cuda);
  m.impl("neighbor_list", &mlip::neighbor_list_cuda);
}
