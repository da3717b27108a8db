// mlip::neighbor_list, CPU: cell list in fractional coordinates, multi-threaded.
//
// Per structure of the batch:
//  1. working grid (neighbor_geometry.h); wrap and bin every atom (neighbor_math.h: wrap_atom);
//     counting sort by bin into contiguous structure-of-arrays positions.
//  2. a stencil of bin offsets (k0, k1, |k2| <= K) whose bins can hold a neighbour
//     (bin_pair_gap2), the same for every bin.
//  3. search, tasks of consecutive bins in parallel: per bin the stencil becomes runs of
//     contiguous atoms seen through one image shift; every candidate of a run is tested without
//     a branch (AVX2: 4 at a time, the selected keys packed to the front; else scalar: the key is
//     always stored and the count advances when |r| < cutoff). A neighbour is a 64-bit key
//     (sender << 24 | three shifts offset by 128, 8 bits each) = a per-atom base (sender, its
//     wrap counts) + a per-run constant (image shift, receiver's wrap counts): one add per
//     candidate. Keys stay in per-task chunks, unsorted.
//  4. output, counts prefix-summed in receiver order. Sorting by (receiver, sender, shift) uses
//     the symmetry of the full list, (i, j, S) <-> (j, i, -S): walking the receivers i in
//     ascending order and appending (j, i, -S) to receiver j's segment fills every segment in
//     ascending sender order — a scatter instead of a sort. The scatter writes 8-byte transposed
//     keys into the senders' column; one in-order pass then unpacks them into senders and shifts.
//     Two images of one sender can only be neighbours when a periodic axis is thinner than 2
//     cutoffs; such structures sort each receiver's keys instead (key order = (sender, shift)).
// No atomics; with several threads each range of receivers writes at offsets counted beforehand,
// so the output is the same whatever the number of threads. Shifts that may not fit in 8 bits
// (atoms hundreds of cells away) switch the structure to full records, sorted per receiver.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "neighbor_search_cpu.h"
#include "ops_internal.h"

namespace mlip {
namespace {

using namespace nl_cpu;

constexpr int64_t kUnpackEdges = int64_t(1) << 18;  // edges per thread of the in-order unpack, at least

inline void unpack(uint64_t key, int64_t* j, int64_t* s) {
  *j = static_cast<int64_t>(key >> 24);
  s[0] = static_cast<int64_t>((key >> 16) & 0xff) - 128;
  s[1] = static_cast<int64_t>((key >> 8) & 0xff) - 128;
  s[2] = static_cast<int64_t>(key & 0xff) - 128;
}

// Output of one structure whose keys are unsorted and hold one image per sender: receivers i in
// ascending order append (j, i, -S) to the segment of j (see the top of the file). The pair test
// is exactly antisymmetric and the stencil symmetric, so j's segment receives as many entries as
// j's own search found (its count). With several threads, range r of receivers starts writing
// each segment after the entries of ranges 0..r-1 (counted beforehand).
struct Scatter {
  int64_t n_ranges = 1;
  std::vector<int64_t> pos;  // (range, sender): next output position
};

Scatter scatter_prepare(const SystemOut& so, const Placement& place, const int64_t* first) {
  const int64_t lo = so.lo, n = so.n;
  Scatter sc;
  sc.n_ranges = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n / kScatterAtoms));
  const int64_t R = sc.n_ranges;
  sc.pos.assign(R * n, 0);
  // pos[r] first holds the sender counts of range r - 1 ...
  at::parallel_for(1, R, 1, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      int64_t* c = sc.pos.data() + r * n - lo;
      for (int64_t i = lo + (r - 1) * n / R; i < lo + r * n / R; ++i) {
        const uint64_t* src = static_cast<const uint64_t*>(place.src[i]);
        for (int64_t q = 0; q < place.count[i]; ++q) ++c[static_cast<int64_t>(src[q] >> 24)];
      }
    }
  });
  // ... then the running sum from the segment starts
  for (int64_t a = 0; a < n; ++a) {
    sc.pos[a] = first[lo + a];
    for (int64_t r = 1; r < R; ++r) sc.pos[r * n + a] += sc.pos[(r - 1) * n + a];
  }
  return sc;
}

void scatter_fill(const SystemOut& so, const Placement& place, Scatter& sc, const int64_t* first, int64_t* jj,
                  int64_t* ss) {
  const int64_t lo = so.lo, n = so.n, R = sc.n_ranges;
  const int64_t e_begin = first[lo], e_end = first[lo + n];
  // the transposed keys (sender i, shift -S: each 8-bit field f becomes 256 - f) go to the
  // senders' column first (one random 8-byte write per pair; never outside this structure) ...
  at::parallel_for(0, R, 1, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      int64_t* at = sc.pos.data() + r * n - lo;
      for (int64_t i = lo + r * n / R; i < lo + (r + 1) * n / R; ++i) {
        const uint64_t* src = static_cast<const uint64_t*>(place.src[i]);
        const uint64_t own = static_cast<uint64_t>(i) << 24;
        for (int64_t q = 0; q < place.count[i]; ++q) {
          const uint64_t key = src[q];
          const int64_t e = at[static_cast<int64_t>(key >> 24)]++;
          if (e < e_end) jj[e] = static_cast<int64_t>(own | (0x1010100u - (key & 0xffffffu)));
        }
      }
    }
  });
  // every segment must have been filled exactly (it is, by the symmetry of the search; ranges
  // before the last wrote their counted number of entries)
  for (int64_t a = 0; a < n; ++a)
    TORCH_CHECK(sc.pos[(R - 1) * n + a] == first[lo + a + 1],
                "mlip::neighbor_list: internal error: asymmetric neighbour search (please report)");
  // ... then are unpacked in place, in order
  at::parallel_for(e_begin, e_end, kUnpackEdges, [&](int64_t eb, int64_t ee) {
    for (int64_t e = eb; e < ee; ++e) unpack(static_cast<uint64_t>(jj[e]), jj + e, ss + 3 * e);
  });
}

// Output of one structure whose receivers' lists are already sorted (keys or records).
void copy_system(const SystemOut& so, const Placement& place, const int64_t* first, int64_t* jj, int64_t* ss) {
  at::parallel_for(so.lo, so.lo + so.n, kScatterAtoms, [&](int64_t ab, int64_t ae) {
    for (int64_t i = ab; i < ae; ++i) {
      const int64_t e0 = first[i], cnt = place.count[i];
      if (so.mode == Mode::kWide) {
        const Neighbor* src = static_cast<const Neighbor*>(place.src[i]);
        for (int64_t q = 0; q < cnt; ++q) {
          jj[e0 + q] = src[q].j;
          for (int d = 0; d < 3; ++d) ss[3 * (e0 + q) + d] = src[q].s[d];
        }
        continue;
      }
      const uint64_t* src = static_cast<const uint64_t*>(place.src[i]);
      for (int64_t q = 0; q < cnt; ++q) unpack(src[q], jj + e0 + q, ss + 3 * (e0 + q));
    }
  });
}

}  // namespace

void check_neighbor_list_inputs(const char* op, const at::Tensor& positions, const at::Tensor& cell,
                                const at::Tensor& pbc, const at::Tensor& system_index, double cutoff) {
  TORCH_CHECK(positions.dim() == 2 && positions.size(1) == 3, op, ": positions must be (n_atoms, 3)");
  TORCH_CHECK(cell.dim() == 3 && cell.size(1) == 3 && cell.size(2) == 3, op, ": cell must be (n_systems, 3, 3)");
  TORCH_CHECK(pbc.dim() == 2 && pbc.size(0) == cell.size(0) && pbc.size(1) == 3, op, ": pbc must be (n_systems, 3)");
  TORCH_CHECK(system_index.dim() == 1 && system_index.size(0) == positions.size(0), op,
              ": system_index must be (n_atoms,)");
  TORCH_CHECK(cutoff > 0.0 && std::isfinite(cutoff), op, ": cutoff must be positive and finite, got ", cutoff);
  const auto device = positions.device();
  TORCH_CHECK(cell.device() == device && pbc.device() == device && system_index.device() == device, op,
              ": positions, cell, pbc and system_index must be on one device");
}

std::tuple<at::Tensor, at::Tensor> neighbor_list_cpu(const at::Tensor& positions, const at::Tensor& cell,
                                                     const at::Tensor& pbc, const at::Tensor& system_index,
                                                     double cutoff) {
  check_neighbor_list_inputs("mlip::neighbor_list", positions, cell, pbc, system_index, cutoff);
  const int64_t n_atoms = positions.size(0);
  const int64_t n_sys = cell.size(0);
  const at::Tensor pos = positions.detach().to(at::kDouble).contiguous();
  const at::Tensor cel = cell.detach().to(at::kDouble).contiguous();
  const at::Tensor per = pbc.to(at::kBool).contiguous();
  const at::Tensor sidx = system_index.to(at::kLong).contiguous();
  const double* p = pos.data_ptr<double>();
  for (int64_t a = 0; a < 3 * n_atoms; ++a)
    TORCH_CHECK(std::isfinite(p[a]), "mlip::neighbor_list: non-finite position of atom ", a / 3);
  const int64_t* si = sidx.data_ptr<int64_t>();
  std::vector<int64_t> begin(n_sys + 1, 0);
  for (int64_t a = 0; a < n_atoms; ++a) {
    TORCH_CHECK(si[a] >= 0 && si[a] < n_sys, "mlip::neighbor_list: system_index out of range at atom ", a);
    TORCH_CHECK(a == 0 || si[a] >= si[a - 1], "mlip::neighbor_list: system_index must be sorted");
    ++begin[si[a] + 1];
  }
  for (int64_t s = 0; s < n_sys; ++s) begin[s + 1] += begin[s];

  std::vector<Block> blocks;
  std::vector<SystemOut> systems;
  Placement place;
  place.src.resize(n_atoms);
  place.count.resize(n_atoms);
  for (int64_t s = 0; s < n_sys; ++s) {
    const int64_t lo = begin[s], n = begin[s + 1] - lo;
    if (n == 0) continue;
    try {
      systems.push_back(search_system(p + 3 * lo, n, cel.data_ptr<double>() + 9 * s, per.data_ptr<bool>() + 3 * s,
                                      cutoff, lo, blocks, place));
    } catch (const std::invalid_argument& err) {
      TORCH_CHECK_VALUE(false, "mlip::neighbor_list: system ", s, ": ", err.what());
    }
  }
  // prefix sum in receiver order, then receivers' column, senders and shifts
  std::vector<int64_t> first(n_atoms + 1, 0);
  for (int64_t a = 0; a < n_atoms; ++a) first[a + 1] = first[a] + place.count[a];
  const int64_t n_edges = first.back();
  std::vector<Scatter> scatters(systems.size());
  for (size_t k = 0; k < systems.size(); ++k)
    if (systems[k].mode == Mode::kScatter) scatters[k] = scatter_prepare(systems[k], place, first.data());
  at::Tensor index = at::empty({2, n_edges}, positions.options().dtype(at::kLong));
  at::Tensor shift = at::empty({n_edges, 3}, positions.options().dtype(at::kLong));
  int64_t* ii = index.data_ptr<int64_t>();
  int64_t* jj = ii + n_edges;
  int64_t* ss = shift.data_ptr<int64_t>();
  at::parallel_for(0, n_atoms, kScatterAtoms, [&](int64_t ab, int64_t ae) {
    for (int64_t a = ab; a < ae; ++a) std::fill(ii + first[a], ii + first[a + 1], a);
  });
  for (size_t k = 0; k < systems.size(); ++k) {
    if (systems[k].mode == Mode::kScatter)
      scatter_fill(systems[k], place, scatters[k], first.data(), jj, ss);
    else
      copy_system(systems[k], place, first.data(), jj, ss);
  }
  return {index, shift};
}

}  // namespace mlip
