/* pair_style mlip, Coulomb models on many MPI ranks (LAMMPS translation unit; no torch headers).
 *
 * The Ewald sum of the model's charges split across LAMMPS's domains (the math and the
 * surrogates: mlip/export/lammps_coulomb.py). Per step, on every rank:
 *   1. the networks (whole graph: ghosts to the receptive field), graph kept: short-range energy and
 *      the raw charges of the local atoms;
 *   2. total charge imposed with sums over ranks (MPI_Allreduce); charges sent to ghosts (forward comm);
 *   3. this rank's structure factors, summed over ranks (MPI_Allreduce);
 *   4. this rank's Coulomb energy with dE/dr (real space: local + ghosts; reciprocal: local) and
 *      dE/dq; the ghosts' dE/dq summed onto their owners (reverse comm), minus its mean where the
 *      total charge is imposed;
 *   5. back-propagation of E_short + sum q~ G through the kept graph: all forces through the networks.
 * Forces on ghosts go back to their owners through LAMMPS (newton pair on); the global virial is
 * sum r x F (fdotr) plus the reciprocal part, added after fdotr with the reciprocal forces.
 */
#include "pair_mlip.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "update.h"

#include "mlip_model.h"

#include <algorithm>
#include <cmath>
#include <exception>

using namespace LAMMPS_NS;

void PairMLIP::compute_coulomb_split()
{
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const int n_sets = (int) model_->coulomb_conserves().size();
  const int n_kept = build_whole_graph();
  const int64_t n_edges = (int64_t) edges_.size() / 2;
  double cell[9];
  box_rows(cell);
  double energy = 0.0;
  bool finite = true, ok = true;
  std::string failure;
  auto guarded = [&](const char *stage, auto &&fn) {
    if (!ok) return;
    try {
      fn();
    } catch (std::exception &e) {
      ok = false;
      failure = std::string(stage) + ": " + e.what();
    }
  };

  // 1-2. charges of the local atoms, total charge imposed over all ranks, sent to the ghosts
  raw_charges_.assign((size_t) nlocal * n_sets, 0.0);
  atom_energy_.assign(nall, 0.0);
  atom_virial_.assign(vflag_atom ? 6 * (size_t) nall : 0, 0.0);
  guarded("networks", [&] {
    model_->coulomb_network_begin(positions_.data(), z_.data(), n_kept, edges_.data(), n_edges, nlocal,
                                  raw_charges_.data(), eflag_atom ? atom_energy_.data() : nullptr);
  });
  std::vector<double> sums(n_sets, 0.0), total(n_sets, 0.0);
  for (int i = 0; i < nlocal; i++)
    for (int s = 0; s < n_sets; s++) sums[s] += raw_charges_[(size_t) i * n_sets + s];
  MPI_Allreduce(sums.data(), total.data(), n_sets, MPI_DOUBLE, MPI_SUM, world);
  const double natoms = (double) atom->natoms;
  for (int s = 0; s < n_sets; s++)    // fixed charges cannot absorb an excess (as in Python)
    if (ok && !model_->coulomb_conserves()[s] && std::fabs(total[s] - total_charge_) > 1e-6)
      error->all(FLERR, "pair_style mlip: the model's fixed point charges sum to {:.6g} e but the stated total charge "
                        "is {:.6g} e; set pair_style mlip total_charge to their sum, or fix the structure",
                 total[s], total_charge_);
  charges_.assign((size_t) nall * n_sets, 0.0);
  for (int i = 0; i < nlocal; i++)
    for (int s = 0; s < n_sets; s++) {
      const double shift = model_->coulomb_conserves()[s] ? (total_charge_ - total[s]) / natoms : 0.0;
      charges_[(size_t) i * n_sets + s] = raw_charges_[(size_t) i * n_sets + s] + shift;
    }
  comm_rows_ = charges_.data();
  comm_dim_ = n_sets;
  comm->forward_comm(this);

  // 3. structure factors summed over ranks
  all_positions_.resize(3 * (size_t) nall);
  double **x = atom->x;
  for (int k = 0; k < nall; k++)
    for (int d = 0; d < 3; d++) all_positions_[3 * (size_t) k + d] = x[k][d];
  std::vector<double> mine, factors;
  guarded("structure factors", [&] {
    mine = model_->coulomb_structure_factors(all_positions_.data(), charges_.data(), nlocal, cell);
  });
  // every rank must enter the collectives below: a failed rank contributes zeros, then all stop
  int n_factors = (int) mine.size(), most = 0;
  MPI_Allreduce(&n_factors, &most, 1, MPI_INT, MPI_MAX, world);
  mine.resize(most, 0.0);
  factors.assign(most, 0.0);
  MPI_Allreduce(mine.data(), factors.data(), most, MPI_DOUBLE, MPI_SUM, world);

  // 4. this rank's Coulomb energy and gradients; ghosts' charge gradients back to their owners
  build_coulomb_pairs(model_->coulomb_real_space_cutoff());
  const int64_t n_pairs = (int64_t) coulomb_pairs_.size() / 2;
  real_grads_.assign(3 * (size_t) nall, 0.0);
  recip_grads_.assign(3 * (size_t) nlocal, 0.0);
  charge_grads_.assign((size_t) nall * n_sets, 0.0);
  for (int m = 0; m < 6; m++) recip_virial_[m] = 0.0;
  bool finite_c = true;
  guarded("Coulomb energy", [&] {
    energy += model_->coulomb_energy(all_positions_.data(), charges_.data(), nall, nlocal, coulomb_pairs_.data(),
                                     n_pairs, cell, factors, real_grads_.data(), recip_grads_.data(),
                                     charge_grads_.data(), recip_virial_, vflag_atom ? atom_virial_.data() : nullptr,
                                     finite_c);
  });
  if (vflag_atom) {    // the reciprocal virial has no pairwise split: shared equally by all atoms
    double recip_total[6];
    MPI_Allreduce(recip_virial_, recip_total, 6, MPI_DOUBLE, MPI_SUM, world);
    for (int i = 0; i < nlocal; i++)
      for (int m = 0; m < 6; m++) atom_virial_[6 * (size_t) i + m] += recip_total[m] / natoms;
  }
  comm_rows_ = charge_grads_.data();
  comm->reverse_comm(this);
  std::vector<double> grad_sums(n_sets, 0.0), grad_total(n_sets, 0.0);
  for (int i = 0; i < nlocal; i++)
    for (int s = 0; s < n_sets; s++) grad_sums[s] += charge_grads_[(size_t) i * n_sets + s];
  MPI_Allreduce(grad_sums.data(), grad_total.data(), n_sets, MPI_DOUBLE, MPI_SUM, world);
  if (eflag_atom)    // each atom's Coulomb share ½ Σ_s q dE/dq (E is quadratic in the charges)
    for (int i = 0; i < nlocal; i++)
      for (int s = 0; s < n_sets; s++)
        atom_energy_[i] += 0.5 * charges_[(size_t) i * n_sets + s] * charge_grads_[(size_t) i * n_sets + s];
  for (int i = 0; i < nlocal; i++)
    for (int s = 0; s < n_sets; s++)
      if (model_->coulomb_conserves()[s]) charge_grads_[(size_t) i * n_sets + s] -= grad_total[s] / natoms;

  // 5. short-range energy and the forces through the charges
  net_forces_.assign(3 * (size_t) n_kept, 0.0);
  std::vector<double> net_virial(vflag_atom ? 6 * (size_t) n_kept : 0, 0.0);
  bool finite_n = true;
  guarded("back-propagation through the networks", [&] {
    energy += model_->coulomb_network_finish(charge_grads_.data(), net_forces_.data(),
                                             vflag_atom ? net_virial.data() : nullptr, finite_n);
  });
  if (!ok)
    error->one(FLERR, "pair_style mlip: Coulomb model evaluation failed on rank {} at step {} ({} atoms, {} edges, "
                      "{} Coulomb pairs): {}",
               comm->me, update->ntimestep, n_kept, n_edges, n_pairs, failure);
  finite = finite_c && finite_n;
  forces_.assign(3 * (size_t) nall, 0.0);
  for (int k = 0; k < nall; k++)
    for (int d = 0; d < 3; d++) forces_[3 * (size_t) k + d] = -real_grads_[3 * (size_t) k + d];
  for (int c = 0; c < n_kept; c++)
    for (int d = 0; d < 3; d++) forces_[3 * (size_t) kept_[c] + d] += net_forces_[3 * (size_t) c + d];
  if (vflag_atom)
    for (int c = 0; c < n_kept; c++)
      for (int m = 0; m < 6; m++) atom_virial_[6 * (size_t) kept_[c] + m] += net_virial[6 * (size_t) c + m];
  add_results(energy, finite, nullptr, nall);
}

/* the reciprocal-space forces (local atoms) and virial: not of the sum r x F form, added after fdotr */

void PairMLIP::add_reciprocal(bool with_virial)
{
  double **f = atom->f;
  for (int i = 0; i < atom->nlocal; i++)
    for (int d = 0; d < 3; d++) f[i][d] -= recip_grads_[3 * (size_t) i + d];
  if (with_virial)
    for (int m = 0; m < 6; m++) virial[m] += recip_virial_[m];
}

/* pairs (i local, j local or ghost, j != i) closer than cutoff at the current positions: cell
   list over all atoms, bins of at least cutoff; receivers in order */

void PairMLIP::build_coulomb_pairs(double cutoff)
{
  double **x = atom->x;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  coulomb_pairs_.clear();
  if (nall == 0) return;
  double lo[3] = {x[0][0], x[0][1], x[0][2]}, hi[3] = {x[0][0], x[0][1], x[0][2]};
  for (int k = 1; k < nall; k++)
    for (int d = 0; d < 3; d++) {
      lo[d] = std::min(lo[d], x[k][d]);
      hi[d] = std::max(hi[d], x[k][d]);
    }
  for (int d = 0; d < 3; d++)
    if (!std::isfinite(lo[d]) || !std::isfinite(hi[d])) return;    // the model's output stops the run
  // bins at least `cutoff` wide, and not many more bins than atoms (a sparse or stretched box)
  int nb[3];
  for (int d = 0; d < 3; d++) nb[d] = std::max(1, (int) std::min(1024.0, std::floor((hi[d] - lo[d]) / cutoff)));
  while ((double) nb[0] * nb[1] * nb[2] > 8.0 * nall + 27.0) {
    int widest = 0;
    for (int d = 1; d < 3; d++)
      if (nb[d] > nb[widest]) widest = d;
    nb[widest] = std::max(1, nb[widest] / 2);
  }
  auto bin_of = [&](int k, int *b) {
    for (int d = 0; d < 3; d++) {
      const double width = (hi[d] - lo[d]) / nb[d];
      b[d] = width > 0.0 ? std::min(nb[d] - 1, (int) ((x[k][d] - lo[d]) / width)) : 0;
    }
  };
  const size_t n_bins = (size_t) nb[0] * nb[1] * nb[2];
  bin_head_.assign(n_bins, -1);
  bin_next_.assign(nall, -1);
  for (int k = nall - 1; k >= 0; k--) {
    int b[3];
    bin_of(k, b);
    const size_t id = ((size_t) b[0] * nb[1] + b[1]) * nb[2] + b[2];
    bin_next_[k] = bin_head_[id];
    bin_head_[id] = k;
  }
  const double cutsq = cutoff * cutoff;
  std::vector<int64_t> senders;
  for (int i = 0; i < nlocal; i++) {
    int b[3];
    bin_of(i, b);
    for (int a0 = std::max(0, b[0] - 1); a0 <= std::min(nb[0] - 1, b[0] + 1); a0++)
      for (int a1 = std::max(0, b[1] - 1); a1 <= std::min(nb[1] - 1, b[1] + 1); a1++)
        for (int a2 = std::max(0, b[2] - 1); a2 <= std::min(nb[2] - 1, b[2] + 1); a2++)
          for (int j = bin_head_[((size_t) a0 * nb[1] + a1) * nb[2] + a2]; j >= 0; j = bin_next_[j]) {
            if (j == i) continue;
            const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
            if (dx * dx + dy * dy + dz * dz < cutsq) {
              coulomb_pairs_.push_back(i);
              senders.push_back(j);
            }
          }
  }
  coulomb_pairs_.insert(coulomb_pairs_.end(), senders.begin(), senders.end());
}
