// mlip::neighbor_list, CPU: cell list in fractional coordinates, multi-threaded over receivers.
//
// Per structure of the batch: working grid (neighbor_geometry.h) -> wrap and bin every atom
// (neighbor_math.h: wrap_atom) -> counting sort of the atoms by bin -> for chunks of
// receivers in parallel, the candidates of the (2 reach + 1)^3 surrounding bins are tested
// (within_cutoff) and each receiver's neighbours are sorted by (sender, shift) -> the chunk
// sizes are prefix-summed and the chunks copied into the output. No atomics; the output is
// the same whatever the number of threads.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "mlip/neighbor_geometry.h"
#include "mlip/neighbor_math.h"
#include "ops_internal.h"

namespace mlip {
namespace {

struct Neighbor {
  int64_t j;
  int64_t s[3];
};

// One chunk of consecutive receivers: per-receiver counts and their neighbours, sorted, as packed
// 64-bit keys (sender << 24 | three shifts offset by 128, 8 bits each) — or, when some value
// does not fit (rare: > 2^39 atoms, |shift| >= 128), as full records.
struct Chunk {
  int64_t i0 = 0;
  std::vector<int32_t> count;
  std::vector<uint64_t> keys;
  std::vector<Neighbor> nb;
  bool wide = false;
  int64_t size() const { return wide ? static_cast<int64_t>(nb.size()) : static_cast<int64_t>(keys.size()); }
};

constexpr int64_t kChunk = 128;          // receivers per output chunk
constexpr int64_t kParallelAtoms = 2048;  // receivers per parallel task, at least

inline bool packable(int64_t j, int64_t s0, int64_t s1, int64_t s2) {
  return j >= 0 && j < (int64_t(1) << 39) && s0 > -128 && s0 < 128 && s1 > -128 && s1 < 128 && s2 > -128 && s2 < 128;
}
inline uint64_t pack(int64_t j, int64_t s0, int64_t s1, int64_t s2) {
  return (static_cast<uint64_t>(j) << 24) | (static_cast<uint64_t>(s0 + 128) << 16) |
         (static_cast<uint64_t>(s1 + 128) << 8) | static_cast<uint64_t>(s2 + 128);
}
inline Neighbor unpack(uint64_t key) {
  Neighbor n;
  n.j = static_cast<int64_t>(key >> 24);
  n.s[0] = static_cast<int64_t>((key >> 16) & 0xff) - 128;
  n.s[1] = static_cast<int64_t>((key >> 8) & 0xff) - 128;
  n.s[2] = static_cast<int64_t>(key & 0xff) - 128;
  return n;
}

void search_system(const double* pos, int64_t n, const double* cell, const bool* pbc, double cutoff,
                   int64_t offset, std::vector<Chunk>& chunks) {
  nl::Grid g = nl::working_grid(cell, pbc);
  double fmin[3] = {0.0, 0.0, 0.0}, fmax[3] = {0.0, 0.0, 0.0};
  for (int d = 0; d < 3; ++d) {
    if (g.periodic[d] || n == 0) continue;
    double lo = nl::fractional(g, pos, d), hi = lo;
    for (int64_t a = 1; a < n; ++a) {
      const double f = nl::fractional(g, pos + 3 * a, d);
      lo = std::min(lo, f);
      hi = std::max(hi, f);
    }
    fmin[d] = lo;
    fmax[d] = hi;
  }
  nl::finish_grid(g, fmin, fmax, cutoff, std::max<int64_t>(64, 2 * n));
  const int n_bins = g.n[0] * g.n[1] * g.n[2];

  // wrap and bin
  std::vector<double> pw(3 * n);
  std::vector<int64_t> wrap(3 * n);
  std::vector<int> bin(n);
  at::parallel_for(0, n, 2048, [&](int64_t b, int64_t e) {
    for (int64_t a = b; a < e; ++a) nl::wrap_atom(g, pos + 3 * a, &pw[3 * a], &wrap[3 * a], &bin[a]);
  });
  // counting sort by bin (stable: ascending atom index inside a bin)
  std::vector<int64_t> start(n_bins + 1, 0);
  for (int64_t a = 0; a < n; ++a) ++start[bin[a] + 1];
  for (int b = 0; b < n_bins; ++b) start[b + 1] += start[b];
  std::vector<int64_t> order(n);
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t a = 0; a < n; ++a) order[fill[bin[a]]++] = a;
  }
  std::vector<double> sorted(3 * n);
  std::vector<int64_t> sorted_wrap(3 * n);  // wrap counts in bin order (sequential access)
  for (int64_t m = 0; m < n; ++m)
    for (int c = 0; c < 3; ++c) {
      sorted[3 * m + c] = pw[3 * order[m] + c];
      sorted_wrap[3 * m + c] = wrap[3 * order[m] + c];
    }

  const double cutoff2 = cutoff * cutoff;
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;
  const size_t first = chunks.size();
  chunks.resize(first + n_chunks);
  // at least kParallelAtoms receivers per task: small systems stay on one thread
  at::parallel_for(0, n_chunks, std::max<int64_t>(1, kParallelAtoms / kChunk), [&](int64_t cb, int64_t ce) {
    std::vector<uint64_t> rkeys;
    std::vector<Neighbor> mine;
    for (int64_t ch = cb; ch < ce; ++ch) {
      Chunk out;  // filled locally, then moved: no false sharing between threads' chunk headers
      const int64_t lo = ch * kChunk, hi = std::min(n, lo + kChunk);
      out.i0 = lo + offset;
      out.count.reserve(hi - lo);
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t wi0 = wrap[3 * i], wi1 = wrap[3 * i + 1], wi2 = wrap[3 * i + 2];
        rkeys.clear();
        bool fits = true;
        auto visit = [&](int64_t m, int64_t j, int s0, int s1, int s2) {
          const int64_t t0 = nl::total_shift(s0, wi0, sorted_wrap[3 * m]);
          const int64_t t1 = nl::total_shift(s1, wi1, sorted_wrap[3 * m + 1]);
          const int64_t t2 = nl::total_shift(s2, wi2, sorted_wrap[3 * m + 2]);
          if (fits && packable(j + offset, t0, t1, t2))
            rkeys.push_back(pack(j + offset, t0, t1, t2));
          else
            fits = false;
        };
        nl::for_each_neighbor(g, i, &pw[3 * i], bin[i], start.data(), sorted.data(), order.data(), cutoff2, visit);
        if (fits) {
          std::sort(rkeys.begin(), rkeys.end());
          if (!out.wide)
            out.keys.insert(out.keys.end(), rkeys.begin(), rkeys.end());
          else
            for (uint64_t k : rkeys) out.nb.push_back(unpack(k));
          out.count.push_back(static_cast<int32_t>(rkeys.size()));
          continue;
        }
        // rare path: full records for this receiver (and the rest of the chunk)
        if (!out.wide) {
          for (uint64_t k : out.keys) out.nb.push_back(unpack(k));
          out.keys.clear();
          out.wide = true;
        }
        mine.clear();
        auto visit_wide = [&](int64_t m, int64_t j, int s0, int s1, int s2) {
          Neighbor nbr;
          nbr.j = j + offset;
          nbr.s[0] = nl::total_shift(s0, wi0, sorted_wrap[3 * m]);
          nbr.s[1] = nl::total_shift(s1, wi1, sorted_wrap[3 * m + 1]);
          nbr.s[2] = nl::total_shift(s2, wi2, sorted_wrap[3 * m + 2]);
          mine.push_back(nbr);
        };
        nl::for_each_neighbor(g, i, &pw[3 * i], bin[i], start.data(), sorted.data(), order.data(), cutoff2,
                              visit_wide);
        std::sort(mine.begin(), mine.end(), [](const Neighbor& x, const Neighbor& y) {
          return nl::neighbor_less(x.j, x.s, y.j, y.s);
        });
        out.nb.insert(out.nb.end(), mine.begin(), mine.end());
        out.count.push_back(static_cast<int32_t>(mine.size()));
      }
      chunks[first + ch] = std::move(out);
    }
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> neighbor_list_cpu(const at::Tensor& positions, const at::Tensor& cell,
                                                     const at::Tensor& pbc, const at::Tensor& system_index,
                                                     double cutoff) {
  TORCH_CHECK(positions.dim() == 2 && positions.size(1) == 3, "mlip::neighbor_list: positions must be (n_atoms, 3)");
  const int64_t n_atoms = positions.size(0);
  TORCH_CHECK(cell.dim() == 3 && cell.size(1) == 3 && cell.size(2) == 3, "mlip::neighbor_list: cell must be (n_systems, 3, 3)");
  const int64_t n_sys = cell.size(0);
  TORCH_CHECK(pbc.dim() == 2 && pbc.size(0) == n_sys && pbc.size(1) == 3, "mlip::neighbor_list: pbc must be (n_systems, 3)");
  TORCH_CHECK(system_index.dim() == 1 && system_index.size(0) == n_atoms,
              "mlip::neighbor_list: system_index must be (n_atoms,)");
  TORCH_CHECK(cutoff > 0.0 && std::isfinite(cutoff), "mlip::neighbor_list: cutoff must be positive and finite, got ", cutoff);
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

  std::vector<Chunk> chunks;
  for (int64_t s = 0; s < n_sys; ++s) {
    const int64_t lo = begin[s], n = begin[s + 1] - lo;
    if (n == 0) continue;
    try {
      search_system(p + 3 * lo, n, cel.data_ptr<double>() + 9 * s, per.data_ptr<bool>() + 3 * s, cutoff, lo, chunks);
    } catch (const std::invalid_argument& err) {
      TORCH_CHECK_VALUE(false, "mlip::neighbor_list: system ", s, ": ", err.what());
    }
  }
  // prefix sum over chunks, then copy
  std::vector<int64_t> at_edge(chunks.size() + 1, 0);
  for (size_t c = 0; c < chunks.size(); ++c) at_edge[c + 1] = at_edge[c] + chunks[c].size();
  const int64_t n_edges = at_edge.back();
  at::Tensor index = at::empty({2, n_edges}, positions.options().dtype(at::kLong));
  at::Tensor shift = at::empty({n_edges, 3}, positions.options().dtype(at::kLong));
  int64_t* ii = index.data_ptr<int64_t>();
  int64_t* jj = ii + n_edges;
  int64_t* ss = shift.data_ptr<int64_t>();
  at::parallel_for(0, static_cast<int64_t>(chunks.size()), std::max<int64_t>(1, 32768 / kChunk / 16), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const Chunk& ch = chunks[c];
      int64_t e = at_edge[c], k = 0;
      for (size_t r = 0; r < ch.count.size(); ++r) {
        for (int32_t q = 0; q < ch.count[r]; ++q, ++k, ++e) {
          const Neighbor nbr = ch.wide ? ch.nb[k] : unpack(ch.keys[k]);
          ii[e] = ch.i0 + static_cast<int64_t>(r);
          jj[e] = nbr.j;
          ss[3 * e] = nbr.s[0];
          ss[3 * e + 1] = nbr.s[1];
          ss[3 * e + 2] = nbr.s[2];
        }
      }
    }
  });
  return {index, shift};
}

}  // namespace mlip
