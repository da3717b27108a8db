/* pair_style mlip: mlip's E(3)-equivariant message-passing potentials in LAMMPS.
 *
 *   pair_style mlip [device cpu|cuda|cuda:N] [ops /path/libops.so ...] [total_charge Q] [exchange yes|no]
 *                   [max_edges N] [coulomb auto|split|box]
 *   pair_coeff * * model.pt El1 El2 ...     (one element per LAMMPS atom type)
 *
 * Default for short-range models (files with ghost_exchange): ghost atoms one cutoff (+ skin) deep,
 * a full neighbour list of the local atoms, and the model run one message-passing layer at a time
 * with the ghosts' node features filled in between layers by LAMMPS's forward communication
 * (their gradients summed back by its reverse communication): see mlip/export/lammps_layered.py.
 * `pair_style mlip exchange no` (and every Coulomb model) uses the whole-graph path below.
 *
 * Whole-graph path: the model runs on this rank's local AND ghost atoms
 * with a full neighbour list that includes ghost atoms' neighbours; ghost atoms extend to
 * n_layers x cutoff + skin (the communication cutoff is raised to that automatically, or
 * checked when set with comm_modify cutoff). Energy = sum over local atoms; forces on ghosts
 * are summed back to their owners (newton pair on). A model with a long-range Coulomb term
 * (learned or fixed charges), `coulomb box`: all atoms on one MPI rank, the Coulomb energy summed
 * over the local atoms in the box (direct sum, or Ewald for a fully periodic box); `coulomb split`
 * (default on more ranks in a periodic box): the Ewald sum split across ranks
 * (pair_mlip_coulomb.cpp). See docs/lammps.md.
 */
#ifndef LMP_PAIR_MLIP_H
#define LMP_PAIR_MLIP_H

#include "pair.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlip_lammps {
class Model;
}

namespace LAMMPS_NS {

class PairMLIP : public Pair {
 public:
  PairMLIP(class LAMMPS *);
  ~PairMLIP() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

 protected:
  void allocate();
  void compute_whole_graph(int eflag, int vflag);    // ghosts over the receptive field, one model call
  void compute_exchange();                           // ghosts one cutoff deep, features exchanged per layer
  void compute_coulomb_split();                      // Coulomb model, Ewald sum split across ranks
  void add_reciprocal(bool with_virial);             // its reciprocal forces and virial (after fdotr)
  int build_whole_graph();                           // kept_, edges_, positions_, z_ of the whole-graph call
  void build_coulomb_pairs(double cutoff);           // coulomb_pairs_: (i local, j any) within cutoff
  void box_rows(double *cell) const;                 // LAMMPS's box as rows a, b, c (Å)
  void add_results(double energy, bool finite, const int *index, int n);    // both paths' common ending

  std::unique_ptr<mlip_lammps::Model> model_;
  std::string device_;
  std::vector<std::string> op_libraries_;

  // from the model's metadata
  std::vector<std::string> elements_;
  std::vector<int64_t> element_z_;
  std::vector<double> element_mass_;
  double cutoff_;             // edges (Å): the largest cutoff of any term
  int n_layers_;              // message-passing steps (graph pruning depth)
  double receptive_field_;    // how far an atom's energy reaches (Å): ghosts needed
  bool long_range_;           // Coulomb terms: sums over all atoms (one rank, or split across ranks)
  double total_charge_;       // pair_style keyword total_charge (e), read by Coulomb terms
  std::string coulomb_mode_;  // pair_style keyword coulomb auto|split|box (default auto)
  bool coulomb_split_;        // this run splits the Ewald sum across ranks (mlip/export/lammps_coulomb.py)
  bool exchange_wanted_;      // pair_style keyword exchange yes|no (default yes)
  bool exchange_;             // this run exchanges node features per layer (model supports it, no Coulomb)
  int64_t max_edges_;         // pair_style keyword max_edges: bigger graphs run in blocks (0: never)
  double *comm_rows_;         // the rows being communicated (n_atoms x comm_dim_), owned by the model
  int comm_dim_;

  std::vector<int64_t> type_z_;       // per LAMMPS type (1..ntypes): atomic number
  std::vector<int> type_element_;     // per LAMMPS type: index into elements_
  double auto_comm_cutoff_;           // the comm cutoff this pair style set itself (0: none)

  // per-step buffers, reused
  std::vector<int64_t> receivers_, senders_;    // all edges within the cutoff (LAMMPS indices)
  std::vector<int64_t> first_edge_, n_edges_of_;    // per receiver: its edges' range
  std::vector<int> hop_, frontier_, next_;          // hop distance from the local atoms
  std::vector<int> new_index_, kept_;               // compact numbering of the atoms the model needs
  std::vector<double> positions_;                   // (n_kept, 3)
  std::vector<int64_t> z_;                          // (n_kept,)
  std::vector<int64_t> edges_;                      // (2, n_edges) compact indices
  std::vector<double> forces_;
  std::vector<double> atom_energy_;
  std::vector<double> atom_virial_;
  // Coulomb split across ranks: per-step buffers
  std::vector<double> raw_charges_, charges_, charge_grads_;    // n_local or n_all rows x n_sets
  std::vector<int64_t> coulomb_pairs_;                          // (2, n_pairs)
  std::vector<double> all_positions_, real_grads_, recip_grads_, net_forces_;
  std::vector<int> bin_head_, bin_next_;
  double recip_virial_[6];
};

}    // namespace LAMMPS_NS

#endif
