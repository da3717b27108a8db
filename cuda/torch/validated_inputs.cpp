// The memory of checked integer inputs (see validated_inputs.h), and the testing ops that run the
// value checks of tp_conv alone (mlip::_check_tp_conv_values, mlip::_check_tp_conv_values_once).
#include "validated_inputs.h"

#include <c10/core/StorageImpl.h>
#include <c10/util/intrusive_ptr.h>

#include <mutex>
#include <vector>

namespace mlip {
namespace {

struct Validated {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  const void* data;
  int64_t lo, hi;  // byte range of the storage that was checked
  uint32_t version;
  at::ScalarType dtype;
  ValidKind kind;
  ValidLimits limits;
};

// Where a tensor's elements lie in its storage, and whether it can be tracked at all.
struct Footprint {
  bool trackable = false;
  c10::StorageImpl* storage = nullptr;
  const void* data = nullptr;
  int64_t lo = 0, hi = 0;
  uint32_t version = 0;
};

Footprint footprint(const at::Tensor& t) {
  Footprint f;
  if (!t.defined() || !t.has_storage() || t.is_inference() || t.numel() == 0) return f;
  const auto* impl = t.unsafeGetTensorImpl();
  if (!impl->version_counter().enabled()) return f;
  int64_t last = t.storage_offset();
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.stride(d) < 0) return f;
    last += (t.size(d) - 1) * t.stride(d);
  }
  const int64_t item = static_cast<int64_t>(t.element_size());
  f.trackable = true;
  f.storage = t.storage().unsafeGetStorageImpl();
  f.data = t.storage().data();
  f.lo = t.storage_offset() * item;
  f.hi = (last + 1) * item;
  f.version = impl->version_counter().current_version();
  return f;
}

bool covers(const ValidLimits& checked, const ValidLimits& wanted) {
  for (size_t k = 0; k < checked.size(); ++k)
    if (checked[k] > wanted[k]) return false;
  return true;
}

std::mutex g_mutex;
std::vector<Validated> g_validated;  // least recently used first

}  // namespace

bool known_valid(const at::Tensor& t, ValidKind kind, const ValidLimits& limits) {
  const Footprint f = footprint(t);
  if (!f.trackable) return false;
  std::lock_guard<std::mutex> lock(g_mutex);
  for (size_t k = g_validated.size(); k-- > 0;) {
    Validated& v = g_validated[k];
    if (v.kind != kind || v.dtype != t.scalar_type() || v.data != f.data || v.version != f.version ||
        f.lo < v.lo || f.hi > v.hi || !covers(v.limits, limits))
      continue;
    const auto alive = v.storage.lock();
    if (alive.get() != f.storage) continue;
    if (k + 1 != g_validated.size()) {  // most recently used last
      Validated keep = std::move(v);
      g_validated.erase(g_validated.begin() + static_cast<std::ptrdiff_t>(k));
      g_validated.push_back(std::move(keep));
    }
    return true;
  }
  return false;
}

void remember_valid(const at::Tensor& t, ValidKind kind, const ValidLimits& limits) {
  const Footprint f = footprint(t);
  if (!f.trackable) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  // drop entries whose storage is gone, then the oldest beyond the limit
  std::vector<Validated> kept;
  kept.reserve(g_validated.size() + 1);
  for (Validated& v : g_validated)
    if (!v.storage.expired()) kept.push_back(std::move(v));
  g_validated.swap(kept);
  while (g_validated.size() >= kMaxValidated) g_validated.erase(g_validated.begin());
  g_validated.push_back(
      Validated{t.storage().getWeakStorageImpl(), f.data, f.lo, f.hi, f.version, t.scalar_type(), kind, limits});
}

void forget_validated() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_validated.clear();
}

bool check_tp_values_once(const char* op, const at::Tensor& sender, const at::Tensor& receiver,
                          const at::Tensor& cg_index, const TpShapes& s, int64_t dim_out) {
  const ValidLimits nodes = node_limits(s.n_nodes);
  const ValidLimits table = table_limits(s.dim_in, s.dim_sh, dim_out, s.n_paths);
  const bool edges_ok = s.n_edges == 0 || (known_valid(sender, ValidKind::kNodeIndex, nodes) &&
                                           known_valid(receiver, ValidKind::kNodeIndex, nodes));
  const bool table_ok = s.n_entries == 0 || known_valid(cg_index, ValidKind::kCgTable, table);
  if (edges_ok && table_ok) return true;
  check_tp_values(op, sender, receiver, cg_index, s, dim_out);  // raises the exact error
  remember_valid(sender, ValidKind::kNodeIndex, nodes);
  remember_valid(receiver, ValidKind::kNodeIndex, nodes);
  remember_valid(cg_index, ValidKind::kCgTable, table);
  return false;
}

TpShapes check_tp_value_op_args(const char* op, const at::Tensor& sender, const at::Tensor& receiver,
                                const at::Tensor& cg_index, int64_t n_nodes, int64_t dim_in, int64_t dim_sh,
                                int64_t n_paths) {
  TORCH_CHECK(sender.dim() == 1 && receiver.dim() == 1 && sender.size(0) == receiver.size(0) &&
                  sender.scalar_type() == at::kLong && receiver.scalar_type() == at::kLong,
              op, ": sender and receiver must be int64 (n_edges,)");
  TORCH_CHECK(cg_index.dim() == 2 && cg_index.size(1) == 4 && cg_index.scalar_type() == at::kInt, op,
              ": cg_index must be int32 (n_entries, 4)");
  return TpShapes{n_nodes, 1, dim_in, sender.size(0), dim_sh, n_paths, cg_index.size(0)};
}

void check_tp_values_by_reduction_op(const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                                     int64_t n_nodes, int64_t dim_in, int64_t dim_sh, int64_t dim_out,
                                     int64_t n_paths) {
  const char* op = "mlip::_check_tp_conv_values";
  const TpShapes s = check_tp_value_op_args(op, sender, receiver, cg_index, n_nodes, dim_in, dim_sh, n_paths);
  check_tp_values_by_reduction(op, sender, receiver, cg_index, s, dim_out);
}

bool check_tp_values_once_op(const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                             int64_t n_nodes, int64_t dim_in, int64_t dim_sh, int64_t dim_out, int64_t n_paths) {
  const char* op = "mlip::_check_tp_conv_values_once";
  const TpShapes s = check_tp_value_op_args(op, sender, receiver, cg_index, n_nodes, dim_in, dim_sh, n_paths);
  return check_tp_values_once(op, sender, receiver, cg_index, s, dim_out);
}

}  // namespace mlip
