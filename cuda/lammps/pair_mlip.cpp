/* LAMMPS translation unit of pair_style mlip (no torch headers here: see mlip_model.h). */
#include "pair_mlip.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "json.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include "mlip_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace LAMMPS_NS;

// The export format this pair style reads (mlip.export.lammps.FORMAT_VERSION).
static constexpr int MLIP_LAMMPS_FORMAT_VERSION = 2;
static const char *MLIP_LAMMPS_FORMAT_NAME = "mlip-lammps";
// Feature exchange: a rank with more edges evaluates its local atoms in blocks of at most this
// many edges (memory bounded; earlier layers recomputed): mlip.potential's default too.
static constexpr int64_t kDefaultMaxEdges = 1 << 20;

/* ---------------------------------------------------------------------- */

PairMLIP::PairMLIP(LAMMPS *lmp) :
    Pair(lmp), device_("cpu"), cutoff_(0.0), n_layers_(0), receptive_field_(0.0), long_range_(false),
    total_charge_(0.0), coulomb_mode_("auto"), coulomb_split_(false), exchange_wanted_(true), exchange_(false), max_edges_(kDefaultMaxEdges), comm_rows_(nullptr),
    comm_dim_(0),
    auto_comm_cutoff_(0.0)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  ghostneigh = 1;    // whole-graph path: neighbour lists of ghost atoms too (init_style sets it)
  unit_convert_flag = 0;
  centroidstressflag = CENTROID_NOTAVAIL;
  no_virial_fdotr_compute = 0;    // global virial = sum over local+ghost of r (x) F
#if defined(__GLIBC__)
  // Keep freed memory for the next step instead of unmapping/trimming it: the model allocates
  // the same large tensors every step, and glibc's defaults fault them in again each time
  // (see mlip/allocator.py and benchmarks/bench_allocator.py). Same settings as mlip's CLI.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, -1);    // never trim (blocks free GiBs at once)
#endif
}

PairMLIP::~PairMLIP()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

void PairMLIP::allocate()
{
  allocated = 1;
  int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

/* ----------------------------------------------------------------------
   pair_style mlip [device cpu|cuda|cuda:N] [ops lib.so]... [total_charge Q]
------------------------------------------------------------------------- */

void PairMLIP::settings(int narg, char **arg)
{
  device_ = "cpu";
  op_libraries_.clear();
  total_charge_ = 0.0;
  coulomb_mode_ = "auto";
  exchange_wanted_ = true;
  max_edges_ = kDefaultMaxEdges;
  int iarg = 0;
  while (iarg < narg) {
    std::string key = arg[iarg];
    if (iarg + 1 >= narg) error->all(FLERR, "pair_style mlip: keyword '" + key + "' needs a value");
    if (key == "device") {
      device_ = arg[iarg + 1];
    } else if (key == "ops") {
      op_libraries_.emplace_back(arg[iarg + 1]);
    } else if (key == "total_charge") {
      total_charge_ = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!std::isfinite(total_charge_))
        error->all(FLERR, "pair_style mlip: total_charge must be a finite number (e), got {}", arg[iarg + 1]);
    } else if (key == "coulomb") {
      coulomb_mode_ = arg[iarg + 1];
      if (coulomb_mode_ != "auto" && coulomb_mode_ != "split" && coulomb_mode_ != "box")
        error->all(FLERR, "pair_style mlip: coulomb must be auto, split (Ewald sum split across MPI ranks) or box "
                          "(all atoms on one rank), got '{}'",
                   coulomb_mode_);
    } else if (key == "exchange") {
      exchange_wanted_ = utils::logical(FLERR, arg[iarg + 1], false, lmp) == 1;
    } else if (key == "max_edges") {
      max_edges_ = utils::bnumeric(FLERR, arg[iarg + 1], false, lmp);
      if (max_edges_ < 0)
        error->all(FLERR, "pair_style mlip: max_edges must be >= 0 (0: never split a rank's graph), got {}",
                   arg[iarg + 1]);
    } else {
      error->all(FLERR, "pair_style mlip: unknown keyword '" + key + "' (known: device, ops, total_charge, coulomb, exchange, max_edges)");
    }
    iarg += 2;
  }
}

/* ----------------------------------------------------------------------
   pair_coeff * * model.pt El1 El2 ... ElN   (N = number of atom types)
------------------------------------------------------------------------- */

void PairMLIP::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg < 3 || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for pair_style mlip must be: pair_coeff * * model.pt El1 El2 ... (one element "
                      "symbol per atom type)");
  const std::string path = arg[2];
  if (narg - 3 != ntypes)
    error->all(FLERR, "pair_coeff * * {}: this box has {} atom type(s) but {} element symbol(s) were given; give "
                      "exactly one element per atom type, in type order",
               path, ntypes, narg - 3);

  try {
    model_.reset(new mlip_lammps::Model(path, device_, op_libraries_));
  } catch (std::exception &e) {
    error->all(FLERR, std::string("pair_style mlip: ") + e.what());
  }

  // metadata: format, version, elements, cutoff, layers, dtype
  std::vector<std::string> elements;
  std::vector<int64_t> zs;
  std::vector<double> masses;
  std::string dtype, units, long_range = "none";
  int version = -1;
  try {
    const std::string &text = model_->metadata_json();
    if (text.empty()) throw std::runtime_error("it holds no mlip_lammps.json metadata");
    json meta = json::parse(text);
    if (meta.value("format", std::string()) != MLIP_LAMMPS_FORMAT_NAME)
      throw std::runtime_error("its metadata format is '" + meta.value("format", std::string()) + "', not '" +
                               MLIP_LAMMPS_FORMAT_NAME + "'");
    version = meta.at("format_version").get<int>();
    if (version == MLIP_LAMMPS_FORMAT_VERSION) {
      elements = meta.at("elements").get<std::vector<std::string>>();
      zs = meta.at("atomic_numbers").get<std::vector<int64_t>>();
      masses = meta.at("masses_amu").get<std::vector<double>>();
      cutoff_ = meta.at("cutoff_A").get<double>();
      n_layers_ = meta.at("n_layers").get<int>();
      receptive_field_ = meta.at("receptive_field_A").get<double>();
      dtype = meta.at("dtype").get<std::string>();
      units = meta.at("lammps_units").get<std::string>();
      long_range = meta.at("long_range").get<std::string>();
    }
  } catch (std::exception &e) {
    error->all(FLERR, "pair_coeff * * " + path +
                          ": not a model file written by mlip's LAMMPS export (mlip export --lammps): " + e.what());
  }
  if (version != MLIP_LAMMPS_FORMAT_VERSION)
    error->all(FLERR, "pair_coeff * * {}: model file format version {}, but this pair_style mlip reads version {}; "
                      "re-export the potential with the mlip that matches this plugin (or rebuild the plugin)",
               path, version, MLIP_LAMMPS_FORMAT_VERSION);
  if (elements.empty() || elements.size() != zs.size() || elements.size() != masses.size() || !(cutoff_ > 0.0) ||
      n_layers_ < 1 || !(receptive_field_ >= cutoff_) || units != "metal" ||
      (long_range != "none" && long_range != "coulomb"))
    error->all(FLERR, "pair_coeff * * " + path +
                          ": inconsistent metadata (elements, cutoff, n_layers, units or long_range)");
  long_range_ = long_range == "coulomb";
  // layer-by-layer evaluation with feature exchange: short-range models whose file has the methods
  exchange_ = exchange_wanted_ && !long_range_ && model_->has_exchange();
  comm_forward = comm_reverse = 0;
  if (exchange_)
    for (int64_t d : model_->feature_dims()) comm_forward = comm_reverse = std::max(comm_forward, (int) d);
  if (long_range_ && model_->has_coulomb_ranks())    // charges and their gradients, one per charge set
    comm_forward = comm_reverse = std::max(comm_forward, (int) model_->coulomb_conserves().size());
  try {
    model_->set_dtype(dtype);
  } catch (std::exception &e) {
    error->all(FLERR, "pair_coeff * * " + path + ": " + e.what());
  }
  elements_ = elements;
  element_z_ = zs;
  element_mass_ = masses;

  std::string known;
  for (const auto &el : elements_) known += (known.empty() ? "" : " ") + el;
  type_z_.assign(ntypes + 1, 0);
  type_element_.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    const std::string sym = arg[2 + t];
    if (sym == "NULL")
      error->all(FLERR, "pair_coeff * * {}: NULL (type {}) is not supported: every atom type must map to one of "
                        "the model's elements ({})",
                 path, t, known);
    int k = -1;
    for (size_t e = 0; e < elements_.size(); e++)
      if (elements_[e] == sym) k = (int) e;
    if (k < 0)
      error->all(FLERR, "pair_coeff * * {}: element '{}' given for atom type {} is not one of the model's elements "
                        "({})",
                 path, sym, t, known);
    type_element_[t] = k;
    type_z_[t] = element_z_[k];
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;

  if (comm->me == 0)
    utils::logmesg(lmp, "pair_style mlip: {} ({}, elements {}, cutoff {} A, {} layer(s): receptive field {} A{}{})\n",
                   path, dtype, known, cutoff_, n_layers_, receptive_field_,
                   long_range_ ? fmt::format(", long-range Coulomb, total charge {} e", total_charge_) : "",
                   exchange_ ? fmt::format("; ghost atoms one cutoff deep, {} doubles per atom exchanged per layer",
                                           comm_forward)
                             : "; whole-graph evaluation");
}

/* ---------------------------------------------------------------------- */

void PairMLIP::init_style()
{
  if (!model_) error->all(FLERR, "pair_style mlip: no model loaded (pair_coeff * * model.pt El1 El2 ...)");
  if (force->newton_pair == 0)
    error->all(FLERR, "pair_style mlip requires newton pair on (forces on ghost atoms are summed back to their "
                      "owners)");
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style mlip requires units metal (Å, eV, ps, amu); this input uses units {}",
               update->unit_style);
  if (comm->mode != Comm::SINGLE)
    error->all(FLERR, "pair_style mlip requires comm_modify mode single (one communication cutoff)");
  const int n_periodic = domain->xperiodic + domain->yperiodic + domain->zperiodic;
  // Coulomb split across ranks (Ewald, periodic boxes): on request, or by default on > 1 rank
  coulomb_split_ = long_range_ && model_->has_coulomb_ranks() && n_periodic == 3 &&
      (coulomb_mode_ == "split" || (coulomb_mode_ == "auto" && comm->nprocs > 1));
  if (coulomb_split_ && force->pair != this)
    error->all(FLERR, "pair_style mlip: the Ewald sum split across ranks adds reciprocal forces and virial after "
                      "Σ r⊗F, which pair_style hybrid cannot do; use pair_style mlip alone, or coulomb box on one rank");
  if (long_range_ && coulomb_mode_ == "split" && !coulomb_split_)
    error->all(FLERR, "pair_style mlip: coulomb split needs a box periodic in all three directions (Ewald) and a "
                      "model file with the split methods (export it again with this mlip); use coulomb box on one "
                      "rank otherwise");
  if (long_range_ && !coulomb_split_) {
    // The model sums the Coulomb energy over this rank's local atoms in the box: exact only when
    // they are all the atoms.
    if (comm->nprocs > 1)
      error->all(FLERR,
                 "pair_style mlip: the model has a long-range Coulomb term (learned or fixed charges), which sums over "
                 "ALL atoms; pair_style mlip evaluates it on one MPI rank only, but this run uses {} ranks. Run on one "
                 "rank (mpirun -np 1; torch threads and a GPU still parallelise the model), use a box periodic in all "
                 "three directions (the Ewald sum is then split across ranks: pair_style mlip coulomb split), or "
                 "export a short-range model (long_range='none', no point_charges baseline) for domain decomposition",
                 comm->nprocs);
    if (n_periodic != 0 && n_periodic != 3)
      error->all(FLERR,
                 "pair_style mlip: the model's Coulomb term needs a box periodic in all three directions (Ewald) or in "
                 "none (direct sum), got boundary periodicity {} {} {}; for a slab or wire use a fully periodic box "
                 "with vacuum padding along the open direction(s), or a non-periodic box for a finite system",
                 domain->xperiodic, domain->yperiodic, domain->zperiodic);
  } else if (!long_range_ && total_charge_ != 0.0 && comm->me == 0) {
    error->warning(FLERR, "pair_style mlip: total_charge {} e is ignored: the model has no charges (long_range "
                          "'none')",
                   total_charge_);
  }

  // Ghost atoms must reach every atom within n_layers message-passing hops of a local atom,
  // at any time until the next reneighbouring: the receptive field (n_layers * cutoff for one
  // network; the largest over all terms) + skin.
  // With feature exchange, one cutoff (+ skin) of ghosts suffices: LAMMPS's default.
  ghostneigh = exchange_ ? 0 : 1;
  if (exchange_ && auto_comm_cutoff_ > 0.0 && comm->cutghostuser == auto_comm_cutoff_) {
    comm->cutghostuser = 0.0;    // raised by this pair style for an earlier whole-graph run: not needed now
    auto_comm_cutoff_ = 0.0;
  }
  // Coulomb split: ghosts (and pairs) also out to the Ewald real-space cutoff
  const double reach = coulomb_split_ ? std::max(receptive_field_, model_->coulomb_real_space_cutoff()) : receptive_field_;
  const double needed = (exchange_ ? cutoff_ : reach) + neighbor->skin;
  const double pair_reach = cutoff_ + neighbor->skin;    // what LAMMPS provides by itself
  if (needed > pair_reach) {
    if (comm->cutghostuser == 0.0 || comm->cutghostuser == auto_comm_cutoff_) {
      if (comm->cutghostuser != needed) {
        comm->cutghostuser = needed;
        auto_comm_cutoff_ = needed;
        if (comm->me == 0)
          utils::logmesg(lmp,
                         "pair_style mlip: communication cutoff set to {:.6g} A = receptive field {:.6g} A "
                         "({} layers){} + {:.6g} A skin\n",
                         needed, receptive_field_, n_layers_,
                         coulomb_split_ ? fmt::format(" or Ewald real-space cutoff {:.6g} A", model_->coulomb_real_space_cutoff()) : "",
                         neighbor->skin);
      }
    } else if (comm->cutghostuser < needed) {
      error->all(FLERR,
                 "pair_style mlip: comm_modify cutoff {:.6g} A is too small for this model: its receptive field "
                 "({} message-passing layers{}) {:.6g} A + {:.6g} A skin = {:.6g} A of ghost atoms are needed. Use "
                 "'comm_modify cutoff {:.6g}' (or larger), or leave the communication cutoff unset and pair_style "
                 "mlip sets it",
                 comm->cutghostuser, n_layers_, coulomb_split_ ? ", or the Ewald real-space cutoff" : "", reach,
                 neighbor->skin, needed, needed);
    }
  }

  // A type whose mass does not match its element usually means a wrong element order.
  if (atom->mass && atom->mass_setflag) {
    for (int t = 1; t <= atom->ntypes; t++) {
      if (!atom->mass_setflag[t] || type_element_[t] < 0) continue;
      const double m = atom->mass[t], ref = element_mass_[type_element_[t]];
      if (std::fabs(m - ref) > 0.1 * ref && comm->me == 0)
        error->warning(FLERR,
                       "pair_style mlip: atom type {} has mass {:.6g} amu but pair_coeff maps it to {} ({:.6g} amu); "
                       "check the order of the elements in pair_coeff",
                       t, m, elements_[type_element_[t]], ref);
    }
  }

  neighbor->add_request(this, exchange_ ? NeighConst::REQ_FULL : NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
  mlip_lammps::Model::set_num_threads(comm->nthreads);
}

/* ---------------------------------------------------------------------- */

double PairMLIP::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "pair_style mlip: all pair coeffs are not set");
  cutghost[i][j] = cutghost[j][i] = cutoff_;
  return cutoff_;
}

/* ---------------------------------------------------------------------- */

void PairMLIP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (exchange_)
    compute_exchange();
  else if (coulomb_split_)
    compute_coulomb_split();
  else
    compute_whole_graph(eflag, vflag);
  const bool with_virial = vflag_global || vflag_fdotr;    // (virial_fdotr_compute clears vflag_fdotr)
  if (vflag_fdotr) virial_fdotr_compute();
  if (coulomb_split_) add_reciprocal(with_virial);
}

/* ----------------------------------------------------------------------
   both paths: stop every rank together on non-finite output (before the integrator sees it),
   then add forces_, atom_energy_, atom_virial_ (entry c belongs to LAMMPS atom index[c], or to
   atom c when index is null) and the energy
------------------------------------------------------------------------- */

void PairMLIP::add_results(double energy, bool finite, const int *index, int n)
{
  finite = finite && std::isfinite(energy);
  int bad = finite ? 0 : 1, any_bad = 0;
  MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, world);
  if (any_bad)
    error->all(FLERR, "pair_style mlip: the model returned non-finite energy, forces or virial at step {} "
                      "(overlapping atoms or a structure far outside the training data?); stopping instead of "
                      "integrating on invalid forces",
               update->ntimestep);
  double **f = atom->f;
  for (int c = 0; c < n; c++) {
    const int k = index ? index[c] : c;
    f[k][0] += forces_[3 * c + 0];
    f[k][1] += forces_[3 * c + 1];
    f[k][2] += forces_[3 * c + 2];
  }
  if (eflag_global) eng_vdwl += energy;
  if (eflag_atom)
    for (int k = 0; k < atom->nlocal; k++) eatom[k] += atom_energy_[k];    // local atoms keep their index
  if (vflag_atom)
    for (int c = 0; c < n; c++)
      for (int m = 0; m < 6; m++) vatom[index ? index[c] : c][m] += atom_virial_[6 * c + m];
}
