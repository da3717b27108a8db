// CUDA kernels of mlip::radial_spline (inference-only tabulated radial functions). Torch-free;
// the interval search and the cubic are spline_math.h, shared with the CPU kernel.
#include <cuda_runtime.h>

#include "launchers.h"
#include "mlip/spline_math.h"

namespace mlip {
namespace cuda {
namespace {

constexpr int kWarp = 32;

// one warp per edge, lanes over the outputs
template <typename T>
__global__ void spline_forward_kernel(const T* __restrict__ r, const T* __restrict__ table, int64_t E, int64_t n,
                                      int64_t M, double r0, double inv_h, T* __restrict__ out) {
  const int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y;
  if (e >= E) return;
  int64_t i;
  T t;
  spline::locate<T>(r[e], r0, inv_h, n, &i, &t);
  for (int64_t m = threadIdx.x; m < M; m += kWarp) spline::eval<T>(table + i * 4 * M, M, t, out + e * M, m, m + 1);
}

template <typename T>
__global__ void spline_backward_kernel(const T* __restrict__ grad, const T* __restrict__ r,
                                       const T* __restrict__ table, int64_t E, int64_t n, int64_t M, double r0,
                                       double inv_h, T* __restrict__ grad_r) {
  const int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y;
  if (e >= E) return;
  int64_t i;
  T t;
  spline::locate<T>(r[e], r0, inv_h, n, &i, &t);
  T s = 0;
  for (int64_t m = threadIdx.x; m < M; m += kWarp) s += spline::slope_dot<T>(table + i * 4 * M, M, t, grad + e * M, m, m + 1);
  for (int o = kWarp / 2; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (threadIdx.x == 0) grad_r[e] = static_cast<T>(inv_h) * s;
}

}  // namespace

template <typename T>
cudaError_t radial_spline_forward(const T* r, const T* table, int64_t E, int64_t n, int64_t M, double r0, double inv_h,
                                  T* out, cudaStream_t stream) {
  if (E == 0) return cudaSuccess;
  const dim3 block(kWarp, 4);
  spline_forward_kernel<T><<<static_cast<unsigned>((E + 3) / 4), block, 0, stream>>>(r, table, E, n, M, r0, inv_h, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t radial_spline_backward(const T* grad, const T* r, const T* table, int64_t E, int64_t n, int64_t M,
                                   double r0, double inv_h, T* grad_r, cudaStream_t stream) {
  if (E == 0) return cudaSuccess;
  const dim3 block(kWarp, 4);
  spline_backward_kernel<T><<<static_cast<unsigned>((E + 3) / 4), block, 0, stream>>>(grad, r, table, E, n, M, r0,
                                                                                        inv_h, grad_r);
  return cudaGetLastError();
}

template cudaError_t radial_spline_forward<float>(const float*, const float*, int64_t, int64_t, int64_t, double, double,
                                                  float*, cudaStream_t);
template cudaError_t radial_spline_forward<double>(const double*, const double*, int64_t, int64_t, int64_t, double,
                                                   double, double*, cudaStream_t);
template cudaError_t radial_spline_backward<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                                   double, double, float*, cudaStream_t);
template cudaError_t radial_spline_backward<double>(const double*, const double*, const double*, int64_t, int64_t,
                                                    int64_t, double, double, double*, cudaStream_t);

}  // namespace cuda
}  // namespace mlip
