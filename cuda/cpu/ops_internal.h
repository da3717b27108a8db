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

// Shapes, device and cutoff of the neighbour-list inputs (every backend; no tensor data read).
void check_neighbor_list_inputs(const char* op, const at::Tensor& positions, const at::Tensor& cell,
                                const at::Tensor& pbc, const at::Tensor& system_index, double cutoff);
std::tuple<at::Tensor, at::Tensor> neighbor_list_cpu(const at::Tensor& positions, const at::Tensor& cell,
                                                     const at::Tensor& pbc, const at::Tensor& system_index,
                                                     double cutoff);

// Cubic-spline tabulated radial functions (inference): table (n, 4, M) -> (E, M), and d/dr.
at::Tensor radial_spline_cpu(const at::Tensor& r, const at::Tensor& table, double r0, double inv_h);
at::Tensor radial_spline_backward_cpu(const at::Tensor& grad, const at::Tensor& r, const at::Tensor& table, double r0,
                                      double inv_h);
void check_spline_inputs(const char* op, const at::Tensor& r, const at::Tensor& table, double inv_h);

// Input checks of tp_conv / tp_conv_backward, common to every backend (the CPU and CUDA ops
// call the same functions, so they raise the same errors). Defined in tp_conv_cpu.cpp.
//
// Shapes, dtypes and devices (no tensor data read); returns {N, C, D1, E, D2, P, K}.
struct TpShapes {
  int64_t n_nodes, channels, dim_in, n_edges, dim_sh, n_paths, n_entries;
};
TpShapes check_tp_inputs(const char* op, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight,
                         const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                         const at::Tensor& cg_coeff);
void check_tp_dim_out(const char* op, int64_t dim_out);
// grad_out (N, C, D3) with x's dtype and device; returns D3 (the backward's dim_out).
int64_t check_tp_grad_out(const char* op, const at::Tensor& grad_out, const at::Tensor& x, const TpShapes& s);

// Values: sender and receiver in [0, N); every cg_index row (k1, k2, k3, p) in range for
// (D1, D2, dim_out, P) and the rows sorted by (p, k1). CPU tensors are checked by host loops.
// Device tensors by one reduction (min/max per index tensor and per table column, plus an
// order flag) and one small device->host copy: a single sync per call, needed to raise the
// error at the call; only when that finds a problem are the tensors copied to the host, where
// the same loops name the offending edge or row.
void check_tp_values(const char* op, const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                     const TpShapes& s, int64_t dim_out);
// The device algorithm of check_tp_values on tensors of any device (the CUDA path; tests run
// it on CPU tensors through the op mlip::_check_tp_conv_values).
void check_tp_values_by_reduction(const char* op, const at::Tensor& sender, const at::Tensor& receiver,
                                  const at::Tensor& cg_index, const TpShapes& s, int64_t dim_out);
// The argument checks of the testing ops that run the value checks alone (shapes, dtypes);
// returns the shapes those checks read (channels = 1).
TpShapes check_tp_value_op_args(const char* op, const at::Tensor& sender, const at::Tensor& receiver,
                                const at::Tensor& cg_index, int64_t n_nodes, int64_t dim_in, int64_t dim_sh,
                                int64_t n_paths);
void check_tp_values_by_reduction_op(const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                                     int64_t n_nodes, int64_t dim_in, int64_t dim_sh, int64_t dim_out,
                                     int64_t n_paths);
// The host loops (raw pointers).
void check_tp_index_range(const char* op, const char* what, const int64_t* index, int64_t n_edges, int64_t n_nodes);
void check_tp_table(const char* op, const int32_t* idx, int64_t K, int64_t D1, int64_t D2, int64_t D3, int64_t P);

}  // namespace mlip
