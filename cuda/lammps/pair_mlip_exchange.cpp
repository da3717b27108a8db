/* pair_style mlip, layer-by-layer path: ghost atoms one cutoff (+ skin) deep, node features
 * exchanged between ranks once per message-passing layer (LAMMPS translation unit; no torch
 * headers, see mlip_model.h).
 *
 * Per step: edges i -> j for every LOCAL receiver i and its neighbours j (local or ghost) within
 * the model cutoff; the model computes the local atoms' features one layer at a time, and after
 * each layer LAMMPS's forward communication copies every atom's new features to its ghost copies
 * (on this rank or another). The backward pass mirrors it: gradients on ghost rows are summed
 * onto their owners by the reverse communication. Forces on ghost atoms are then summed back by
 * LAMMPS's usual force communication (newton pair on), and the global virial is sum r (x) F over
 * local and ghost atoms (fdotr), exact as in the whole-graph path. The algebra, and a Python
 * reference of this driver, are in mlip/export/lammps_layered.py.
 */
#include "pair_mlip.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "neigh_list.h"
#include "update.h"

#include "mlip_model.h"

#include <cmath>
#include <cstring>
#include <exception>

using namespace LAMMPS_NS;

void PairMLIP::compute_exchange()
{
  double **x = atom->x;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;

  // full neighbour list of the local atoms (ghost senders included), cut at the model cutoff
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  const double cutsq_model = cutoff_ * cutoff_;
  receivers_.clear();
  senders_.clear();
  for (int ii = 0; ii < inum; ii++) {
    const int i = ilist[ii];
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    const int *jlist = firstneigh[i];
    const int jnum = numneigh[i];
    for (int jj = 0; jj < jnum; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
      if (dx * dx + dy * dy + dz * dz < cutsq_model) {
        receivers_.push_back(i);
        senders_.push_back(j);
      }
    }
  }
  const int64_t n_edges = (int64_t) senders_.size();
  edges_.assign(receivers_.begin(), receivers_.end());
  edges_.insert(edges_.end(), senders_.begin(), senders_.end());    // (2, n_edges)

  positions_.resize(3 * (size_t) nall);
  z_.resize(nall);
  for (int k = 0; k < nall; k++) {
    positions_[3 * k + 0] = x[k][0];
    positions_[3 * k + 1] = x[k][1];
    positions_[3 * k + 2] = x[k][2];
    z_[k] = type_z_[type[k]];
  }
  forces_.assign(3 * (size_t) nall, 0.0);
  if (eflag_atom) atom_energy_.assign(nall, 0.0);
  if (vflag_atom) atom_virial_.assign(6 * (size_t) nall, 0.0);

  // every rank runs every communication, even with no atoms: they are collective
  auto forward = [this](double *rows, int dim) {
    comm_rows_ = rows;
    comm_dim_ = dim;
    comm->forward_comm(this, dim);
  };
  auto reverse = [this](double *rows, int dim) {
    comm_rows_ = rows;
    comm_dim_ = dim;
    comm->reverse_comm(this, dim);
  };
  double energy = 0.0;
  bool finite = true;
  try {
    energy = model_->compute_exchange(positions_.data(), z_.data(), nall, edges_.data(), n_edges, nlocal,
                                      max_edges_, forces_.data(), eflag_atom ? atom_energy_.data() : nullptr,
                                      vflag_atom ? atom_virial_.data() : nullptr, finite, forward, reverse);
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style mlip: model evaluation (feature exchange) failed on rank {} at step {} ({} local, "
                      "{} ghost atoms, {} edges): {}",
               comm->me, update->ntimestep, nlocal, nall - nlocal, n_edges, e.what());
  }
  comm_rows_ = nullptr;
  add_results(energy, finite, nullptr, nall);
}

/* ----------------------------------------------------------------------
   communication of node features (forward) and their gradients (reverse)
------------------------------------------------------------------------- */

int PairMLIP::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  const int d = comm_dim_;
  int m = 0;
  for (int i = 0; i < n; i++) {
    const double *row = comm_rows_ + (size_t) list[i] * d;
    for (int c = 0; c < d; c++) buf[m++] = row[c];
  }
  return m;
}

void PairMLIP::unpack_forward_comm(int n, int first, double *buf)
{
  const int d = comm_dim_;
  int m = 0;
  for (int i = first; i < first + n; i++) {
    double *row = comm_rows_ + (size_t) i * d;
    for (int c = 0; c < d; c++) row[c] = buf[m++];
  }
}

int PairMLIP::pack_reverse_comm(int n, int first, double *buf)
{
  const int d = comm_dim_;
  int m = 0;
  for (int i = first; i < first + n; i++) {
    const double *row = comm_rows_ + (size_t) i * d;
    for (int c = 0; c < d; c++) buf[m++] = row[c];
  }
  return m;
}

void PairMLIP::unpack_reverse_comm(int n, int *list, double *buf)
{
  const int d = comm_dim_;
  int m = 0;
  for (int i = 0; i < n; i++) {
    double *row = comm_rows_ + (size_t) list[i] * d;
    for (int c = 0; c < d; c++) row[c] += buf[m++];
  }
}
