// CUDA implementations of the mlip ops: tensors, groupings and sorting (ATen) around the
// torch-free kernels of cuda/kernels/*.cu. Compiled only when torch has CUDA
// (CMake -DMLIP_WITH_CUDA=ON); autograd is the device-independent code of ops.cpp.
//
// Host syncs: tp_conv / tp_conv_backward check index and table values only for inputs not
// already known valid (validated_inputs.h: once per edge list and table, none for the CUDA
// neighbour list's own output); the neighbour list reads back one small vector per call.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <limits>
#include <stdexcept>
#include <vector>

#include "../cpu/ops_internal.h"
#include "../kernels/launchers.h"
#include "neighbor_list_pipeline.h"
#include "validated_inputs.h"

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
  check_tp_values_once(op, sender, receiver, cg_index, s, dim_out);  // a sync only for unchecked inputs
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
  check_tp_values_once(op, sender, receiver, cg_index, s, D3);  // a sync only for unchecked inputs
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

cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

constexpr const char* kNlOp = "mlip::neighbor_list";

// The pipeline's steps as kernels on the current stream (neighbor_list_pipeline.h).
const NlPipelineSteps kCudaNlSteps = {
    [](int64_t n_sys, const double* cell, const bool* pbc, nl::Grid* grids, int32_t* status) {
      check_cuda(cuda::nl_grids(n_sys, cell, pbc, grids, status, current_stream()), kNlOp);
    },
    [](int64_t n, int64_t n_sys, const double* pos, const int64_t* system_index, const nl::Grid* grids,
       uint8_t* flags, int64_t* sys, double* frac) {
      check_cuda(cuda::nl_atoms(n, n_sys, pos, system_index, grids, flags, sys, frac, current_stream()), kNlOp);
    },
    [](int64_t n_sys, const double* fmin, const double* fmax, const int64_t* n_in_system, double cutoff,
       nl::Grid* grids, int64_t* n_bins) {
      check_cuda(cuda::nl_finish(n_sys, fmin, fmax, n_in_system, cutoff, grids, n_bins, current_stream()), kNlOp);
    },
    [](int64_t n, const double* pos, const int64_t* sys, const nl::Grid* grids, const int64_t* first_bin, double* pw,
       int64_t* wrap, int64_t* key) {
      check_cuda(cuda::nl_wrap(n, pos, sys, grids, first_bin, pw, wrap, key, current_stream()), kNlOp);
    },
    [](int64_t n, const nl::Grid* grids, const nl::SortedAtoms& atoms, double cutoff, int64_t* count) {
      check_cuda(cuda::nl_count(n, grids, atoms, cutoff, count, current_stream()), kNlOp);
    },
    [](int64_t n, const nl::Grid* grids, const nl::SortedAtoms& atoms, double cutoff, const int64_t* first,
       const int64_t* count, int64_t* index_i, int64_t* index_j, int64_t* shift) {
      check_cuda(cuda::nl_fill(n, grids, atoms, cutoff, first, count, index_i, index_j, shift, current_stream()),
                 kNlOp);
    },
};

// The device pipeline (one device->host copy per call: the edge count with the error summary).
std::tuple<at::Tensor, at::Tensor> neighbor_list_cuda(const at::Tensor& positions, const at::Tensor& cell,
                                                      const at::Tensor& pbc, const at::Tensor& system_index,
                                                      double cutoff) {
  const c10::cuda::CUDAGuard guard(positions.device());
  return neighbor_list_pipeline(kCudaNlSteps, kNlOp, positions, cell, pbc, system_index, cutoff);
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
