// The driver of the device neighbour list (see neighbor_list_pipeline.h and the step list at the
// top of cuda/include/mlip/neighbor_pipeline.h), and its host steps.
//
// Between the steps only device-side tensor operations run (scatter reductions, cumsum, a stable
// sort, searchsorted), so a CUDA call makes exactly one device->host copy: a vector holding the
// number of edges and, per kind of bad input, the first offending atom or structure. The errors
// are the CPU op's, checked in the CPU op's order.
#include "neighbor_list_pipeline.h"

#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../cpu/ops_internal.h"
#include "validated_inputs.h"

namespace mlip {
namespace {

// The first index where `bad` is true, or `none` (a 0-dim tensor on bad's device).
at::Tensor first_where(const at::Tensor& bad, int64_t none) {
  const at::Tensor idx = at::arange(bad.size(0), bad.options().dtype(at::kLong));
  return at::where(bad, idx, none).min();
}

// Atoms but no structure: every system index is out of range (error path; may synchronise).
void refuse_atoms_without_systems(const char* op, const at::Tensor& pos) {
  const at::Tensor bad = at::logical_not(at::isfinite(pos).all(1)).nonzero();
  TORCH_CHECK(bad.numel() == 0, op, ": non-finite position of atom ", bad.flatten()[0].item<int64_t>());
  TORCH_CHECK(false, op, ": system_index out of range at atom 0");
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> neighbor_list_pipeline(const NlPipelineSteps& st, const char* op,
                                                          const at::Tensor& positions, const at::Tensor& cell,
                                                          const at::Tensor& pbc, const at::Tensor& system_index,
                                                          double cutoff) {
  check_neighbor_list_inputs(op, positions, cell, pbc, system_index, cutoff);
  const int64_t n = positions.size(0), n_sys = cell.size(0);
  const auto L = positions.options().dtype(at::kLong);
  const auto D = positions.options().dtype(at::kDouble);
  if (n == 0) return {at::empty({2, 0}, L), at::empty({0, 3}, L)};
  const at::Tensor pos = positions.detach().to(at::kDouble).contiguous();
  if (n_sys == 0) refuse_atoms_without_systems(op, pos);
  const at::Tensor cel = cell.detach().to(at::kDouble).contiguous();
  const at::Tensor per = pbc.to(at::kBool).contiguous();
  const at::Tensor sidx = system_index.to(at::kLong).contiguous();

  // 1-3: grids, atom flags, extents of the open axes, bins
  at::Tensor grid_bytes = at::empty({n_sys * static_cast<int64_t>(sizeof(nl::Grid))}, L.dtype(at::kByte));
  nl::Grid* grids = reinterpret_cast<nl::Grid*>(grid_bytes.data_ptr<uint8_t>());
  at::Tensor status = at::empty({n_sys}, L.dtype(at::kInt));
  st.grids(n_sys, cel.data_ptr<double>(), per.data_ptr<bool>(), grids, status.data_ptr<int32_t>());
  at::Tensor flags = at::empty({n}, L.dtype(at::kByte)), sys = at::empty({n}, L), frac = at::empty({n, 3}, D);
  st.atoms(n, n_sys, pos.data_ptr<double>(), sidx.data_ptr<int64_t>(), grids, flags.data_ptr<uint8_t>(),
           sys.data_ptr<int64_t>(), frac.data_ptr<double>());
  const at::Tensor sys3 = sys.unsqueeze(1).expand({n, 3});
  const at::Tensor fmin = at::zeros({n_sys, 3}, D).scatter_reduce(0, sys3, frac, "amin", false).contiguous();
  const at::Tensor fmax = at::zeros({n_sys, 3}, D).scatter_reduce(0, sys3, frac, "amax", false).contiguous();
  const at::Tensor n_in = at::zeros({n_sys}, L).index_add(0, sys, at::ones({n}, L)).contiguous();
  at::Tensor n_bins = at::empty({n_sys}, L);
  st.finish(n_sys, fmin.data_ptr<double>(), fmax.data_ptr<double>(), n_in.data_ptr<int64_t>(), cutoff, grids,
            n_bins.data_ptr<int64_t>());
  const at::Tensor first_bin = (at::cumsum(n_bins, 0) - n_bins).contiguous();

  // 4: wrap and bin; stable sort by global bin
  at::Tensor pw = at::empty({n, 3}, D), wrap = at::empty({n, 3}, L), key = at::empty({n}, L);
  st.wrap(n, pos.data_ptr<double>(), sys.data_ptr<int64_t>(), grids, first_bin.data_ptr<int64_t>(),
          pw.data_ptr<double>(), wrap.data_ptr<int64_t>(), key.data_ptr<int64_t>());
  const auto sorted = at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const at::Tensor order = std::get<1>(sorted).contiguous();
  const at::Tensor bin_start =
      at::searchsorted(std::get<0>(sorted).contiguous(), at::arange(nl::max_total_bins(n, n_sys) + 1, L))
          .contiguous();
  const at::Tensor sorted_pos = pw.index_select(0, order).contiguous();
  const nl::SortedAtoms atoms{sys.data_ptr<int64_t>(),       key.data_ptr<int64_t>(),
                              pw.data_ptr<double>(),         wrap.data_ptr<int64_t>(),
                              first_bin.data_ptr<int64_t>(), bin_start.data_ptr<int64_t>(),
                              sorted_pos.data_ptr<double>(), order.data_ptr<int64_t>()};

  // 5: counts, segment starts, and the one read-back
  at::Tensor count = at::empty({n}, L);
  st.count(n, grids, atoms, cutoff, count.data_ptr<int64_t>());
  const at::Tensor ends = at::cumsum(count, 0);
  const at::Tensor first = (ends - count).contiguous();
  const at::Tensor degenerate = at::logical_and(status.ne(nl::kGridOk), n_in.gt(0));
  const at::Tensor summary =
      at::stack({ends.select(0, n - 1), first_where(at::bitwise_and(flags, nl::kAtomNonFinite).ne(0), n),
                 first_where(at::bitwise_and(flags, nl::kAtomSystemOutOfRange).ne(0), n),
                 first_where(at::bitwise_and(flags, nl::kAtomSystemDecreasing).ne(0), n),
                 first_where(degenerate, n_sys)})
          .cpu();
  const int64_t* v = summary.data_ptr<int64_t>();
  TORCH_CHECK(v[1] == n, op, ": non-finite position of atom ", v[1]);
  TORCH_CHECK(v[2] == n || v[2] > v[3], op, ": system_index out of range at atom ", v[2]);
  TORCH_CHECK(v[3] == n, op, ": system_index must be sorted");
  TORCH_CHECK_VALUE(v[4] == n_sys, op, ": system ", v[4], ": ", nl::kDegenerateCellMessage);
  const int64_t total = v[0];

  // 6: segments
  at::Tensor index = at::empty({2, total}, L);
  at::Tensor shift = at::empty({total, 3}, L);
  if (total > 0)
    st.fill(n, grids, atoms, cutoff, first.data_ptr<int64_t>(), count.data_ptr<int64_t>(), index.data_ptr<int64_t>(),
            index.data_ptr<int64_t>() + total, shift.data_ptr<int64_t>());
  remember_valid(index, ValidKind::kNodeIndex, node_limits(n));
  return {index, shift};
}

namespace {

constexpr int64_t kHostGrain = 256;

void host_grids(int64_t n_sys, const double* cell, const bool* pbc, nl::Grid* grids, int32_t* status) {
  for (int64_t s = 0; s < n_sys; ++s) nl::grid_step(s, cell, pbc, grids, status);
}

void host_atoms(int64_t n, int64_t n_sys, const double* pos, const int64_t* system_index, const nl::Grid* grids,
                uint8_t* flags, int64_t* sys, double* frac) {
  for (int64_t a = 0; a < n; ++a) nl::atom_step(a, n_sys, pos, system_index, grids, flags, sys, frac);
}

void host_finish(int64_t n_sys, const double* fmin, const double* fmax, const int64_t* n_in_system, double cutoff,
                 nl::Grid* grids, int64_t* n_bins) {
  for (int64_t s = 0; s < n_sys; ++s) nl::finish_step(s, fmin, fmax, n_in_system, cutoff, grids, n_bins);
}

void host_wrap(int64_t n, const double* pos, const int64_t* sys, const nl::Grid* grids, const int64_t* first_bin,
               double* pw, int64_t* wrap, int64_t* key) {
  for (int64_t a = 0; a < n; ++a) nl::wrap_step(a, pos, sys, grids, first_bin, pw, wrap, key);
}

void host_count(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& atoms, double cutoff, int64_t* count) {
  at::parallel_for(0, n, kHostGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) count[i] = nl::count_step(i, grids, atoms, cutoff * cutoff);
  });
}

void host_fill(int64_t n, const nl::Grid* grids, const nl::SortedAtoms& atoms, double cutoff, const int64_t* first,
               const int64_t* count, int64_t* index_i, int64_t* index_j, int64_t* shift) {
  at::parallel_for(0, n, kHostGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      nl::fill_step(i, grids, atoms, cutoff * cutoff, first, count, index_i, index_j, shift);
  });
}

const NlPipelineSteps kHostSteps = {host_grids, host_atoms, host_finish, host_wrap, host_count, host_fill};

}  // namespace

std::tuple<at::Tensor, at::Tensor> neighbor_list_pipeline_host(const at::Tensor& positions, const at::Tensor& cell,
                                                               const at::Tensor& pbc, const at::Tensor& system_index,
                                                               double cutoff) {
  const char* op = "mlip::_neighbor_list_pipeline";
  TORCH_CHECK(positions.device().is_cpu(), op, ": runs on CPU tensors (it rehearses the CUDA pipeline on the host)");
  return neighbor_list_pipeline(kHostSteps, op, positions, cell, pbc, system_index, cutoff);
}

}  // namespace mlip
