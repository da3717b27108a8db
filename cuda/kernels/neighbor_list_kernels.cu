// CUDA kernels of mlip::neighbor_list: one thread per structure or per atom, each running one
// step of the device pipeline (neighbor_pipeline.h, shared with the host rehearsal; the
// per-pair math is neighbor_math.h, shared with the CPU kernel too). Torch-free. The driver
// between the steps is cuda/torch/neighbor_list_pipeline.cpp; each receiver writes only its own
// segment, so there are no output atomics and the result equals the CPU's exactly.
#include <cuda_runtime.h>

#include "launchers.h"
#include "mlip/neighbor_pipeline.h"

namespace mlip {
namespace cuda {
namespace {

constexpr int kThreads = 128;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

__device__ __forceinline__ int64_t thread_index() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }

__global__ void grid_kernel(int64_t n_sys, const double* __restrict__ cell, const bool* __restrict__ pbc,
                            nl::Grid* __restrict__ grids, int32_t* __restrict__ status) {
  const int64_t s = thread_index();
  if (s < n_sys) nl::grid_step(s, cell, pbc, grids, status);
}

__global__ void atom_kernel(int64_t n, int64_t n_sys, const double* __restrict__ pos,
                            const int64_t* __restrict__ system_index, const nl::Grid* __restrict__ grids,
                            uint8_t* __restrict__ flags, int64_t* __restrict__ sys, double* __restrict__ frac) {
  const int64_t a = thread_index();
  if (a < n) nl::atom_step(a, n_sys, pos, system_index, grids, flags, sys, frac);
}

__global__ void finish_kernel(int64_t n_sys, const double* __restrict__ fmin, const double* __restrict__ fmax,
                              const int64_t* __restrict__ n_in_system, double cutoff, nl::Grid* __restrict__ grids,
                              int64_t* __restrict__ n_bins) {
  const int64_t s = thread_index();
  if (s < n_sys) nl::finish_step(s, fmin, fmax, n_in_system, cutoff, grids, n_bins);
}

__global__ void wrap_kernel(int64_t n, const double* __restrict__ pos, const int64_t* __restrict__ sys,
                            const nl::Grid* __restrict__ grids, const int64_t* __restrict__ first_bin,
                            double* __restrict__ pw, int64_t* __restrict__ wrap, int64_t* __restrict__ key) {
  const int64_t a = thread_index();
  if (a < n) nl::wrap_step(a, pos, sys, grids, first_bin, pw, wrap, key);
}

__global__ void count_kernel(int64_t n, const nl::Grid* __restrict__ grids, nl::SortedAtoms at, double cutoff2,
                             int64_t* __restrict__ count) {
  const int64_t i = thread_index();
  if (i < n) count[i] = nl::count_step(i, grids, at, cutoff2);
}

__global__ void fill_kernel(int64_t n, const nl::Grid* __restrict__ grids, nl::SortedAtoms at, double cutoff2,
                            const int64_t* __restrict__ first, const int64_t* __restrict__ count,
                            int64_t* __restrict__ index_i, int64_t* __restrict__ index_j, int64_t* __restrict__ shift) {
  const int64_t i = thread_index();
  if (i < n) nl::fill_step(i, grids, at, cutoff2, first, count, index_i, index_j, shift);
}

}  // namespace

cudaError_t nl_grids(int64_t n_sys, const double* cell, const bool* pbc, nl::Grid* grids, int32_t* status,
                     cudaStream_t stream) {
  if (n_sys == 0) return cudaSuccess;
  grid_kernel<<<blocks_for(n_sys), kThreads, 0, stream>>>(n_sys, cell, pbc, grids, status);
  return cudaGetLastError();
}

cudaError_t nl_atoms(int64_t n, int64_t n_sys, const double* pos, const int64_t* system_index, const nl::Grid* grids,
                     uint8_t* flags, int64_t* sys, double* frac, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  atom_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, n_sys, pos, system_index, grids, flags, sys, frac);
  return cudaGetLastError();
}

cudaError_t nl_finish(int64_t n_sys, const double* fmin, const double* fmax, const int64_t* n_in_system, double cutoff,
                      nl::Grid* grids, int64_t* n_bins, cudaStream_t stream) {
  if (n_sys == 0) return cudaSuccess;
  finish_kernel<<<blocks_for(n_sys), kThreads, 0, stream>>>(n_sys, fmin, fmax, n_in_system, cutoff, grids, n_bins);
  return cudaGetLastError();
}

cudaError_t nl_wrap(int64_t n, const double* pos, const int64_t* sys, const nl::Grid* grids, const int64_t* first_bin,
                    double* pw, int64_t* wrap, int64_t* key, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  wrap_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, pos, sys, grids, first_bin, pw, wrap, key);
  return cudaGetLastError();
}

cudaError_t nl_count(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& at, double cutoff, int64_t* count,
                     cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  count_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, grids, at, cutoff * cutoff, count);
  return cudaGetLastError();
}

cudaError_t nl_fill(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& at, double cutoff, const int64_t* first,
                    const int64_t* count, int64_t* index_i, int64_t* index_j, int64_t* shift, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, grids, at, cutoff * cutoff, first, count, index_i, index_j,
                                                      shift);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace mlip
