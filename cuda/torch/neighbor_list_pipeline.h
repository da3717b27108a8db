// The device neighbour list as tensor operations around the per-thread steps of
// cuda/include/mlip/neighbor_pipeline.h. The same driver runs with the CUDA kernels
// (cuda_binding.cpp: mlip::neighbor_list on CUDA tensors) and with host loops over the same
// step bodies (the CPU op mlip::_neighbor_list_pipeline), so the algorithm the GPU runs is
// tested on machines without one.
#pragma once

#include <ATen/ATen.h>

#include <tuple>

#include "mlip/neighbor_pipeline.h"

namespace mlip {

// How one device runs each step over all structures or atoms (CUDA: a kernel on the current
// stream, errors raised by the callee; host: a loop). Pointers are to that device's memory.
struct NlPipelineSteps {
  void (*grids)(int64_t n_sys, const double* cell, const bool* pbc, nl::Grid* grids, int32_t* status);
  void (*atoms)(int64_t n, int64_t n_sys, const double* pos, const int64_t* system_index, const nl::Grid* grids,
                uint8_t* flags, int64_t* sys, double* frac);
  void (*finish)(int64_t n_sys, const double* fmin, const double* fmax, const int64_t* n_in_system, double cutoff,
                 nl::Grid* grids, int64_t* n_bins);
  void (*wrap)(int64_t n, const double* pos, const int64_t* sys, const nl::Grid* grids, const int64_t* first_bin,
               double* pw, int64_t* wrap, int64_t* key);
  void (*count)(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& atoms, double cutoff, int64_t* count);
  void (*fill)(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& atoms, double cutoff, const int64_t* first,
               const int64_t* count, int64_t* index_i, int64_t* index_j, int64_t* shift);
};

// (index (2, E), shift (E, 3)) of the batch, equal to mlip::neighbor_list's CPU result (same
// pairs, same order). Reads one small vector back from the device (the edge count and the
// first bad atom / structure of each kind); bad input raises the CPU op's errors, prefixed
// with `op`. The index it returns is remembered as valid node indices (validated_inputs.h).
std::tuple<at::Tensor, at::Tensor> neighbor_list_pipeline(const NlPipelineSteps& steps, const char* op,
                                                          const at::Tensor& positions, const at::Tensor& cell,
                                                          const at::Tensor& pbc, const at::Tensor& system_index,
                                                          double cutoff);

// mlip::_neighbor_list_pipeline: the pipeline on CPU tensors, with host loops as the steps.
std::tuple<at::Tensor, at::Tensor> neighbor_list_pipeline_host(const at::Tensor& positions, const at::Tensor& cell,
                                                               const at::Tensor& pbc, const at::Tensor& system_index,
                                                               double cutoff);

}  // namespace mlip
