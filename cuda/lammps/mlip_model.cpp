/* Torch translation unit of pair_style mlip: load the TorchScript export, run it. */
#include "mlip_model.h"

#include <dlfcn.h>

#include <cstring>

#include <stdexcept>
#include <unordered_map>

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/cuda.h>
#include <torch/script.h>

namespace mlip_lammps {

namespace {
const char *kMetadataFile = "mlip_lammps.json";
}

struct Model::Impl {
  torch::jit::Module module;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype{torch::kFloat64};
  std::string metadata;
};

Model::Model(const std::string &path, const std::string &device, const std::vector<std::string> &op_libraries)
    : impl_(new Impl)
{
  for (const auto &lib : op_libraries) {
    // RTLD_GLOBAL: the library registers its ops with torch's dispatcher when loaded.
    if (!dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      const char *why = dlerror();
      throw std::runtime_error("cannot load op library " + lib + ": " + (why ? why : "unknown error"));
    }
  }
  try {
    impl_->device = torch::Device(device);
  } catch (const std::exception &e) {
    throw std::runtime_error("invalid device '" + device + "' (use cpu, cuda or cuda:N)");
  }
  if (impl_->device.is_cuda() && !torch::cuda::is_available())
    throw std::runtime_error("device " + device + " requested, but this torch has no CUDA or sees no GPU");
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  // Unknown ops surface as c10::Error or as torch::jit::ErrorReport (a std::exception).
  auto load_failure = [&path](const std::string &why) {
    if (why.find("mlip::") != std::string::npos)
      return std::runtime_error("cannot load " + path + ": the model calls mlip's native ops (it was exported with "
                                "backend 'native'); load the op library first: pair_style mlip ops "
                                "/path/to/build/libmlip_ops.so (built by 'make ops'). Torch said: " +
                                why.substr(0, 300));
    return std::runtime_error("cannot load " + path + " as a TorchScript model (" + why + ")");
  };
  try {
    impl_->module = torch::jit::load(path, impl_->device, extra);
  } catch (const c10::Error &e) {
    throw load_failure(e.what_without_backtrace());
  } catch (const std::exception &e) {
    throw load_failure(e.what());
  }
  impl_->module.eval();
  impl_->metadata = extra[kMetadataFile];
  // The plain interpreter: no shape profiling and re-specialisation when the atom and edge
  // counts change from step to step, and the same arithmetic as eager PyTorch.
  torch::jit::setGraphExecutorOptimize(false);
}

Model::~Model() = default;

const std::string &Model::metadata_json() const { return impl_->metadata; }

void Model::set_dtype(const std::string &dtype)
{
  if (dtype == "float64")
    impl_->dtype = torch::kFloat64;
  else if (dtype == "float32")
    impl_->dtype = torch::kFloat32;
  else
    throw std::runtime_error("unsupported model dtype '" + dtype + "'");
}

void Model::set_num_threads(int n)
{
  if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
}

double Model::compute(const double *x, const int64_t *z, int64_t n_atoms, const int64_t *edge_index, int64_t n_edges,
                      int64_t n_local, const double *cell, const bool *pbc, double total_charge, double *forces,
                      double *atom_energy, double *atom_virial, double *cell_virial, bool &finite)
{
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  // from_blob does not copy: .to(..., copy=true) makes tensors that own their memory.
  torch::Tensor pos = torch::from_blob(const_cast<double *>(x), {n_atoms, 3}, f64)
                          .to(impl_->device, impl_->dtype, false, true);
  torch::Tensor numbers = torch::from_blob(const_cast<int64_t *>(z), {n_atoms}, i64).to(impl_->device, torch::kInt64, false, true);
  torch::Tensor edges = torch::from_blob(const_cast<int64_t *>(edge_index), {2, n_edges}, i64)
                            .to(impl_->device, torch::kInt64, false, true);
  torch::Tensor box = torch::from_blob(const_cast<double *>(cell), {3, 3}, f64).to(impl_->device, impl_->dtype, false, true);
  torch::Tensor periodic = torch::zeros({3}, torch::TensorOptions().dtype(torch::kBool));
  auto periodic_flags = periodic.accessor<bool, 1>();
  for (int d = 0; d < 3; d++) periodic_flags[d] = pbc[d];
  periodic = periodic.to(impl_->device);
  bool want_virial = atom_virial != nullptr;
  std::vector<torch::jit::IValue> inputs{pos, numbers, edges, n_local, want_virial, box, periodic, total_charge};
  auto out = impl_->module.forward(inputs).toTuple();
  const auto &el = out->elements();
  torch::Tensor energy = el[0].toTensor().to(torch::kCPU, torch::kFloat64);
  torch::Tensor f = el[1].toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
  if (f.size(0) != n_atoms || f.size(1) != 3) throw std::runtime_error("model returned forces of the wrong shape");
  finite = torch::isfinite(energy).all().item<bool>() && torch::isfinite(f).all().item<bool>();
  std::memcpy(forces, f.data_ptr<double>(), sizeof(double) * 3 * n_atoms);
  if (atom_energy) {
    torch::Tensor e = el[2].toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    finite = finite && torch::isfinite(e.narrow(0, 0, n_local)).all().item<bool>();
    std::memcpy(atom_energy, e.data_ptr<double>(), sizeof(double) * n_atoms);
  }
  if (atom_virial) {
    torch::Tensor v = el[3].toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    if (v.size(0) != n_atoms || v.size(1) != 6) throw std::runtime_error("model returned a per-atom virial of the wrong shape");
    finite = finite && torch::isfinite(v).all().item<bool>();
    std::memcpy(atom_virial, v.data_ptr<double>(), sizeof(double) * 6 * n_atoms);
  }
  torch::Tensor vc = el[4].toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
  if (vc.numel() != 6) throw std::runtime_error("model returned a cell virial of the wrong shape");
  finite = finite && torch::isfinite(vc).all().item<bool>();
  std::memcpy(cell_virial, vc.data_ptr<double>(), sizeof(double) * 6);
  return energy.item<double>();
}

}    // namespace mlip_lammps
