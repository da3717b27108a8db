// Search half of the CPU neighbour list (included by neighbor_list_cpu.cpp only; see the top of
// that file for the whole algorithm): grid, binning, stencil, runs and the branch-free pair test
// (steps 1-3), producing unsorted packed keys per receiver.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MLIP_NL_AVX2 1
#endif

#include "mlip/neighbor_geometry.h"
#include "mlip/neighbor_math.h"

namespace mlip {
namespace nl_cpu {

struct Neighbor {
  int64_t j;
  int64_t s[3];
};

// Uninitialised key storage in chunks (no copy when it grows; a receiver's keys are contiguous).
struct KeyChunks {
  std::vector<std::unique_ptr<uint64_t[]>> chunks;
  uint64_t* cur = nullptr;
  int64_t left = 0;
  uint64_t* room(int64_t need) {
    if (need > left) {
      const int64_t size = std::max<int64_t>(need, int64_t(1) << 17);
      chunks.emplace_back(new uint64_t[size]);
      cur = chunks.back().get();
      left = size;
    }
    return cur;
  }
  void commit(int64_t used) {
    cur += used;
    left -= used;
  }
};

// The neighbours found by one task (consecutive bins of one structure).
struct Block {
  KeyChunks keys;                                // packed keys
  std::vector<std::unique_ptr<Neighbor[]>> wide;  // full records, one array per receiver
};

enum class Mode { kScatter, kSortedKeys, kWide };

struct SystemOut {
  int64_t lo, n;
  Mode mode;
};

// Where each receiver's neighbours are (indexed by atom): keys or records, and their number.
struct Placement {
  std::vector<const void*> src;
  std::vector<int64_t> count;
};

// One stencil row: bin offsets (k0, k1) and the largest |k2| whose bins can hold a neighbour.
struct StencilRow {
  int k0, k1, k2max;
};

// Atoms [begin, end) (bin-sorted positions) of consecutive bins seen through one image shift.
struct Run {
  int64_t begin, end;
  double off[3];  // image offset s @ W (Å)
  int64_t key;    // packed shift fields ((s + 128) per byte)
  int s[3];
  bool home;
};

#if MLIP_NL_AVX2
// For each 4-bit mask of selected 64-bit lanes: the 32-bit lane permutation moving them to the front.
struct CompressTable {
  int32_t idx[16][8];
  constexpr CompressTable() : idx{} {
    for (int mask = 0; mask < 16; ++mask) {
      int k = 0;
      for (int lane = 0; lane < 4; ++lane)
        if ((mask >> lane) & 1) {
          idx[mask][2 * k] = 2 * lane;
          idx[mask][2 * k + 1] = 2 * lane + 1;
          ++k;
        }
      for (; k < 4; ++k) {
        idx[mask][2 * k] = 0;
        idx[mask][2 * k + 1] = 1;
      }
    }
  }
};
alignas(32) constexpr CompressTable kCompress{};
#endif

constexpr int64_t kTaskAtoms = 2048;     // receivers per parallel search task, about
constexpr int64_t kScatterAtoms = 8192;  // receivers per thread of the output scatter, at least
constexpr double kCpuBinsPerCutoff = 1.0;

inline uint64_t pack_shift(int64_t s0, int64_t s1, int64_t s2) {
  return (static_cast<uint64_t>(s0 + 128) << 16) | (static_cast<uint64_t>(s1 + 128) << 8) |
         static_cast<uint64_t>(s2 + 128);
}

// Resolve the stencil for bin (b0, b1, b2) into runs; returns the number of candidates.
inline int64_t bin_runs(const nl::Grid& g, const std::vector<StencilRow>& rows, int b0, int b1, int b2,
                 const int64_t* bin_start, std::vector<Run>& runs) {
  runs.clear();
  int64_t total = 0;
  const int n2 = g.n[2];
  auto emit = [&](int base, int w_first, int w_last, int s0, int s1, int s2) {
    const int64_t lo = bin_start[base + w_first], hi = bin_start[base + w_last + 1];
    if (hi <= lo) return;
    Run r;
    r.begin = lo;
    r.end = hi;
    for (int c = 0; c < 3; ++c) r.off[c] = s0 * g.basis[c] + s1 * g.basis[3 + c] + s2 * g.basis[6 + c];
    r.key = static_cast<int64_t>(pack_shift(s0, s1, s2));
    r.s[0] = s0;
    r.s[1] = s1;
    r.s[2] = s2;
    r.home = s0 == 0 && s1 == 0 && s2 == 0;
    runs.push_back(r);
    total += hi - lo;
  };
  for (const StencilRow& row : rows) {
    int w0, s0, w1, s1;
    if (!nl::image_bin(g, 0, b0 + row.k0, &w0, &s0) || !nl::image_bin(g, 1, b1 + row.k1, &w1, &s1)) continue;
    const int base = (w0 * g.n[1] + w1) * n2;
    int lo = b2 - row.k2max, hi = b2 + row.k2max;
    if (!g.periodic[2]) {
      lo = std::max(lo, 0);
      hi = std::min(hi, n2 - 1);
      if (lo <= hi) emit(base, lo, hi, s0, s1, 0);
      continue;
    }
    for (int x = lo; x <= hi;) {  // split where the image shift along axis 2 changes
      const int s2 = nl::floor_div(x, n2);
      const int last = std::min(hi, s2 * n2 + n2 - 1);
      emit(base, x - s2 * n2, last - s2 * n2, s0, s1, s2);
      x = last + 1;
    }
  }
  return total;
}

// Keys of receiver a (bin-sorted index) against the runs; returns their number. `out` has room
// for every candidate + 4.
inline int64_t search_receiver(const std::vector<Run>& runs, int64_t a, const double* MLIP_RESTRICT xs,
                               const double* MLIP_RESTRICT ys, const double* MLIP_RESTRICT zs,
                               const int64_t* MLIP_RESTRICT base, int64_t wrap_key, double cutoff2,
                               uint64_t* MLIP_RESTRICT out) {
  const double xi = xs[a], yi = ys[a], zi = zs[a];
  int64_t cnt = 0;
#if MLIP_NL_AVX2
  const __m256d vxi = _mm256_set1_pd(xi), vyi = _mm256_set1_pd(yi), vzi = _mm256_set1_pd(zi);
  const __m256d vc2 = _mm256_set1_pd(cutoff2);
#endif
  // r = (p_j - p_i) + offset: exactly the negative of the same pair seen from j (the scatter
  // output relies on the symmetry of the test)
  for (const Run& r : runs) {
    const int64_t kc = r.key + wrap_key;
#if MLIP_NL_AVX2
    // 4 candidates at a time (the arrays are padded; lanes past the run's end are masked)
    const __m256d vox = _mm256_set1_pd(r.off[0]), voy = _mm256_set1_pd(r.off[1]), voz = _mm256_set1_pd(r.off[2]);
    const __m256i vkc = _mm256_set1_epi64x(kc);
    for (int64_t m = r.begin; m < r.end; m += 4) {
      const __m256d dx = _mm256_add_pd(_mm256_sub_pd(_mm256_loadu_pd(xs + m), vxi), vox);
      const __m256d dy = _mm256_add_pd(_mm256_sub_pd(_mm256_loadu_pd(ys + m), vyi), voy);
      const __m256d dz = _mm256_add_pd(_mm256_sub_pd(_mm256_loadu_pd(zs + m), vzi), voz);
      const __m256d r2 = _mm256_fmadd_pd(dz, dz, _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dx, dx)));
      int mask = _mm256_movemask_pd(_mm256_cmp_pd(r2, vc2, _CMP_LT_OQ));
      if (r.end - m < 4) mask &= (1 << (r.end - m)) - 1;
      if (r.home && a >= m && a < m + 4) mask &= ~(1 << (a - m));
      __m256i key = _mm256_add_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + m)), vkc);
      key = _mm256_permutevar8x32_epi32(key, _mm256_load_si256(reinterpret_cast<const __m256i*>(kCompress.idx[mask])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + cnt), key);
      cnt += _mm_popcnt_u32(static_cast<unsigned>(mask));
    }
#else
    const int64_t self = r.home ? a : -1;
    for (int64_t m = r.begin; m < r.end; ++m) {
      const double dx = (xs[m] - xi) + r.off[0], dy = (ys[m] - yi) + r.off[1], dz = (zs[m] - zi) + r.off[2];
      out[cnt] = static_cast<uint64_t>(base[m] + kc);
      cnt += (dx * dx + dy * dy + dz * dz < cutoff2) & (m != self);
    }
#endif
  }
  return cnt;
}

inline SystemOut search_system(const double* pos, int64_t n, const double* cell, const bool* pbc, double cutoff,
                        int64_t offset, std::vector<Block>& blocks, Placement& place) {
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
  nl::finish_grid(g, fmin, fmax, cutoff, std::max<int64_t>(64, 2 * n), kCpuBinsPerCutoff);
  const int n_bins = g.n[0] * g.n[1] * g.n[2];
  const double cutoff2 = cutoff * cutoff;

  // wrap and bin; counting sort by bin (stable: ascending atom index inside a bin)
  std::vector<double> pw(3 * n);
  std::vector<int64_t> wrap(3 * n);
  std::vector<int> bin(n);
  for (int64_t a = 0; a < n; ++a) nl::wrap_atom(g, pos + 3 * a, &pw[3 * a], &wrap[3 * a], &bin[a]);
  std::vector<int64_t> start(n_bins + 1, 0);
  for (int64_t a = 0; a < n; ++a) ++start[bin[a] + 1];
  for (int b = 0; b < n_bins; ++b) start[b + 1] += start[b];
  std::vector<int64_t> order(n);
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t a = 0; a < n; ++a) order[fill[bin[a]]++] = a;
  }

  // the image shifts of the stencil and the wrap counts bound the total shifts: do they fit 8 bits?
  int64_t wmin[3], wmax[3];
  for (int d = 0; d < 3; ++d) wmin[d] = wmax[d] = wrap[d];
  for (int64_t a = 1; a < n; ++a)
    for (int d = 0; d < 3; ++d) {
      wmin[d] = std::min(wmin[d], wrap[3 * a + d]);
      wmax[d] = std::max(wmax[d], wrap[3 * a + d]);
    }
  bool packed = offset + n < (int64_t(1) << 39);
  bool one_image = true;  // no two images of one atom within the cutoff of another
  for (int d = 0; d < 3; ++d) {
    if (!g.periodic[d]) continue;
    const int64_t smin = nl::floor_div(-g.reach[d], g.n[d]);
    const int64_t smax = nl::floor_div(g.n[d] - 1 + g.reach[d], g.n[d]);
    packed = packed && smax + wmax[d] - wmin[d] <= 127 && smin + wmin[d] - wmax[d] >= -127;
    one_image = one_image && g.thickness[d] >= 2.0 * cutoff;
  }
  const SystemOut result{offset, n, !packed ? Mode::kWide : (one_image ? Mode::kScatter : Mode::kSortedKeys)};

  // bin-sorted structure-of-arrays positions, padded by 4 entries (the SIMD loop reads up to 3
  // past a run's end and masks them); per atom its packed wrap counts (receiver side) and key
  // base (sender side): key = base_j + packed shift of the run + packed wrap_i
  std::vector<double> xs(n + 4, 0.0), ys(n + 4, 0.0), zs(n + 4, 0.0);
  std::vector<int64_t> wrap_key(n), base(n + 4, 0), sorted_wrap(packed ? 0 : 3 * n);
  for (int64_t m = 0; m < n; ++m) {
    const int64_t a = order[m];
    xs[m] = pw[3 * a];
    ys[m] = pw[3 * a + 1];
    zs[m] = pw[3 * a + 2];
    wrap_key[m] = wrap[3 * a] * 65536 + wrap[3 * a + 1] * 256 + wrap[3 * a + 2];
    base[m] = (a + offset) * (int64_t(1) << 24) - wrap_key[m];
    if (!packed)
      for (int d = 0; d < 3; ++d) sorted_wrap[3 * m + d] = wrap[3 * a + d];
  }

  // the stencil: offsets whose bins are closer than the cutoff (the same for every bin)
  std::vector<StencilRow> rows;
  for (int k0 = -g.reach[0]; k0 <= g.reach[0]; ++k0)
    for (int k1 = -g.reach[1]; k1 <= g.reach[1]; ++k1) {
      const double q01 = nl::combine_gap2(g, nl::bin_pair_gap2(g, 0, k0), nl::bin_pair_gap2(g, 1, k1));
      if (q01 >= cutoff2) continue;
      int k2 = 0;
      while (k2 < g.reach[2] && nl::combine_gap2(g, q01, nl::bin_pair_gap2(g, 2, k2 + 1)) < cutoff2) ++k2;
      rows.push_back({k0, k1, k2});
    }

  // tasks of consecutive bins holding about kTaskAtoms receivers each
  const int64_t n_tasks = std::max<int64_t>(1, (n + kTaskAtoms / 2) / kTaskAtoms);
  std::vector<int> task_bin(n_tasks + 1, n_bins);
  task_bin[0] = 0;
  for (int64_t t = 1; t < n_tasks; ++t)
    task_bin[t] = static_cast<int>(std::lower_bound(start.begin(), start.end(), t * n / n_tasks) - start.begin());
  const size_t first_block = blocks.size();
  blocks.resize(first_block + n_tasks);

  at::parallel_for(0, n_tasks, 1, [&](int64_t tb, int64_t te) {
    std::vector<Run> runs;
    std::vector<Neighbor> mine;
    for (int64_t t = tb; t < te; ++t) {
      Block& blk = blocks[first_block + t];
      for (int b = task_bin[t]; b < task_bin[t + 1]; ++b) {
        if (start[b + 1] == start[b]) continue;
        int bc[3];
        nl::bin_coords(g, b, bc);
        const int64_t candidates = bin_runs(g, rows, bc[0], bc[1], bc[2], start.data(), runs);
        for (int64_t a = start[b]; a < start[b + 1]; ++a) {
          const int64_t i = order[a] + offset;
          if (packed) {
            uint64_t* out = blk.keys.room(candidates + 4);
            const int64_t cnt =
                search_receiver(runs, a, xs.data(), ys.data(), zs.data(), base.data(), wrap_key[a], cutoff2, out);
            if (result.mode == Mode::kSortedKeys) std::sort(out, out + cnt);
            place.src[i] = out;
            place.count[i] = cnt;
            blk.keys.commit(cnt);
            continue;
          }
          // full records: total shift = run shift + wrap_i - wrap_j
          mine.clear();
          for (const Run& r : runs)
            for (int64_t m = r.begin; m < r.end; ++m) {
              const double dx = (xs[m] - xs[a]) + r.off[0], dy = (ys[m] - ys[a]) + r.off[1],
                           dz = (zs[m] - zs[a]) + r.off[2];
              if (!(dx * dx + dy * dy + dz * dz < cutoff2) || (r.home && m == a)) continue;
              Neighbor nb;
              nb.j = order[m] + offset;
              for (int d = 0; d < 3; ++d)
                nb.s[d] = nl::total_shift(r.s[d], sorted_wrap[3 * a + d], sorted_wrap[3 * m + d]);
              mine.push_back(nb);
            }
          std::sort(mine.begin(), mine.end(),
                    [](const Neighbor& x, const Neighbor& y) { return nl::neighbor_less(x.j, x.s, y.j, y.s); });
          blk.wide.emplace_back(new Neighbor[mine.size() + 1]);
          std::copy(mine.begin(), mine.end(), blk.wide.back().get());
          place.src[i] = blk.wide.back().get();
          place.count[i] = static_cast<int64_t>(mine.size());
        }
      }
    }
  });
  return result;
}

}  // namespace nl_cpu
}  // namespace mlip
