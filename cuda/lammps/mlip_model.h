/* The torch side of pair_style mlip, behind a plain C++ interface.
 *
 * This header includes neither torch nor LAMMPS headers: both bundle their own copy of the fmt
 * library, so the two live in separate translation units (mlip_model.cpp: torch only;
 * pair_mlip.cpp: LAMMPS only). Errors cross the boundary as std::runtime_error.
 */
#ifndef MLIP_LAMMPS_MODEL_H
#define MLIP_LAMMPS_MODEL_H

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mlip_lammps {

class Model {
 public:
  // Loads a file written by mlip.export.export_lammps. `device` is "cpu", "cuda" or "cuda:N".
  // `op_libraries` are shared libraries (custom torch ops) loaded before the model.
  // Throws std::runtime_error with a readable message on any failure.
  Model(const std::string &path, const std::string &device, const std::vector<std::string> &op_libraries);
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  // The JSON metadata stored in the file ("" if the file has none).
  const std::string &metadata_json() const;

  // Switch the floating-point type the model runs in ("float32" / "float64").
  void set_dtype(const std::string &dtype);

  // Threads torch may use in this process.
  static void set_num_threads(int n);

  // One evaluation. x: n_atoms*3 positions (local atoms first); z: n_atoms atomic numbers;
  // edge_index: 2*n_edges (receivers, then senders). cell: 9 numbers, the box's rows a, b, c (Å);
  // pbc: 3 flags; total_charge: e (cell, pbc and total_charge are read by Coulomb terms only).
  // Fills forces (n_atoms*3), atom_energy (n_atoms, if non-null), atom_virial (n_atoms*6, if
  // non-null) and cell_virial (6: the part of the global virial that sum r x F misses); returns
  // the energy of the first n_local atoms. `finite` is false if any returned number is NaN or
  // infinite.
  double compute(const double *x, const int64_t *z, int64_t n_atoms, const int64_t *edge_index, int64_t n_edges,
                 int64_t n_local, const double *cell, const bool *pbc, double total_charge, double *forces,
                 double *atom_energy, double *atom_virial, double *cell_virial, bool &finite);

  // True if the file holds the layer-by-layer methods (mlip.export.lammps_layered): ghost atoms
  // one cutoff deep, node features exchanged between ranks once per message-passing layer.
  bool has_exchange() const;
  // Features per atom before layer 0, after layer 0, ..., after the last layer.
  const std::vector<int64_t> &feature_dims() const;

  // comm(buffer, dim): `buffer` holds n_atoms rows of `dim` doubles (local atoms first). A forward
  // communication copies each owned atom's row into its ghost copies' rows; a reverse one adds
  // each ghost row onto its owner's row.
  using Communicate = std::function<void(double *buffer, int dim)>;

  // One layer-by-layer evaluation. Every edge's receiver (edge_index[0..n_edges)) is a local atom
  // (< n_local); senders are local or ghost atoms. With more than max_edges edges (> 0) the local
  // receivers are evaluated in blocks of at most max_edges edges (bounded memory; earlier layers
  // recomputed). Fills forces (n_atoms*3, ghost forces still to be summed onto their owners),
  // atom_energy (n_atoms: local entries, ghosts 0; if non-null) and atom_virial (n_atoms*6, if
  // non-null); returns the energy of the local atoms. Calls forward_comm and reverse_comm
  // n_layers - 1 times each, on every rank alike.
  double compute_exchange(const double *x, const int64_t *z, int64_t n_atoms, const int64_t *edge_index,
                          int64_t n_edges, int64_t n_local, int64_t max_edges, double *forces, double *atom_energy,
                          double *atom_virial, bool &finite, const Communicate &forward_comm,
                          const Communicate &reverse_comm);

  // Coulomb models split across MPI ranks (mlip.export.lammps_coulomb; true if the file has them).
  bool has_coulomb_ranks() const;
  // Per charge set: true when the total charge is imposed on it (learned charges).
  const std::vector<bool> &coulomb_conserves() const;
  // Pairs (and ghost atoms) must reach this far (Å): the largest Ewald real-space cutoff.
  double coulomb_real_space_cutoff() const;
  // The networks on the graph, their autograd graph kept until coulomb_network_finish: fills the
  // charges q~ (n_local x n_sets, e) of the local atoms before the total charge is imposed and,
  // if non-null, their short-range atomic energies (n_local, eV).
  void coulomb_network_begin(const double *x, const int64_t *z, int64_t n_atoms, const int64_t *edge_index,
                             int64_t n_edges, int64_t n_local, double *raw, double *atom_energy);
  // This rank's share of the structure factors and total charges (to be summed over ranks).
  std::vector<double> coulomb_structure_factors(const double *x_local, const double *q_local, int64_t n_local,
                                                const double *cell);
  // This rank's Coulomb energy (eV). pairs: 2*n_pairs (i local, j any, j != i) closer than the
  // real-space cutoff; q: n_all x n_sets charges (ghosts' from their owners); factors: the summed
  // structure factors. Fills g_pos (n_all*3, dE/dr of the real-space part), g_recip (n_local*3,
  // dE/dr of the reciprocal part), g_q (n_all*n_sets, dE/dq) and recip_virial (6, xx yy zz xy xz yz).
  // atom_virial (n_all*6, if non-null): the real-space pairs' per-atom virial.
  double coulomb_energy(const double *x, const double *q, int64_t n_all, int64_t n_local, const int64_t *pairs,
                        int64_t n_pairs, const double *cell, const std::vector<double> &factors, double *g_pos,
                        double *g_recip, double *g_q, double *recip_virial, double *atom_virial, bool &finite);
  // Back-propagates E_short + sum q~ G through the graph kept by coulomb_network_begin (G:
  // n_local x n_sets, dE_Coulomb/dq~ in V): fills forces (n_atoms*3, the atoms given to begin),
  // returns the short-range energy of the local atoms (eV).
  // atom_virial (n_atoms*6, if non-null): the networks' per-atom virial (each edge adds
  // -1/2 r_e (x) dL/dr_e to both its atoms).
  double coulomb_network_finish(const double *charge_gradients, double *forces, double *atom_virial, bool &finite);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace mlip_lammps

#endif
