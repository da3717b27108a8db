/* Model::Impl, shared by the torch translation units of pair_style mlip (torch headers only). */
#ifndef MLIP_LAMMPS_MODEL_IMPL_H
#define MLIP_LAMMPS_MODEL_IMPL_H

#include "mlip_model.h"

#include <torch/script.h>

namespace mlip_lammps {

struct Model::Impl {
  torch::jit::Module module;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype{torch::kFloat64};
  std::string metadata;
  bool exchange{false};
  std::vector<int64_t> feature_dims;
  std::vector<double> comm_buffer;    // n_atoms x dim, the rows LAMMPS communicates
  bool coulomb{false};                // the file holds the coulomb_* methods (Ewald split across ranks)
  std::vector<bool> conserves;        // per charge set: total charge imposed
  double real_space_cutoff{0.0};      // Å
  torch::Tensor pending_energy, pending_raw, pending_positions;    // coulomb_network_begin's graph
  torch::Tensor pending_offsets, pending_edges;                    // its edge offsets and edge_index

  // host doubles -> a tensor on the model's device (a copy that owns its memory)
  torch::Tensor in(const double *p, at::IntArrayRef shape, bool model_dtype = true) const
  {
    return torch::from_blob(const_cast<double *>(p), shape, torch::TensorOptions().dtype(torch::kFloat64))
        .to(device, model_dtype ? dtype : torch::kFloat64, false, true);
  }
  torch::Tensor in(const int64_t *p, at::IntArrayRef shape) const
  {
    return torch::from_blob(const_cast<int64_t *>(p), shape, torch::TensorOptions().dtype(torch::kInt64))
        .to(device, torch::kInt64, false, true);
  }
};

}    // namespace mlip_lammps

#endif
