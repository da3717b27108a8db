// Declarations shared by the op registration (cuda/torch/ops.cpp) and the CPU kernels.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <tuple>

namespace mlip {

// Forward of the fused tensor-product convolution (see cuda/include/mlip/tp_conv_math.h).
at::Tensor tp_conv_cpu(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight,
                       const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                       const at::Tensor& cg_coeff, int64_t dim_out);

// (grad_x, grad_sh, grad_weight); outputs not selected by output_mask are undefined tensors.
std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_conv_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight,
    const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
    std::array<bool, 3> output_mask);

// CPU loop order of tp_conv (0 group-major, default; 1 edge-major = the CUDA kernels' order,
// for tests); returns the previous value. Process-wide.
int64_t set_tp_conv_cpu_variant(int64_t variant);

std::tuple<at::Tensor, at::Tensor> neighbor_list_cpu(const at::Tensor& positions, const at::Tensor& cell,
                                                     const at::Tensor& pbc, const at::Tensor& system_index,
                                                     double cutoff);

// Cubic-spline tabulated radial functions (inference): table (n, 4, M) -> (E, M), and d/dr.
at::Tensor radial_spline_cpu(const at::Tensor& r, const at::Tensor& table, double r0, double inv_h);
at::Tensor radial_spline_backward_cpu(const at::Tensor& grad, const at::Tensor& r, const at::Tensor& table, double r0,
                                      double inv_h);
void check_spline_inputs(const char* op, const at::Tensor& r, const at::Tensor& table, double inv_h);

// Shape and dtype checks common to every backend; returns {N, C, D1, E, D2, P, K}.
struct TpShapes {
  int64_t n_nodes, channels, dim_in, n_edges, dim_sh, n_paths, n_entries;
};
TpShapes check_tp_inputs(const char* op, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight,
                         const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                         const at::Tensor& cg_coeff);

}  // namespace mlip
