/* Torch translation unit of pair_style mlip: load the TorchScript export, run it. */
#include "mlip_model.h"
#include "mlip_model_impl.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <stdexcept>
#include <unordered_map>

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/cuda.h>
#include <torch/autograd.h>
#include <torch/script.h>

namespace mlip_lammps {

namespace {
const char *kMetadataFile = "mlip_lammps.json";
}

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
  if (impl_->module.find_method("exchange_feature_dims")) {
    impl_->exchange = true;
    impl_->feature_dims = impl_->module.run_method("exchange_feature_dims").toIntVector();
  }
  if (impl_->module.find_method("coulomb_energy")) {
    impl_->coulomb = true;
    for (const auto &c : impl_->module.run_method("coulomb_conserves").toListRef()) impl_->conserves.push_back(c.toBool());
    impl_->real_space_cutoff = impl_->module.run_method("coulomb_real_space_cutoff").toDouble();
  }
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
  torch::Tensor pos = impl_->in(x, {n_atoms, 3});
  torch::Tensor numbers = impl_->in(z, {n_atoms});
  torch::Tensor edges = impl_->in(edge_index, {2, n_edges});
  torch::Tensor box = impl_->in(cell, {3, 3});
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

bool Model::has_exchange() const { return impl_->exchange; }

const std::vector<int64_t> &Model::feature_dims() const { return impl_->feature_dims; }

namespace {
// (n, 6) per-edge virial -1/2 r (x) g, LAMMPS order xx yy zz xy xz yz
torch::Tensor edge_virial(const torch::Tensor &vec, const torch::Tensor &g)
{
  using torch::indexing::Slice;
  auto c = [&](int a, int b) { return vec.select(1, a) * g.select(1, b); };
  return -0.5 * torch::stack({c(0, 0), c(1, 1), c(2, 2), c(0, 1), c(0, 2), c(1, 2)}, 1);
}
}    // namespace

double Model::compute_exchange(const double *x, const int64_t *z, int64_t n_atoms, const int64_t *edge_index,
                               int64_t n_edges, int64_t n_local, int64_t max_edges, double *forces,
                               double *atom_energy, double *atom_virial, bool &finite,
                               const Communicate &forward_comm, const Communicate &reverse_comm)
{
  if (!impl_->exchange) throw std::runtime_error("this model file has no layer-by-layer (exchange) methods");
  torch::AutoGradMode grad_mode(true);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto &module = impl_->module;
  const auto dev = impl_->device;
  const auto dt = impl_->dtype;
  torch::Tensor pos = torch::from_blob(const_cast<double *>(x), {n_atoms, 3}, f64);
  torch::Tensor edges_cpu = torch::from_blob(const_cast<int64_t *>(edge_index), {2, n_edges}, i64);
  torch::Tensor receiver = edges_cpu[0], sender = edges_cpu[1];
  // all geometry enters through the edge vectors r_e = r_j - r_i (double precision difference)
  torch::Tensor vec_cpu = pos.index_select(0, sender) - pos.index_select(0, receiver);
  torch::Tensor vec_all = vec_cpu.to(dev, dt, false, true);
  torch::Tensor numbers = torch::from_blob(const_cast<int64_t *>(z), {n_atoms}, i64).to(dev, torch::kInt64, false, true);
  torch::Tensor edges = edges_cpu.to(dev, torch::kInt64, false, true);
  const auto &dims = impl_->feature_dims;
  const int64_t last = (int64_t) dims.size() - 2;    // index of the last layer
  auto &buffer = impl_->comm_buffer;

  // rows (n_atoms x d, model dtype) -> double buffer -> communication -> tensor
  auto exchange_rows = [&](const torch::Tensor &local_rows, int64_t d) {    // forward: local rows -> ghosts
    buffer.assign((size_t) (n_atoms * d), 0.0);
    torch::Tensor rows = torch::from_blob(buffer.data(), {n_atoms, d}, f64);
    if (n_local > 0) rows.narrow(0, 0, n_local).copy_(local_rows.detach().to(torch::kCPU, torch::kFloat64));
    forward_comm(buffer.data(), (int) d);
    return rows.to(dev, dt, false, true);
  };
  auto gather_grads = [&](const torch::Tensor &g_all, int64_t d) {    // reverse: ghost rows -> owners
    buffer.assign((size_t) (n_atoms * d), 0.0);
    torch::Tensor rows = torch::from_blob(buffer.data(), {n_atoms, d}, f64);
    if (g_all.defined()) rows.copy_(g_all.to(torch::kCPU, torch::kFloat64));
    reverse_comm(buffer.data(), (int) d);
    return rows.narrow(0, 0, n_local).to(dev, dt, false, true);
  };

  const int64_t limit = max_edges > 0 ? max_edges : n_edges + 1;
  c10::List<c10::IValue> blocks = module.run_method("exchange_blocks", edges, n_local, limit).toList();
  torch::Tensor g_vec = torch::zeros_like(vec_all);
  torch::Tensor e_local;
  torch::Tensor energy;
  if (blocks.size() <= 1) {
    // one pass (also with no local atoms: every rank takes part in every communication): every
    // layer's graph kept, geometry computed once
    torch::Tensor vec = vec_all.detach().requires_grad_(true);
    std::vector<torch::Tensor> geo = module.run_method("exchange_geometry", vec).toTensorVector();
    c10::List<torch::Tensor> geo_list(geo);
    torch::Tensor feats = module.run_method("exchange_embed", numbers).toTensor().detach();
    std::vector<torch::Tensor> inputs, outputs;
    for (int64_t k = 0; k <= last; k++) {
      torch::Tensor xin = feats.detach();
      if (k > 0) xin.requires_grad_(true);
      torch::Tensor out = module.run_method("exchange_layer", k, xin, numbers, geo_list, edges, n_local).toTensor();
      if (out.size(0) != n_local || out.size(1) != dims[k + 1])
        throw std::runtime_error("exchange_layer returned the wrong shape");
      inputs.push_back(xin);
      outputs.push_back(out);
      if (k < last) feats = exchange_rows(out, dims[k + 1]);    // the readout needs local rows only
    }
    torch::Tensor xin = outputs[last].detach().requires_grad_(true);
    e_local = module.run_method("exchange_energy", xin, numbers, vec, edges, n_local).toTensor();
    energy = e_local.sum();
    std::vector<torch::Tensor> g0 = torch::autograd::grad({energy}, {xin, vec}, {}, true, false, true);
    torch::Tensor g_x = g0[0];
    if (g0[1].defined()) g_vec = g_vec + g0[1];
    std::vector<torch::Tensor> g_geo(geo.size());
    for (int64_t k = last; k >= 0; k--) {
      torch::Tensor g_out = k < last ? gather_grads(g_x, dims[k + 1]) : g_x;
      std::vector<torch::Tensor> wrt;
      if (k > 0) wrt.push_back(inputs[k]);
      for (const auto &t : geo) wrt.push_back(t);
      std::vector<torch::Tensor> g = torch::autograd::grad({outputs[k]}, wrt, {g_out}, true, false, true);
      const size_t first = k > 0 ? 1 : 0;
      for (size_t a = 0; a < geo.size(); a++)
        if (g[first + a].defined()) g_geo[a] = g_geo[a].defined() ? g_geo[a] + g[first + a] : g[first + a];
      g_x = k > 0 ? g[0] : torch::Tensor();
    }
    std::vector<torch::Tensor> geo_out, geo_grad;
    for (size_t a = 0; a < geo.size(); a++)
      if (g_geo[a].defined()) {
        geo_out.push_back(geo[a]);
        geo_grad.push_back(g_geo[a]);
      }
    if (!geo_out.empty()) {
      std::vector<torch::Tensor> gv = torch::autograd::grad(geo_out, {vec}, geo_grad, false, false, true);
      if (gv[0].defined()) g_vec = g_vec + gv[0];
    }
  } else {
    // blocks of receivers (bounded memory, see mlip/export/lammps_layered.py): layers 0..L-2
    // without a graph, then the last layer + readout per block, then earlier layers recomputed
    struct Block {
      int64_t a, b;
      torch::Tensor ids, atoms, z, local;
    };
    std::vector<Block> bl;
    for (const c10::IValue &item : blocks) {
      std::vector<torch::Tensor> t = item.toTensorVector();
      auto bounds = t[0].to(torch::kCPU);
      torch::Tensor atoms = t[2];
      bl.push_back({bounds[0].item<int64_t>(), bounds[1].item<int64_t>(), t[1], atoms, numbers.index_select(0, atoms), t[3]});
    }
    auto geometry = [&](const torch::Tensor &v) {
      return c10::List<torch::Tensor>(module.run_method("exchange_geometry", v).toTensorVector());
    };
    std::vector<torch::Tensor> feats{module.run_method("exchange_embed", numbers).toTensor().detach()};
    {
      torch::NoGradGuard no_grad;
      for (int64_t k = 0; k < last; k++) {
        torch::Tensor local_rows = torch::zeros({n_local, dims[k + 1]}, vec_all.options());
        for (const Block &B : bl) {
          torch::Tensor out = module.run_method("exchange_layer", k, feats[k].index_select(0, B.atoms), B.z,
                                                geometry(vec_all.index_select(0, B.ids)), B.local, B.b - B.a).toTensor();
          local_rows.narrow(0, B.a, B.b - B.a).copy_(out);
        }
        feats.push_back(exchange_rows(local_rows, dims[k + 1]));
      }
    }
    e_local = torch::zeros({n_local}, vec_all.options());
    torch::Tensor g_x = torch::zeros({n_atoms, dims[last]}, vec_all.options());
    for (const Block &B : bl) {
      torch::Tensor xin = feats[last].index_select(0, B.atoms);
      if (last > 0) xin.requires_grad_(true);
      torch::Tensor v = vec_all.index_select(0, B.ids).requires_grad_(true);
      torch::Tensor out = module.run_method("exchange_layer", last, xin, B.z, geometry(v), B.local, B.b - B.a).toTensor();
      torch::Tensor e = module.run_method("exchange_energy", out, B.z, v, B.local, B.b - B.a).toTensor();
      std::vector<torch::Tensor> wrt{v};
      if (last > 0) wrt.push_back(xin);
      std::vector<torch::Tensor> g = torch::autograd::grad({e.sum()}, wrt, {}, false, false, true);
      if (g[0].defined()) g_vec.index_add_(0, B.ids, g[0]);
      if (last > 0 && g[1].defined()) g_x.index_add_(0, B.atoms, g[1]);
      e_local.narrow(0, B.a, B.b - B.a).copy_(e.detach());
    }
    for (int64_t k = last - 1; k >= 0; k--) {
      torch::Tensor g_out = gather_grads(g_x, dims[k + 1]);
      g_x = torch::zeros({n_atoms, dims[k]}, vec_all.options());
      for (const Block &B : bl) {
        torch::Tensor xin = feats[k].index_select(0, B.atoms);
        if (k > 0) xin.requires_grad_(true);
        torch::Tensor v = vec_all.index_select(0, B.ids).requires_grad_(true);
        torch::Tensor out = module.run_method("exchange_layer", k, xin, B.z, geometry(v), B.local, B.b - B.a).toTensor();
        std::vector<torch::Tensor> wrt{v};
        if (k > 0) wrt.push_back(xin);
        std::vector<torch::Tensor> g =
            torch::autograd::grad({out}, wrt, {g_out.narrow(0, B.a, B.b - B.a)}, false, false, true);
        if (g[0].defined()) g_vec.index_add_(0, B.ids, g[0]);
        if (k > 0 && g[1].defined()) g_x.index_add_(0, B.atoms, g[1]);
      }
    }
    energy = e_local.sum();
  }
  // dE/dr_j = g_e, dE/dr_i = -g_e for r_e = r_j - r_i: F_i += g_e, F_j -= g_e
  torch::Tensor g = g_vec.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  torch::Tensor f = torch::zeros({n_atoms, 3}, f64).index_add_(0, receiver, g).index_add_(0, sender, -g);
  double e = energy.detach().to(torch::kCPU, torch::kFloat64).item<double>();
  finite = std::isfinite(e) && torch::isfinite(f).all().item<bool>();
  std::memcpy(forces, f.data_ptr<double>(), sizeof(double) * 3 * n_atoms);
  if (atom_energy) {
    std::fill(atom_energy, atom_energy + n_atoms, 0.0);
    torch::Tensor el = e_local.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    if (n_local > 0) std::memcpy(atom_energy, el.data_ptr<double>(), sizeof(double) * n_local);
  }
  if (atom_virial) {
    torch::Tensor w = edge_virial(vec_cpu, g);
    torch::Tensor v = torch::zeros({n_atoms, 6}, f64).index_add_(0, receiver, w).index_add_(0, sender, w);
    finite = finite && torch::isfinite(v).all().item<bool>();
    std::memcpy(atom_virial, v.data_ptr<double>(), sizeof(double) * 6 * n_atoms);
  }
  return e;
}

}    // namespace mlip_lammps
