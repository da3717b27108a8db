/* Torch translation unit of pair_style mlip: the coulomb_* methods (Ewald split across ranks,
 * mlip/export/lammps_coulomb.py). The pair style does the communication between the calls. */
#include "mlip_model.h"
#include "mlip_model_impl.h"

#include <cstring>
#include <stdexcept>


namespace mlip_lammps {

namespace {
void require(bool ok)
{
  if (!ok) throw std::runtime_error("this model file has no coulomb_* methods (re-export it with this mlip)");
}

// a (rows x cols) model tensor -> host doubles
void out(const torch::Tensor &t, double *dst, int64_t rows, int64_t cols, const char *what, bool &finite)
{
  torch::Tensor h = t.to(torch::kCPU, torch::kFloat64).contiguous();
  if (h.numel() != rows * cols) throw std::runtime_error(std::string("model returned ") + what + " of the wrong size");
  finite = finite && torch::isfinite(h).all().item<bool>();
  if (rows * cols > 0) std::memcpy(dst, h.data_ptr<double>(), sizeof(double) * rows * cols);
}
}    // namespace

bool Model::has_coulomb_ranks() const { return impl_->coulomb; }
const std::vector<bool> &Model::coulomb_conserves() const { return impl_->conserves; }
double Model::coulomb_real_space_cutoff() const { return impl_->real_space_cutoff; }

void Model::coulomb_network_begin(const double *x, const int64_t *z, int64_t n_atoms, const int64_t *edge_index,
                                  int64_t n_edges, int64_t n_local, double *raw, double *atom_energy)
{
  require(impl_->coulomb);
  torch::AutoGradMode grad_on(true);    // whatever the caller's mode (LAMMPS inside a no_grad Python)
  torch::Tensor edges = impl_->in(edge_index, {2, n_edges});
  auto res = impl_->module
                 .run_method("coulomb_network_forward", impl_->in(x, {n_atoms, 3}), impl_->in(z, {n_atoms}), edges,
                             n_local)
                 .toTuple();
  const auto &el = res->elements();
  impl_->pending_energy = el[0].toTensor();
  impl_->pending_raw = el[1].toTensor();
  impl_->pending_positions = el[2].toTensor();
  impl_->pending_offsets = el[4].toTensor();
  impl_->pending_edges = edges;
  bool finite = true;
  out(impl_->pending_raw.detach(), raw, n_local, (int64_t) impl_->conserves.size(), "charges", finite);
  if (atom_energy) out(el[3].toTensor(), atom_energy, n_local, 1, "atomic energies", finite);
}

std::vector<double> Model::coulomb_structure_factors(const double *x_local, const double *q_local, int64_t n_local,
                                                     const double *cell)
{
  require(impl_->coulomb);
  const int64_t n_sets = (int64_t) impl_->conserves.size();
  auto sf = impl_->module.run_method("coulomb_structure_factors", impl_->in(x_local, {n_local, 3}),
                                     impl_->in(q_local, {n_local, n_sets}), impl_->in(cell, {3, 3}))
                .toTensor()
                .to(torch::kCPU, torch::kFloat64)
                .contiguous();
  return std::vector<double>(sf.data_ptr<double>(), sf.data_ptr<double>() + sf.numel());
}

double Model::coulomb_energy(const double *x, const double *q, int64_t n_all, int64_t n_local, const int64_t *pairs,
                             int64_t n_pairs, const double *cell, const std::vector<double> &factors, double *g_pos,
                             double *g_recip, double *g_q, double *recip_virial, double *atom_virial,
                             bool &finite)
{
  require(impl_->coulomb);
  const int64_t n_sets = (int64_t) impl_->conserves.size();
  torch::AutoGradMode grad_on(true);
  auto res = impl_->module
                 .run_method("coulomb_energy", impl_->in(x, {n_all, 3}), impl_->in(q, {n_all, n_sets}), n_local,
                             impl_->in(pairs, {2, n_pairs}), impl_->in(cell, {3, 3}),
                             impl_->in(factors.data(), {(int64_t) factors.size()}), atom_virial != nullptr)
                 .toTuple();
  const auto &el = res->elements();
  finite = true;
  double energy = el[0].toTensor().to(torch::kCPU, torch::kFloat64).item<double>();
  out(el[1].toTensor(), g_pos, n_all, 3, "real-space gradients", finite);
  out(el[2].toTensor(), g_recip, n_local, 3, "reciprocal gradients", finite);
  out(el[3].toTensor(), g_q, n_all, n_sets, "charge gradients", finite);
  out(el[4].toTensor(), recip_virial, 1, 6, "a reciprocal virial", finite);
  if (atom_virial) out(el[5].toTensor(), atom_virial, n_all, 6, "per-atom virials", finite);
  return energy;
}

double Model::coulomb_network_finish(const double *charge_gradients, double *forces, double *atom_virial,
                                     bool &finite)
{
  require(impl_->coulomb && impl_->pending_positions.defined());
  torch::Tensor pos = impl_->pending_positions, energy = impl_->pending_energy, raw = impl_->pending_raw;
  torch::Tensor offsets = impl_->pending_offsets, edges = impl_->pending_edges;
  impl_->pending_positions = impl_->pending_energy = impl_->pending_raw = torch::Tensor();    // graph freed below
  impl_->pending_offsets = impl_->pending_edges = torch::Tensor();
  const int64_t n_atoms = pos.size(0);
  torch::AutoGradMode grad_on(true);
  auto res = impl_->module
                 .run_method("coulomb_network_backward", energy, raw, pos, offsets, edges,
                             impl_->in(charge_gradients, {raw.size(0), raw.size(1)}), atom_virial != nullptr)
                 .toTuple();
  const auto &el = res->elements();
  finite = true;
  out(el[0].toTensor(), forces, n_atoms, 3, "forces", finite);
  if (atom_virial) out(el[1].toTensor(), atom_virial, n_atoms, 6, "per-atom virials", finite);
  return energy.detach().to(torch::kCPU, torch::kFloat64).item<double>();
}

}    // namespace mlip_lammps
