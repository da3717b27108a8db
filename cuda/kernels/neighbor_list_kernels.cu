// CUDA kernels of mlip::neighbor_list (one structure per launch sequence). Torch-free; the
// per-atom, per-bin and per-pair math (wrap_atom, for_each_neighbor, within_cutoff, the
// neighbour order) is neighbor_math.h, shared with the CPU kernel. Count / prefix sum (in the
// binding) / fill: each receiver writes only its own segment, so no output atomics, and the
// segment is sorted by (sender, shift) in place, so the result equals the CPU's exactly.
#include <cuda_runtime.h>

#include "launchers.h"
#include "mlip/neighbor_math.h"

namespace mlip {
namespace cuda {
namespace {

constexpr int kThreads = 128;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

__global__ void wrap_kernel(nl::Grid g, const double* __restrict__ pos, int64_t n, double* __restrict__ pw,
                            int64_t* __restrict__ wrap, int32_t* __restrict__ bin) {
  const int64_t a = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (a >= n) return;
  int b;
  nl::wrap_atom(g, pos + 3 * a, pw + 3 * a, wrap + 3 * a, &b);
  bin[a] = b;
}

struct Counter {
  int64_t count;
  __device__ void operator()(int64_t, int64_t, int, int, int) { ++count; }
};

__global__ void count_kernel(nl::Grid g, double cutoff2, int64_t n, const double* __restrict__ pw,
                             const int32_t* __restrict__ bin, const int64_t* __restrict__ bin_start,
                             const double* __restrict__ sorted_pos, const int64_t* __restrict__ order,
                             int64_t* __restrict__ count) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  Counter c{0};
  nl::for_each_neighbor(g, i, pw + 3 * i, bin[i], bin_start, sorted_pos, order, cutoff2, c);
  count[i] = c.count;
}

struct Writer {
  int64_t i, atom_offset, at;
  const int64_t* wrap;
  int64_t* index_i;
  int64_t* index_j;
  int64_t* shift;
  __device__ void operator()(int64_t, int64_t j, int s0, int s1, int s2) {
    index_i[at] = i + atom_offset;
    index_j[at] = j + atom_offset;
    shift[3 * at] = nl::total_shift(s0, wrap[3 * i], wrap[3 * j]);
    shift[3 * at + 1] = nl::total_shift(s1, wrap[3 * i + 1], wrap[3 * j + 1]);
    shift[3 * at + 2] = nl::total_shift(s2, wrap[3 * i + 2], wrap[3 * j + 2]);
    ++at;
  }
};

__global__ void fill_kernel(nl::Grid g, double cutoff2, int64_t n, const double* __restrict__ pw,
                            const int64_t* __restrict__ wrap, const int32_t* __restrict__ bin,
                            const int64_t* __restrict__ bin_start, const double* __restrict__ sorted_pos,
                            const int64_t* __restrict__ order, const int64_t* __restrict__ first, int64_t atom_offset,
                            int64_t* __restrict__ index_i, int64_t* __restrict__ index_j, int64_t* __restrict__ shift) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const int64_t begin = first[i];
  Writer wr{i, atom_offset, begin, wrap, index_i, index_j, shift};
  nl::for_each_neighbor(g, i, pw + 3 * i, bin[i], bin_start, sorted_pos, order, cutoff2, wr);
  // insertion sort of the segment by (sender, shift): segments are short (tens of entries)
  for (int64_t a = begin + 1; a < wr.at; ++a) {
    const int64_t j = index_j[a];
    const int64_t s[3] = {shift[3 * a], shift[3 * a + 1], shift[3 * a + 2]};
    int64_t b = a - 1;
    while (b >= begin && nl::neighbor_less(j, s, index_j[b], shift + 3 * b)) {
      index_j[b + 1] = index_j[b];
      for (int c = 0; c < 3; ++c) shift[3 * (b + 1) + c] = shift[3 * b + c];
      --b;
    }
    index_j[b + 1] = j;
    for (int c = 0; c < 3; ++c) shift[3 * (b + 1) + c] = s[c];
  }
}

}  // namespace

cudaError_t nl_wrap(const nl::Grid& g, const double* pos, int64_t n, double* pw, int64_t* wrap, int32_t* bin,
                    cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  wrap_kernel<<<blocks_for(n), kThreads, 0, stream>>>(g, pos, n, pw, wrap, bin);
  return cudaGetLastError();
}

cudaError_t nl_count(const nl::Grid& g, double cutoff, int64_t n, const double* pw, const int32_t* bin,
                     const int64_t* bin_start, const double* sorted_pos, const int64_t* order, int64_t* count,
                     cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  count_kernel<<<blocks_for(n), kThreads, 0, stream>>>(g, cutoff * cutoff, n, pw, bin, bin_start, sorted_pos, order,
                                                       count);
  return cudaGetLastError();
}

cudaError_t nl_fill(const nl::Grid& g, double cutoff, int64_t n, const double* pw, const int64_t* wrap,
                    const int32_t* bin, const int64_t* bin_start, const double* sorted_pos, const int64_t* order,
                    const int64_t* first, int64_t atom_offset, int64_t* index_i, int64_t* index_j, int64_t* shift,
                    cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(g, cutoff * cutoff, n, pw, wrap, bin, bin_start, sorted_pos,
                                                      order, first, atom_offset, index_i, index_j, shift);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace mlip
