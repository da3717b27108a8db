// Integer inputs whose values were already checked, so that the device ops do not check them
// again on every call.
//
// Checking that edge indices lie in [0, n_nodes) and that a CG table is in range needs the
// values on the host: on a GPU that is a device->host copy, a synchronisation, in every
// tp_conv / tp_conv_backward call. The same edge list and tables, however, go through every
// layer and the backward passes of a model, and the tables never change. So a check that
// passed is remembered, and a later call skips it when the tensor is provably unchanged:
//
//   * same storage (held by a weak reference, so its address cannot be reused while
//     remembered), same data pointer, a view inside the range that was checked;
//   * same version counter value (every in-place torch operation on the tensor or any view
//     of it bumps it), and the tensor is not an inference tensor (those have no counter);
//   * the limits asked for are at least as loose as the ones checked (indices checked
//     against n_nodes = 100 are valid for 120).
//
// The CUDA neighbour list remembers its own output (its indices are in range by
// construction), so a model evaluated on it makes no host sync for validation at all. Writing
// through a detached alias that does not share the version counter (``tensor.data``, DLPack,
// raw pointers) is not seen; the CUDA kernels bounds-check node indices anyway, so such input
// can give wrong numbers but never an out-of-bounds access. The memory is a small
// process-wide list (most recently used first, at most kMaxValidated entries) that changes
// no result, only whether a check runs again.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <limits>

#include "../cpu/ops_internal.h"

namespace mlip {

enum class ValidKind : int { kNodeIndex = 0, kCgTable = 1 };
using ValidLimits = std::array<int64_t, 4>;
constexpr size_t kMaxValidated = 64;

// Node indices valid for n_nodes: every value in [0, n_nodes).
inline ValidLimits node_limits(int64_t n_nodes) {
  constexpr int64_t big = std::numeric_limits<int64_t>::max();
  return {n_nodes, big, big, big};
}
// A CG table valid for (dim_in, dim_sh, dim_out, n_paths), sorted by (path, k1).
inline ValidLimits table_limits(int64_t dim_in, int64_t dim_sh, int64_t dim_out, int64_t n_paths) {
  return {dim_in, dim_sh, dim_out, n_paths};
}

// True when `t` (all of it) was checked against limits at least as strict and is unchanged.
bool known_valid(const at::Tensor& t, ValidKind kind, const ValidLimits& limits);
// Remember that `t`'s values satisfy `limits` (a no-op for tensors that cannot be tracked).
void remember_valid(const at::Tensor& t, ValidKind kind, const ValidLimits& limits);
// Forget everything (tests).
void forget_validated();

// check_tp_values unless sender, receiver and cg_index are all known valid for these shapes;
// remembers them after a check that passed. Returns true when no check was needed.
bool check_tp_values_once(const char* op, const at::Tensor& sender, const at::Tensor& receiver,
                          const at::Tensor& cg_index, const TpShapes& s, int64_t dim_out);

// The op mlip::_check_tp_conv_values_once (tests): check_tp_values_once on tensors of any
// device, as the CUDA ops call it.
bool check_tp_values_once_op(const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                             int64_t n_nodes, int64_t dim_in, int64_t dim_sh, int64_t dim_out, int64_t n_paths);

}  // namespace mlip
