// Host/device portability macros for the math shared by the C++ (CPU) and CUDA kernels.
//
// Every header under cuda/include/mlip/ is torch-free and compiles with a plain C++17
// compiler and with nvcc, so the per-edge and per-pair math is written once.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define MLIP_HD __host__ __device__
#define MLIP_INLINE __forceinline__
#define MLIP_RESTRICT __restrict__
#else
#define MLIP_HD
#if defined(__GNUC__) || defined(__clang__)
#define MLIP_INLINE inline __attribute__((always_inline))
#define MLIP_RESTRICT __restrict__
#else
#define MLIP_INLINE inline
#define MLIP_RESTRICT
#endif
#endif
