/* pair_style mlip, whole-graph path (LAMMPS translation unit; no torch headers, see mlip_model.h).
 *
 * Ghost atoms out to the receptive field (n_layers x cutoff + skin), a full neighbour list of
 * local AND ghost atoms, graph pruned to the atoms and edges that reach a local energy, one
 * model call. Used by Coulomb models (one MPI rank) and by `pair_style mlip exchange no`.
 */
#include "pair_mlip.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "neigh_list.h"
#include "update.h"

#include "mlip_model.h"

#include <cmath>
#include <exception>

using namespace LAMMPS_NS;

void PairMLIP::compute_whole_graph(int, int)
{
  const int nlocal = atom->nlocal;
  const int n_kept = build_whole_graph();
  const int64_t n_edges = (int64_t) edges_.size() / 2;
  forces_.assign(3 * (size_t) n_kept, 0.0);
  if (eflag_atom) atom_energy_.assign(n_kept, 0.0);
  if (vflag_atom) atom_virial_.assign(6 * (size_t) n_kept, 0.0);

  // LAMMPS's box: rows a = (xprd, 0, 0), b = (xy, yprd, 0), c = (xz, yz, zprd) (Å)
  double cell[9];
  box_rows(cell);
  const bool pbc[3] = {domain->xperiodic != 0, domain->yperiodic != 0, domain->zperiodic != 0};
  if (long_range_ && (bigint) nlocal != atom->natoms)
    error->one(FLERR, "pair_style mlip: the Coulomb term needs all {} atoms on this rank, it holds {}", atom->natoms,
               nlocal);
  double cell_virial[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  double energy = 0.0;
  bool finite = true;
  if (n_kept > 0) {
    try {
      energy = model_->compute(positions_.data(), z_.data(), n_kept, edges_.data(), n_edges, nlocal, cell, pbc,
                               total_charge_, forces_.data(), eflag_atom ? atom_energy_.data() : nullptr,
                               vflag_atom ? atom_virial_.data() : nullptr, cell_virial, finite);
    } catch (std::exception &e) {
      error->one(FLERR, "pair_style mlip: model evaluation failed on rank {} at step {} ({} atoms, {} edges): {}",
                 comm->me, update->ntimestep, n_kept, n_edges, e.what());
    }
  }
  add_results(energy, finite, kept_.data(), n_kept);
  // sum r x F over local and ghost atoms (fdotr) misses the Coulomb energy's explicit cell
  // dependence (Ewald): the model returns that part (LAMMPS clears vflag_global when it uses fdotr)
  if (vflag_global || vflag_fdotr)
    for (int m = 0; m < 6; m++) virial[m] += cell_virial[m];
}

/* ----------------------------------------------------------------------
   the graph the whole-graph model call needs: edges within the cutoff from the full neighbour
   list of local and ghost atoms, pruned to n_layers hops from the local atoms; fills kept_,
   edges_ (2, n_edges), positions_ and z_; returns the number of kept atoms (local ones first)
------------------------------------------------------------------------- */

int PairMLIP::build_whole_graph()
{
  double **x = atom->x;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;

  // Full neighbour list of local AND ghost atoms, cut at the model cutoff (the list has the
  // skin). Receivers appear in ilist order, so each receiver's edges are contiguous.
  const int n_listed = list->inum + list->gnum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  const double cutsq_model = cutoff_ * cutoff_;
  receivers_.clear();
  senders_.clear();
  first_edge_.assign(nall + 1, 0);
  n_edges_of_.assign(nall, 0);
  for (int ii = 0; ii < n_listed; ii++) {
    const int i = ilist[ii];
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    const int *jlist = firstneigh[i];
    const int jnum = numneigh[i];
    first_edge_[i] = (int64_t) senders_.size();
    for (int jj = 0; jj < jnum; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
      if (dx * dx + dy * dy + dz * dz < cutsq_model) {
        receivers_.push_back(i);
        senders_.push_back(j);
      }
    }
    n_edges_of_[i] = (int64_t) senders_.size() - first_edge_[i];
  }

  // Hop distance from the local atoms along edges, capped at n_layers + 1. A local atom's
  // energy after n_layers message-passing steps depends only on atoms within n_layers hops,
  // and only on edges whose receiver is within n_layers - 1 hops: everything else is dropped
  // (exactly: the pruned graph gives the same local energies, hence the same forces).
  const int far = n_layers_ + 1;
  hop_.assign(nall, far);
  frontier_.clear();
  for (int k = 0; k < nlocal; k++) {
    hop_[k] = 0;
    frontier_.push_back(k);
  }
  for (int level = 0; level < n_layers_ && !frontier_.empty(); level++) {
    next_.clear();
    for (int a : frontier_) {
      const int64_t e0 = first_edge_[a], e1 = e0 + n_edges_of_[a];
      for (int64_t e = e0; e < e1; e++) {
        const int b = (int) senders_[e];
        if (hop_[b] > level + 1) {
          hop_[b] = level + 1;
          next_.push_back(b);
        }
      }
    }
    frontier_.swap(next_);
  }
  // compact numbering: local atoms keep 0..nlocal-1, kept ghosts follow in LAMMPS order
  new_index_.assign(nall, -1);
  kept_.clear();
  for (int k = 0; k < nall; k++)
    if (hop_[k] <= n_layers_) {
      new_index_[k] = (int) kept_.size();
      kept_.push_back(k);
    }
  const int n_kept = (int) kept_.size();
  edges_.clear();
  for (size_t e = 0; e < senders_.size(); e++)
    if (hop_[receivers_[e]] < n_layers_) edges_.push_back(new_index_[receivers_[e]]);
  for (size_t e = 0; e < senders_.size(); e++)
    if (hop_[receivers_[e]] < n_layers_) edges_.push_back(new_index_[senders_[e]]);    // (2, n_edges)

  positions_.resize(3 * (size_t) n_kept);
  z_.resize(n_kept);
  for (int c = 0; c < n_kept; c++) {
    const int k = kept_[c];
    positions_[3 * c + 0] = x[k][0];
    positions_[3 * c + 1] = x[k][1];
    positions_[3 * c + 2] = x[k][2];
    z_[c] = type_z_[type[k]];
  }
  return n_kept;
}

void PairMLIP::box_rows(double *cell) const
{
  const double *h = domain->h;
  const double rows[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  for (int m = 0; m < 9; m++) cell[m] = rows[m];
}
