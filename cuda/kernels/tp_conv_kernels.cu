// CUDA kernels of mlip::tp_conv / mlip::tp_conv_backward. Torch-free (compiled alone by
// `make cuda-check`); the per-edge math is tp_conv_math.h, shared with the CPU kernels.
//
// One warp per receiver (forward) or per sender (backward), one lane per channel (channel
// chunks of 32 when C > 32). Per-lane accumulators live in shared memory, column `lane`, so
// the shared math indexes them like the CPU's channel blocks (NC = 1, row stride 32). Edges
// come grouped by receiver/sender (CSR built by the binding), so there are no atomics and the
// summation order is fixed: results are deterministic. Node indices read from the edge list are
// bounds-checked in the kernels too (an out-of-range edge is skipped), so even unchecked input
// cannot make them read outside the tensors; the binding's value check names such input.
#include <cuda_runtime.h>

#include "launchers.h"
#include "mlip/tp_conv_math.h"

namespace mlip {
namespace cuda {
namespace {

constexpr int kWarp = 32;

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__global__ void forward_kernel(TpDims d, const T* __restrict__ xt, const T* __restrict__ sh,
                               const T* __restrict__ w, const int64_t* __restrict__ sender,
                               const int64_t* __restrict__ edge_of, const int64_t* __restrict__ offsets,
                               const int32_t* __restrict__ idx, const T* __restrict__ coeff, T* __restrict__ out) {
  extern __shared__ unsigned char smem_raw[];
  T* acc = reinterpret_cast<T*>(smem_raw);  // (D3, 32)
  const int64_t i = blockIdx.x;
  const int lane = threadIdx.x;
  const int C = d.channels;
  const int64_t t0 = offsets[i], t1 = offsets[i + 1];
  for (int c0 = 0; c0 < C; c0 += kWarp) {
    const int c = c0 + lane;
    for (int k3 = 0; k3 < d.dim_out; ++k3) acc[k3 * kWarp + lane] = T(0);
    if (c < C) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t e = edge_of ? edge_of[t] : t;
        const int64_t j = sender[e];
        if (j < 0 || j >= d.n_nodes) continue;  // never read out of bounds (the binding checks values)
        const tp::EdgeCoefficients<T> a{idx, coeff, sh + e * d.dim_sh};
        tp::forward_edge<T>(d.n_entries, idx, a, xt + j * d.dim_in * C + c, C, w + e * d.n_paths * C + c, C,
                            acc + lane, kWarp);
      }
      for (int k3 = 0; k3 < d.dim_out; ++k3) out[(i * C + c) * d.dim_out + k3] = acc[k3 * kWarp + lane];
    }
  }
}

template <typename T, bool GX, bool GW, bool GSH>
__global__ void backward_kernel(TpDims d, const T* __restrict__ xt, const T* __restrict__ gt,
                                const T* __restrict__ sh, const T* __restrict__ w,
                                const int64_t* __restrict__ receiver, const int64_t* __restrict__ edge_of,
                                const int64_t* __restrict__ offsets, const int32_t* __restrict__ idx,
                                const T* __restrict__ coeff, T* __restrict__ gx, T* __restrict__ gsh,
                                T* __restrict__ gw) {
  extern __shared__ unsigned char smem_raw[];
  T* gx_acc = reinterpret_cast<T*>(smem_raw);       // (D1, 32)
  T* gw_acc = gx_acc + d.dim_in * kWarp;            // (P, 32)
  T* gsh_acc = gw_acc + d.n_paths * kWarp;          // (D2, 32)
  const int64_t j = blockIdx.x;
  const int lane = threadIdx.x;
  const int C = d.channels;
  const int64_t t0 = offsets[j], t1 = offsets[j + 1];
  for (int c0 = 0; c0 < C; c0 += kWarp) {
    const int c = c0 + lane;
    const bool active = c < C;
    if (GX)
      for (int k1 = 0; k1 < d.dim_in; ++k1) gx_acc[k1 * kWarp + lane] = T(0);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t e = edge_of ? edge_of[t] : t;
      const int64_t i = receiver[e];
      if (i < 0 || i >= d.n_nodes) continue;  // the same for every lane: never read out of bounds
      if (GW)
        for (int p = 0; p < d.n_paths; ++p) gw_acc[p * kWarp + lane] = T(0);
      if (GSH)
        for (int k2 = 0; k2 < d.dim_sh; ++k2) gsh_acc[k2 * kWarp + lane] = T(0);
      if (active) {
        const tp::EdgeCoefficients<T> a{idx, coeff, sh + e * d.dim_sh};
        tp::backward_edge<T, GX, GW, GSH>(d.n_entries, idx, coeff, a, xt + j * d.dim_in * C + c, C,
                                          w + e * d.n_paths * C + c, C, gt + i * d.dim_out * C + c, C,
                                          gx_acc + lane, kWarp, gw_acc + lane, kWarp, gsh_acc + lane, kWarp);
        if (GW)
          for (int p = 0; p < d.n_paths; ++p) gw[(e * d.n_paths + p) * C + c] = gw_acc[p * kWarp + lane];
      }
      if (GSH) {  // every lane takes part in the reduction (inactive lanes add zero)
        for (int k2 = 0; k2 < d.dim_sh; ++k2) {
          const T v = warp_sum(gsh_acc[k2 * kWarp + lane]);
          if (lane == 0) gsh[e * d.dim_sh + k2] += v;
        }
      }
    }
    if (GX && active)
      for (int k1 = 0; k1 < d.dim_in; ++k1) gx[(j * C + c) * d.dim_in + k1] = gx_acc[k1 * kWarp + lane];
  }
}

template <typename T, bool GX, bool GW, bool GSH>
cudaError_t launch_backward(const TpDims& d, const T* xt, const T* gt, const T* sh, const T* w,
                            const int64_t* receiver, const int64_t* edge_of, const int64_t* offsets,
                            const int32_t* idx, const T* coeff, T* gx, T* gsh, T* gw, cudaStream_t stream) {
  static_assert(kWarp == 32, "tp_backward_shared_bytes (launchers.h) assumes 32 lanes");
  const size_t smem = tp_backward_shared_bytes(d, sizeof(T));
  if (smem > kTpMaxSharedBytes) return cudaErrorInvalidValue;
  backward_kernel<T, GX, GW, GSH><<<static_cast<unsigned>(d.n_nodes), kWarp, smem, stream>>>(
      d, xt, gt, sh, w, receiver, edge_of, offsets, idx, coeff, gx, gsh, gw);
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t tp_conv_forward(const TpDims& d, const T* xt, const T* sh, const T* w, const int64_t* sender,
                            const int64_t* edge_of, const int64_t* offsets, const int32_t* cg_index, const T* cg_coeff,
                            T* out, cudaStream_t stream) {
  if (d.n_nodes == 0 || d.channels == 0) return cudaSuccess;
  const size_t smem = tp_forward_shared_bytes(d, sizeof(T));
  if (smem > kTpMaxSharedBytes) return cudaErrorInvalidValue;
  forward_kernel<T><<<static_cast<unsigned>(d.n_nodes), kWarp, smem, stream>>>(d, xt, sh, w, sender, edge_of, offsets,
                                                                               cg_index, cg_coeff, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t tp_conv_backward(const TpDims& d, const T* xt, const T* gt, const T* sh, const T* w,
                             const int64_t* receiver, const int64_t* edge_of, const int64_t* offsets,
                             const int32_t* cg_index, const T* cg_coeff, T* gx, T* gsh, T* gw, cudaStream_t stream) {
  if (d.n_nodes == 0 || d.channels == 0) return cudaSuccess;
  const int code = (gx ? 4 : 0) | (gw ? 2 : 0) | (gsh ? 1 : 0);
#define MLIP_LAUNCH(GX, GW, GSH) \
  launch_backward<T, GX, GW, GSH>(d, xt, gt, sh, w, receiver, edge_of, offsets, cg_index, cg_coeff, gx, gsh, gw, stream)
  switch (code) {
    case 1: return MLIP_LAUNCH(false, false, true);
    case 2: return MLIP_LAUNCH(false, true, false);
    case 3: return MLIP_LAUNCH(false, true, true);
    case 4: return MLIP_LAUNCH(true, false, false);
    case 5: return MLIP_LAUNCH(true, false, true);
    case 6: return MLIP_LAUNCH(true, true, false);
    case 7: return MLIP_LAUNCH(true, true, true);
    default: return cudaSuccess;
  }
#undef MLIP_LAUNCH
}

#define MLIP_INSTANTIATE(T)                                                                                           \
  template cudaError_t tp_conv_forward<T>(const TpDims&, const T*, const T*, const T*, const int64_t*, const int64_t*, \
                                          const int64_t*, const int32_t*, const T*, T*, cudaStream_t);                \
  template cudaError_t tp_conv_backward<T>(const TpDims&, const T*, const T*, const T*, const T*, const int64_t*,     \
                                           const int64_t*, const int64_t*, const int32_t*, const T*, T*, T*, T*,     \
                                           cudaStream_t);
MLIP_INSTANTIATE(float)
MLIP_INSTANTIATE(double)
#undef MLIP_INSTANTIATE

}  // namespace cuda
}  // namespace mlip
