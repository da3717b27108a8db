// Host entry points of the CUDA kernels (torch-free: raw device pointers, a stream).
// Implemented in tp_conv_kernels.cu and neighbor_list_kernels.cu; called by
// cuda/torch/cuda_binding.cpp, which owns the tensors, the CSR groupings and the sorting.
#pragma once

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "mlip/neighbor_math.h"

namespace mlip {
namespace cuda {

struct TpDims {
  int64_t n_nodes;
  int channels, dim_in, dim_sh, n_paths, dim_out, n_entries;
};

// Dynamic shared memory of the tp_conv kernels (one warp of 32 lanes per node) and the limit
// they may use without an opt-in; the binding refuses larger problems with a clear error.
constexpr size_t kTpMaxSharedBytes = 48 * 1024;
inline size_t tp_forward_shared_bytes(const TpDims& d, size_t element_size) {
  return element_size * 32 * static_cast<size_t>(d.dim_out);
}
inline size_t tp_backward_shared_bytes(const TpDims& d, size_t element_size) {
  return element_size * 32 * static_cast<size_t>(d.dim_in + d.n_paths + d.dim_sh);
}

// out (N, C, D3) = 0 on entry. Edges of receiver i: edge_of[offsets[i] .. offsets[i + 1])
// (edge_of == nullptr: the identity). xt is x transposed to (N, D1, C).
template <typename T>
cudaError_t tp_conv_forward(const TpDims& d, const T* xt, const T* sh, const T* w, const int64_t* sender,
                            const int64_t* edge_of, const int64_t* offsets, const int32_t* cg_index, const T* cg_coeff,
                            T* out, cudaStream_t stream);

// Fused backward over senders: edges of sender j: edge_of[offsets[j] .. offsets[j + 1]).
// gt is grad_out transposed to (N, D3, C). Outputs (nullptr = not wanted): gx (N, C, D1),
// gsh (E, D2) zero on entry (accumulated), gw (E, P, C) fully written.
template <typename T>
cudaError_t tp_conv_backward(const TpDims& d, const T* xt, const T* gt, const T* sh, const T* w,
                             const int64_t* receiver, const int64_t* edge_of, const int64_t* offsets,
                             const int32_t* cg_index, const T* cg_coeff, T* gx, T* gsh, T* gw, cudaStream_t stream);

// Neighbour list of one structure (atoms [0, n) of `pos`, float64 (n, 3)):
// 1. wrap and bin every atom: pw (n, 3), wrap (n, 3), bin (n,)
cudaError_t nl_wrap(const nl::Grid& g, const double* pos, int64_t n, double* pw, int64_t* wrap, int32_t* bin,
                    cudaStream_t stream);
// 2. (binding: stable sort of atoms by bin -> order, sorted_pos, bin_start)
// 3. neighbours per receiver
cudaError_t nl_count(const nl::Grid& g, double cutoff, int64_t n, const double* pw, const int32_t* bin,
                     const int64_t* bin_start, const double* sorted_pos, const int64_t* order, int64_t* count,
                     cudaStream_t stream);
// 4. (binding: exclusive prefix sum of count -> first) 5. fill each receiver's segment, sorted
//    by (sender, shift); index (2, E_total) rows i, j offset by `atom_offset`; shift (E_total, 3).
cudaError_t nl_fill(const nl::Grid& g, double cutoff, int64_t n, const double* pw, const int64_t* wrap,
                    const int32_t* bin, const int64_t* bin_start, const double* sorted_pos, const int64_t* order,
                    const int64_t* first, int64_t atom_offset, int64_t* index_i, int64_t* index_j, int64_t* shift,
                    cudaStream_t stream);

// Tabulated radial functions (spline_math.h): out (E, M); grad_r (E,) = inv_h sum_m grad f'.
template <typename T>
cudaError_t radial_spline_forward(const T* r, const T* table, int64_t E, int64_t n, int64_t M, double r0, double inv_h,
                                  T* out, cudaStream_t stream);
template <typename T>
cudaError_t radial_spline_backward(const T* grad, const T* r, const T* table, int64_t E, int64_t n, int64_t M,
                                   double r0, double inv_h, T* grad_r, cudaStream_t stream);

}  // namespace cuda
}  // namespace mlip
