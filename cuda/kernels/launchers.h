// Host entry points of the CUDA kernels (torch-free: raw device pointers, a stream).
// Implemented in tp_conv_kernels.cu, neighbor_list_kernels.cu and radial_spline_kernels.cu;
// called by cuda/torch/cuda_binding.cpp, which owns the tensors, the CSR groupings and the
// sorting.
#pragma once

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "mlip/neighbor_pipeline.h"

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

// Neighbour list of a batch: the steps of neighbor_pipeline.h, one thread per structure or atom
// (the driver, cuda/torch/neighbor_list_pipeline.cpp, sorts and sums between them).
cudaError_t nl_grids(int64_t n_sys, const double* cell, const bool* pbc, nl::Grid* grids, int32_t* status,
                     cudaStream_t stream);
cudaError_t nl_atoms(int64_t n, int64_t n_sys, const double* pos, const int64_t* system_index, const nl::Grid* grids,
                     uint8_t* flags, int64_t* sys, double* frac, cudaStream_t stream);
cudaError_t nl_finish(int64_t n_sys, const double* fmin, const double* fmax, const int64_t* n_in_system, double cutoff,
                      nl::Grid* grids, int64_t* n_bins, cudaStream_t stream);
cudaError_t nl_wrap(int64_t n, const double* pos, const int64_t* sys, const nl::Grid* grids, const int64_t* first_bin,
                    double* pw, int64_t* wrap, int64_t* key, cudaStream_t stream);
cudaError_t nl_count(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& at, double cutoff, int64_t* count,
                     cudaStream_t stream);
cudaError_t nl_fill(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& at, double cutoff, const int64_t* first,
                    const int64_t* count, int64_t* index_i, int64_t* index_j, int64_t* shift, cudaStream_t stream);

// Tabulated radial functions (spline_math.h): out (E, M); grad_r (E,) = inv_h sum_m grad f'.
template <typename T>
cudaError_t radial_spline_forward(const T* r, const T* table, int64_t E, int64_t n, int64_t M, double r0, double inv_h,
                                  T* out, cudaStream_t stream);
template <typename T>
cudaError_t radial_spline_backward(const T* grad, const T* r, const T* table, int64_t E, int64_t n, int64_t M,
                                   double r0, double inv_h, T* grad_r, cudaStream_t stream);

}  // namespace cuda
}  // namespace mlip
